"""Batches per (topic, partition), taken in rounds: sizing, names, rejects."""

from __future__ import annotations

import orjson
import pytest

from sinks.batch import Batcher, make_dead_letter
from sinks.columns import to_columns
from sinks.rows import INGEST_COLUMNS, Limits, estimate_records, table_specs
from tests.support.samples import build_fleet

FLEET = build_fleet(1_750_000_000_000)
M = "processed.metrics"  # raw path: messages go to ClickHouse as they are
L = "processed.logs"  # decoded path: records converted in Python
MSG = orjson.dumps(FLEET.metrics[:10])  # one message = 10 rows


def _batcher(rows: int = 25, interval: float = 1.0, max_rows: int | None = None) -> Batcher:
    return Batcher(table_specs(), batch_rows=rows, batch_interval_s=interval,
                   max_batch_rows=max_rows)


class TestRounds:
    """When a round is taken, and what it holds."""

    def test_due_once_the_sink_holds_enough(self) -> None:
        """A round is taken as soon as the sink holds batch_rows rows, across partitions,
        whatever their age."""
        b = _batcher(rows=25)
        b.add(M, 0, 0, b"k", MSG, now=0.0)
        b.add(M, 1, 0, b"k", MSG, now=0.0)
        assert b.due(now=0.0) == []
        b.add(M, 2, 0, b"k", MSG, now=0.0)
        due = b.due(now=0.0)
        assert sorted((x.partition, x.size) for x in due) == [(0, 10), (1, 10), (2, 10)]

    def test_grows_while_not_taken(self) -> None:
        """Between two takes a batch keeps growing past batch_rows (the writer was busy),
        so a loaded sink writes fewer, bigger inserts."""
        b = _batcher(rows=25, max_rows=1000)
        for off in range(20):
            b.add(M, 0, off, b"k", MSG, now=0.0)
        due = b.due(now=0.0)
        assert len(due) == 1 and due[0].size == 200

    def test_hard_cap_seals_on_add(self) -> None:
        """max_batch_rows bounds one partition's batch even if nobody takes it; the round
        holds all of them."""
        b = _batcher(rows=10, max_rows=30)
        for off in range(7):
            b.add(M, 0, off, b"k", MSG, now=0.0)
        assert [(x.first_offset, x.last_offset) for x in b.due(now=0.0)] == [(0, 2), (3, 5),
                                                                            (6, 6)]

    def test_due_when_the_oldest_is_old_enough(self) -> None:
        """A small round becomes due batch_interval_s after its oldest batch opened, and
        takes the younger batches of other partitions with it."""
        b = _batcher(rows=1000, interval=1.0)
        b.add(M, 0, 5, b"k", MSG, now=10.0)
        b.add(M, 1, 8, b"k", MSG, now=10.8)
        assert b.due(now=10.9) == []
        due = b.due(now=11.0)
        assert sorted(x.token for x in due) == [f"{M}:0:5-5", f"{M}:1:8-8"]
        assert b.due(now=20.0) == []

    def test_partitions_batch_separately(self) -> None:
        """Each (topic, partition) has its own batch and name."""
        b = _batcher(rows=10)
        b.add(M, 0, 7, b"k", MSG, now=0.0)
        b.add(M, 3, 7, b"k", MSG, now=0.0)
        assert sorted(x.token for x in b.due(0.0)) == [f"{M}:0:7-7", f"{M}:3:7-7"]

    def test_next_offset_is_after_the_last(self) -> None:
        """What to commit after a batch is its last offset + 1."""
        b = _batcher(rows=10)
        b.add(M, 0, 41, b"k", MSG, now=0.0)
        assert b.due(0.0)[0].next_offset == 42

    def test_buffered_rows_counts_open_and_sealed(self) -> None:
        """Back-pressure sees every buffered row until the round is taken."""
        b = _batcher(rows=100, max_rows=20)
        for off in range(3):
            b.add(M, 0, off, b"k", MSG, now=0.0)  # 20 sealed by the cap, 10 open
        assert b.buffered_rows == 30
        assert b.due(0.0) == []
        b.add(M, 1, 0, b"k", MSG, now=5.0)
        assert b.buffered_rows == 40
        assert len(b.due(5.0)) == 3
        assert b.buffered_rows == 0


class TestEstimate:
    @pytest.mark.parametrize("n", [0, 1, 2, 50])
    def test_counts_records_of_an_array(self, n: int) -> None:
        """The record estimate of a compact JSON array is exact for ordinary records."""
        assert estimate_records(orjson.dumps(FLEET.metrics[:n])) == n


class TestRawPath:
    def test_messages_become_one_row_each(self) -> None:
        """Metric messages are kept whole and become message rows of the ingest table."""
        b = _batcher()
        b.add(M, 4, 9, b"h1", MSG, now=0.0)
        b.add(M, 4, 10, None, MSG, now=0.0)
        cols = to_columns(b.drain()[0], Limits())[0]
        assert cols.table == "metrics_ingest" and cols.names == INGEST_COLUMNS
        assert cols.data[:4] == [[M, M], [4, 4], [9, 10], ["h1", ""]]
        assert orjson.loads(cols.data[4][0]) == FLEET.metrics[:10]

    @pytest.mark.parametrize(("value", "code"), [
        (None, "empty"), (b"[" + b" " * 5000 + b"]", "too_large"), (b"\xff[]", "bad_json")])
    def test_what_clickhouse_cannot_judge_is_rejected_here(self, value: bytes | None,
                                                           code: str) -> None:
        """Tombstones, oversized and non-UTF-8 messages are rejected before the insert."""
        b = Batcher(table_specs(), batch_rows=10, batch_interval_s=1.0, max_message_bytes=1000)
        b.add(M, 0, 3, b"k", value, now=0.0)
        batch = b.drain()[0]
        assert batch.records == [] and [r.error.code for r in batch.rejected] == [code]
        assert batch.next_offset == 4


class TestDecodedPath:
    def test_bad_message_and_bad_record_are_set_aside(self) -> None:
        """Undecodable messages and bad records do not become rows but are remembered
        with their offset and reason; the batch still covers their offsets."""
        b = _batcher(rows=1000)
        good = FLEET.logs[0]
        bad_rec = dict(good, ts="soon")
        b.add(L, 0, 0, b"k", b"{oops", now=0.0)
        b.add(L, 0, 1, b"k", orjson.dumps([good, bad_rec, 5]), now=0.0)
        batch = b.drain()[0]
        cols = to_columns(batch, Limits())[0]
        assert len(cols) == 1 and cols.offsets == [1] and cols.table == "logs"
        assert [(r.offset, r.error.code) for r in batch.rejected] == [(0, "bad_json")]
        assert [(bi, r.offset, r.error.code) for bi, r in cols.rejected] == [
            (0, 1, "bad_type"), (0, 1, "bad_type")]
        assert batch.token == f"{L}:0:0-1"

    def test_missing_field_is_named(self) -> None:
        """A record without a required field is rejected as missing_field."""
        b = _batcher()
        rec = dict(FLEET.logs[0])
        del rec["message"]
        b.add(L, 0, 0, None, orjson.dumps([rec]), now=0.0)
        assert to_columns(b.drain()[0], Limits())[0].rejected[0][1].error.code == "missing_field"

    def test_skip_advances_offsets_only(self) -> None:
        """A skipped message (already stored) extends the batch without rows."""
        b = _batcher()
        b.add("deadletter", 0, 0, None, b"{}", now=0.0, skip=True)
        batch = b.drain()[0]
        assert batch.records == [] and batch.rejected == [] and batch.next_offset == 1


class TestDiscard:
    def test_discard_forgets_revoked_partitions(self) -> None:
        """Revoked partitions' rows are dropped (their new owner reads them again)."""
        b = _batcher(rows=10, max_rows=10)
        b.add(M, 0, 0, b"k", MSG, now=0.0)
        b.add(M, 1, 0, b"k", MSG, now=0.0)
        b.add(M, 1, 1, b"k", MSG, now=0.0)
        assert b.discard([(M, 1)]) == 20
        assert [x.partition for x in b.drain()] == [0]
        assert b.buffered_rows == 0


class TestDeadLetterRecord:
    @pytest.mark.parametrize(("raw", "encoding"), [(b"\xff\xfe", "base64"), (b"ok", "utf-8")])
    def test_raw_bytes_encoding(self, raw: bytes, encoding: str) -> None:
        """Non-UTF-8 raw bytes are kept as base64 and say so."""
        d = make_dead_letter(reason_code="bad_json", reason="r", topic="t", partition=0,
                             offset=1, key=b"h1", raw=raw, rejected_at="2024-01-01T00:00:00Z")
        assert d["raw_encoding"] == encoding and d["key"] == "h1"
        assert d["schema"] == "rackwatch.deadletter/v1"
