"""What `rackwatch train --from-clickhouse` reads of the store: history as events.

The fault model learns from event streams (streams.incidents.dataset); here the store's
metrics and fault-classified logs become such a stream, and its incidents the truth.
The SQL lives here, with the rest of the ClickHouse code.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

__all__ = ["RowSource", "TruthRow", "store_events", "store_truth"]

# (kind, hosts, start_ms, end_ms): the fields of streams.incidents.dataset.Truth, in order
TruthRow = tuple[str, tuple[str, ...], int, int]


class RowSource(Protocol):
    """What training needs of sinks.store.Store: rows of a query, and the database."""

    database: str

    def rows(self, sql: str, params: dict[str, Any] | None = None
             ) -> Sequence[Sequence[Any]]: ...


_SERIES_LABELS = ("gpu", "interface", "device", "mount", "cpu")


def _ms(x: Any) -> int:
    """A DateTime64 as the driver returns it (datetime) or epoch ms -> epoch ms."""
    if isinstance(x, int | float):
        return int(x)
    return round(float(x.timestamp()) * 1000)


def store_truth(store: RowSource, since_ms: int, until_ms: int) -> list[TruthRow]:
    """Host incidents (and the hosts of rack incidents) in a time range, as fault windows."""
    db = store.database
    rows = store.rows(
        f"SELECT incident_id, any(scope), argMax(hosts, updated_at), "
        f"toUnixTimestamp64Milli(min(opened_at)), "
        f"toUnixTimestamp64Milli(max(updated_at)) "
        f"FROM {db}.incidents "
        f"WHERE opened_at >= fromUnixTimestamp64Milli(toInt64({int(since_ms)})) "
        f"AND opened_at < fromUnixTimestamp64Milli(toInt64({int(until_ms)})) "
        f"AND scope IN ('host', 'rack') GROUP BY incident_id ORDER BY 4, 1")
    return [(str(scope), tuple(hosts), _ms(opened), max(_ms(last), _ms(opened) + 1))
            for _id, scope, hosts, opened, last in rows]


def store_events(store: RowSource, since_ms: int, until_ms: int, *,
                 names: Iterable[str], slice_ms: int = 3_600_000) -> Iterator[dict[str, Any]]:
    """Metric batches and fault records from the store, in event-time order, an hour at
    a time so that memory stays flat however long the range."""
    db = store.database
    name_list = ", ".join("'" + n.replace("'", "") + "'" for n in sorted(set(names)))
    t = since_ms
    while t < until_ms:
        end = min(t + slice_ms, until_ms)
        span = (f"ts >= fromUnixTimestamp64Milli(toInt64({int(t)})) "
                f"AND ts < fromUnixTimestamp64Milli(toInt64({int(end)}))")
        metric_rows = store.rows(
            f"SELECT host, toUnixTimestamp64Milli(ts), name, labels, value FROM {db}.metrics "
            f"WHERE {span} AND name IN ({name_list}) ORDER BY ts, host")
        batches: list[tuple[int, str, dict[str, Any]]] = []
        current: dict[str, Any] | None = None
        for host, ts, name, labels, value in metric_rows:
            ts = _ms(ts)
            if current is None or current["host"] != host or current["ts"] != ts:
                current = {"schema": "rackwatch.metrics/v1", "host": host, "ts": ts,
                           "samples": []}
                batches.append((ts, host, current))
            series = {k: v for k, v in dict(labels).items() if k in _SERIES_LABELS}
            current["samples"].append({"name": name, "value": value, "labels": series})
        log_rows = store.rows(
            f"SELECT host, toUnixTimestamp64Milli(ts), fault_class FROM {db}.logs "
            f"WHERE {span} AND fault_class != '' ORDER BY ts, host")
        faults = [(_ms(ts), host, {"schema": "rackwatch.log_record/v1", "host": host,
                                   "ts": _ms(ts), "fault_class": cls})
                  for host, ts, cls in log_rows]
        for _ts, _host, ev in heapq.merge(batches, faults, key=lambda r: (r[0], r[1])):
            yield ev
        t = end
