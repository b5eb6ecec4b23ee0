"""Metric blocks (the worker's columnar form) are stored exactly as the rows they stand for."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from schemas.events import MetricRow
from sinks.batch import Batcher
from sinks.columns import to_columns
from sinks.rows import Limits, estimate_records, table_specs
from sinks.store import Store
from sinks.writer import BatchWriter
from streams.core.block import MetricBlock, block_rows
from tests.support.samples import Fleet

M = "processed.metrics"
NOW = int(time.time() * 1000) - 60_000  # inside the retention period
TOPO = ("rack", "cluster")
SNAPSHOT = ("SELECT host, ts, name, labels, rack, value, raw, ewma, wma, outlier, seq "
            "FROM metrics ORDER BY host, ts, name, toString(labels)")


def blocks_of(rows: list[MetricRow]) -> list[MetricBlock]:
    """The fleet's rows grouped as the worker would send them: one block per host batch,
    topology labels once, each row's other labels as its series labels."""
    out: dict[tuple[str, int, int], MetricBlock] = {}
    for r in rows:
        topo = {k: v for k, v in r["labels"].items() if k in TOPO}
        b = out.get((r["host"], r["ts"], r["seq"]))
        if b is None:
            b = out[(r["host"], r["ts"], r["seq"])] = MetricBlock(r["host"], r["ts"], r["seq"],
                                                                  topo)
        b.name.append(r["name"])
        b.series_labels.append({k: v for k, v in r["labels"].items() if k not in TOPO})
        b.value.append(r["value"])
        b.raw.append(r["raw"])
        b.ewma.append(r["ewma"])
        b.wma.append(r["wma"])
        b.outlier.append(r["outlier"])
    return list(out.values())


def write(store: Store, messages: list[bytes]) -> None:
    b = Batcher(table_specs(), batch_rows=2000, batch_interval_s=1.0)
    for off, value in enumerate(messages):
        b.add(M, 0, off, b"h", value, 0.0)
    BatchWriter(store).write_all(b.drain())


def snapshot(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.rows(SNAPSHOT)]


def counts(store: Store) -> tuple[int, int, int]:
    return (int(store.scalar("SELECT count() FROM metrics")),
            int(store.scalar("SELECT sum(samples) FROM metrics_1m")),
            int(store.scalar("SELECT count() FROM deadletter")))


class TestBlockRows:
    def test_rows_are_the_records_the_block_stands_for(self, fleet: Fleet) -> None:
        rows = list(fleet.metrics)
        blocks = blocks_of(rows)
        assert sum(len(b) for b in blocks) == len(rows)
        back = [r for b in blocks for r in b.rows()]
        key = lambda r: (r["host"], r["ts"], r["seq"], r["name"], sorted(r["labels"].items()))  # noqa: E731
        assert sorted(back, key=key) == sorted(rows, key=key)

    def test_wire_form_round_trips(self, fleet: Fleet) -> None:
        for b in blocks_of(list(fleet.metrics))[:50]:
            assert block_rows(orjson.loads(b.to_json())) == b.rows()

    def test_columns_of_different_lengths_are_refused(self) -> None:
        doc = orjson.loads(MetricBlock("h", 1, 1, {"rack": "r"}, ["a"], [{}], [1.0], [1.0],
                                       [1.0], [1.0], [False]).to_json())
        doc["wma"] = []
        with pytest.raises(ValueError, match="differ in length"):
            block_rows(doc)

    def test_the_sink_reads_the_row_count_without_parsing(self) -> None:
        b = MetricBlock("h", 1, 1, {}, ["a", "b"], [{}, {}], [1.0, 2.0], [1.0, 2.0],
                        [1.0, 2.0], [1.0, 2.0], [False, False])
        assert estimate_records(b.to_json()) == 2
        assert estimate_records(b'{"schema":"other"}') == 1


class TestStoredAsRows:
    def test_blocks_and_row_arrays_store_the_same_rows(self, store: Store,
                                                        fleet: Fleet) -> None:
        """The same rows sent as arrays of metric_row/v1 and as blocks give identical
        tables, rollups included, and no dead letters."""
        rows = list(fleet.metrics)
        write(store, [orjson.dumps(rows[i:i + 50]) for i in range(0, len(rows), 50)])
        want, want_counts = snapshot(store), counts(store)
        assert want_counts == (len(rows), len(rows), 0)
        store.command("TRUNCATE TABLE metrics")
        store.command("TRUNCATE TABLE metrics_1m")
        write(store, [b.to_json() for b in blocks_of(rows)])
        assert snapshot(store) == want
        assert counts(store) == want_counts

    def test_nan_smoothing_is_stored_as_nan_and_bad_rows_are_dead_lettered(
            self, store: Store) -> None:
        """Row by row, a block is judged as its rows would be: a null (NaN) ewma is kept
        as NaN, a row whose value is null or whose ts is out of range is dead-lettered
        with the reason, and the other rows of the block are stored."""
        good = MetricBlock("h1", NOW, 7, {"rack": "r1"}, ["cpu.usage", "x", "y"],
                           [{}, {"gpu": "0"}, {}], [0.5, float("nan"), 0.25], [0.5, 1.0, 0.25],
                           [float("nan"), 1.0, 0.25], [0.5, 1.0, 0.25], [False, False, True])
        late = MetricBlock("h2", 10**14, 1, {"rack": "r1"}, ["cpu.usage"], [{}], [0.5], [0.5],
                           [0.5], [0.5], [False])
        write(store, [good.to_json(), late.to_json()])
        stored = store.rows("SELECT host, name, labels, isNaN(ewma), outlier, seq FROM metrics "
                            "ORDER BY name")
        assert [tuple(r) for r in stored] == [
            ("h1", "cpu.usage", {"rack": "r1"}, True, False, 7),
            ("h1", "y", {"rack": "r1"}, False, True, 7)]
        dead = sorted(tuple(r) for r in store.rows(
            "SELECT reason_code, reason, source_offset, origin FROM deadletter"))
        assert dead == [
            ("bad_value", "ts=100000000000000 is not a storable epoch-millisecond time", 1,
             "sink"),
            ("missing_field", "missing or not convertible: value", 0, "sink")]
        raw = store.scalar("SELECT raw FROM deadletter WHERE reason_code = 'missing_field'")
        assert orjson.loads(raw)["name"] == "x"
        assert orjson.loads(raw)["labels"] == {"rack": "r1", "gpu": "0"}

    @pytest.mark.parametrize(("change", "code", "reason"), [
        ({"schema": "rackwatch.other/v9"}, "unknown_schema",
         "object with schema rackwatch.other/v9 where rackwatch.metric_block/v1 was expected"),
        ({"host": None}, "missing_field", "metric block without host"),
        ({"ts": "soon", "seq": None}, "missing_field", "metric block without ts, seq"),
        ({"wma": [1.0]}, "bad_value", "metric block columns are not all n=2 long"),
        ({"n": 3}, "bad_value", "metric block columns are not all n=3 long"),
    ])
    def test_a_block_that_cannot_be_expanded_is_dead_lettered_once(
            self, store: Store, change: dict[str, Any], code: str, reason: str) -> None:
        doc = orjson.loads(MetricBlock("h1", NOW, 1, {"rack": "r1"}, ["a", "b"],
                                       [{}, {}], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0],
                                       [1.0, 2.0], [False, False]).to_json())
        doc.update(change)
        good = MetricBlock("h2", NOW, 1, {"rack": "r1"}, ["a"], [{}], [1.0],
                           [1.0], [1.0], [1.0], [False])
        write(store, [orjson.dumps(doc), good.to_json()])
        assert [tuple(r) for r in store.rows("SELECT host FROM metrics")] == [("h2",)]
        dead = [tuple(r) for r in store.rows(
            "SELECT reason_code, reason, source_offset, raw FROM deadletter")]
        assert dead == [(code, reason, 0, orjson.dumps(doc).decode())]

    def test_other_json_objects_and_scalars_are_dead_lettered(self, store: Store) -> None:
        write(store, [b'{"hello": 1}', b"42", b"[1"])
        dead = sorted(tuple(r) for r in store.rows(
            "SELECT source_offset, reason_code FROM deadletter"))
        assert dead == [(0, "unknown_schema"), (1, "bad_type"), (2, "bad_json")]


class TestMixedBatches:
    def test_arrays_and_blocks_in_one_batch_each_go_in_once(self, store: Store,
                                                           fleet: Fleet) -> None:
        """A batch holding both forms is inserted into both ingest tables, each under a
        token of its own: all rows stored once, and writing the same batch again (a
        retry after a crash) adds nothing."""
        rows = list(fleet.metrics)
        half = len(rows) // 2
        messages = [orjson.dumps(rows[i:min(i + 50, half)]) for i in range(0, half, 50)]
        messages += [b.to_json() for b in blocks_of(rows[half:])]
        b = Batcher(table_specs(), batch_rows=10**6, batch_interval_s=1.0)
        for off, value in enumerate(messages):
            b.add(M, 0, off, b"h", value, 0.0)
        (batch,) = b.drain()
        groups = to_columns(batch, Limits())
        assert [g.table for g in groups] == ["metrics_ingest", "metric_blocks_ingest"]
        writer = BatchWriter(store)
        writer.write_all([batch])
        assert counts(store) == (len(rows), len(rows), 0)
        writer.write_all([batch])
        assert counts(store) == (len(rows), len(rows), 0)
