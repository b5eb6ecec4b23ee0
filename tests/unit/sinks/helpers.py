"""Helpers shared by the store tests: fill a store with the sample fleet."""

from __future__ import annotations

from typing import Any

import orjson

from sinks.batch import Batcher
from sinks.rows import table_specs
from sinks.store import Store
from sinks.writer import BatchWriter
from tests.support.samples import Fleet

__all__ = ["fill"]


def fill(store: Store, fleet: Fleet) -> dict[str, int]:
    """Write the whole fleet through the batcher and writer; return rows per table."""
    b = Batcher(table_specs(), batch_rows=5000, batch_interval_s=1.0)

    def in_messages(topic: str, recs: list[Any], per: int) -> None:
        for off, i in enumerate(range(0, len(recs), per)):
            b.add(topic, 0, off, None, orjson.dumps(recs[i:i + per]), 0.0)

    in_messages("processed.metrics", list(fleet.metrics), 50)
    in_messages("processed.logs", list(fleet.logs), 10)
    in_messages("alerts", list(fleet.alerts), 1)
    in_messages("incidents", list(fleet.incidents), 1)
    in_messages("deadletter", list(fleet.deadletters), 1)
    BatchWriter(store).write_all(b.drain())
    return {"metrics": len(fleet.metrics), "logs": len(fleet.logs),
            "alerts": len(fleet.alerts), "incidents": len(fleet.incidents),
            "deadletter": len(fleet.deadletters)}
