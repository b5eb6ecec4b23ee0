"""A store filled the way the pipeline fills it: a simulated fleet with every kind of
fault, run through the processing core (replay) and written by the sink's writer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from common.config import ClickHouseConfig, Config
from producers.simulator.spec import SCENARIOS
from rackwatch.cli import main
from sinks.batch import Batcher
from sinks.rows import table_specs
from sinks.store import Store, open_store
from sinks.writer import BatchWriter

# every kind of fault (the simulator's "all" scenario), and one still firing at the end
FAULTS = SCENARIOS["all"] + ", cpu_saturation(host=r00-gpu02)@18m:20m"
MINUTES = 30


@pytest.fixture(scope="package")
def window() -> tuple[int, int]:
    """(first event, now) in epoch ms: the data ends about now, as a live fleet's does."""
    now = int(time.time() * 1000)
    return now - (MINUTES + 1) * 60_000, now


def _fill(store: Store, events: Path, out: Path) -> None:
    assert main(["replay", str(events), "--emit", "metrics,logs,alerts,incidents,deadletter",
                 "-o", str(out)]) == 0
    by_schema: dict[str, list[bytes]] = {}
    for line in out.read_bytes().splitlines():
        if line.strip():
            by_schema.setdefault(orjson.loads(line)["schema"], []).append(line)
    b = Batcher(table_specs(), batch_rows=20_000, batch_interval_s=1.0)
    offsets: dict[str, int] = {}

    def put(topic: str, value: bytes) -> None:
        off = offsets.get(topic, 0)
        offsets[topic] = off + 1
        b.add(topic, 0, off, b"k", value, 0.0)

    for schema, topic, per in (("rackwatch.metric_row/v1", "processed.metrics", 200),
                               ("rackwatch.log_record/v1", "processed.logs", 20)):
        rows = by_schema.get(schema, [])
        for i in range(0, len(rows), per):
            put(topic, b"[" + b",".join(rows[i:i + per]) + b"]")
    for schema, topic in (("rackwatch.alert/v1", "alerts"), ("rackwatch.incident/v1", "incidents"),
                          ("rackwatch.deadletter/v1", "deadletter")):
        for line in by_schema.get(schema, []):
            put(topic, line)
    # records the store's views refuse, as a worker of another version might send them
    put("processed.metrics", orjson.dumps([{"host": "x"}, {"schema": "other/v9"}]))
    BatchWriter(store).write_all(b.drain())


@pytest.fixture(scope="package")
def store(tmp_path_factory: pytest.TempPathFactory, window: tuple[int, int]) -> Iterator[Store]:
    """The filled store, open for the package."""
    d = tmp_path_factory.mktemp("grafana")
    events = d / "events.jsonl"
    assert main(["simulate", "--hosts", "16", "--racks", "2", "--interval", "15",
                 "--duration", str(MINUTES * 60), "--seed", "11", "--faults", FAULTS,
                 "--start-ms", str(window[0]), "--output", str(events)]) == 0
    cfg = Config(home=d, clickhouse=ClickHouseConfig(dsn=f"chdb://{d / 'store'}"))
    s = open_store(cfg)
    try:
        _fill(s, events, d / "out.jsonl")
        yield s
    finally:
        s.close()
