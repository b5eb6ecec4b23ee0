"""The batch writer against chDB: dedup on retry, retries, bad data, the journal."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import orjson
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from sinks.batch import Batch, Batcher
from sinks.errors import StoreAborted
from sinks.recovery import rebuild
from sinks.retry import Backoff
from sinks.rounds import Member, round_token
from sinks.rows import table_specs
from sinks.stats import SinkStats
from sinks.store import Store
from sinks.writer import BatchWriter
from tests.support.insert_faults import InsertFaults
from tests.support.samples import Fleet

M = "processed.metrics"
L = "processed.logs"


def _writer(store: Store) -> BatchWriter:
    return BatchWriter(store, stats=SinkStats(), backoff=Backoff(0.001, 0.01, jitter=0.0))


def _batches(fleet: Fleet, rows: int = 2000, per_msg: int = 50) -> list[Batch]:
    b = Batcher(table_specs(), batch_rows=rows, batch_interval_s=1.0, max_batch_rows=rows)
    for off, i in enumerate(range(0, len(fleet.metrics), per_msg)):
        b.add(M, 0, off, b"h", orjson.dumps(fleet.metrics[i:i + per_msg]), now=0.0)
    return b.drain()


def _counts(store: Store) -> tuple[int, int, int]:
    return (int(store.scalar("SELECT count() FROM metrics")),
            int(store.scalar("SELECT sum(samples) FROM metrics_1m")),
            int(store.scalar("SELECT sum(samples) FROM metrics_1h")))


class TestIdempotentRetry:
    def test_insert_that_reached_the_store_is_not_duplicated(self, store: Store,
                                                            fleet: Fleet) -> None:
        """An insert that landed but reported failure is retried with the same token:
        no duplicate rows in metrics, and none in either rollup."""
        faults = InsertFaults()
        store.faults = faults
        faults.fail(when="after", table="metrics_ingest", times=3)
        w = _writer(store)
        w.write_all(_batches(fleet))
        assert faults.injected == 3
        assert w.stats.insert_retries_total == 3
        n = len(fleet.metrics)
        assert _counts(store) == (n, n, n)

    def test_replaying_whole_batches_after_a_crash_adds_nothing(self, store: Store,
                                                               fleet: Fleet) -> None:
        """A restarted sink that re-sends the same batches (same tokens) adds no rows."""
        _writer(store).write_all(_batches(fleet))
        _writer(store).write_all(_batches(fleet))
        n = len(fleet.metrics)
        assert _counts(store) == (n, n, n)
        assert store.scalar("SELECT count() FROM (SELECT host, name, ts, labels, count() c "
                            "FROM metrics GROUP BY ALL HAVING c > 1)") == 0

    def test_differently_cut_batches_would_duplicate(self, store: Store, fleet: Fleet) -> None:
        """The reason for the journal: the same rows under other offset ranges are new
        blocks to ClickHouse. (If this ever fails, the journal is no longer needed.)"""
        _writer(store).write_all(_batches(fleet, rows=2000))
        _writer(store).write_all(_batches(fleet, rows=3000))
        assert _counts(store)[0] > len(fleet.metrics)

    def test_failure_before_the_store_is_retried(self, store: Store, fleet: Fleet) -> None:
        """An insert that never arrived is retried until it does, exactly once stored."""
        faults = InsertFaults()
        store.faults = faults
        faults.fail(when="before", table="metrics_ingest", times=2)
        w = _writer(store)
        w.write_all(_batches(fleet))
        assert w.healthy and w.stats.transient_errors_total == 2
        assert _counts(store)[0] == len(fleet.metrics)


class TestBadData:
    def test_bad_records_are_routed_by_the_store(self, store: Store, fleet: Fleet) -> None:
        """In a metrics batch, ClickHouse itself stores the good records and dead-letters
        the bad ones with a reason; the writer reports them for the dead-letter topic."""
        good = fleet.metrics[:30]
        bad = [dict(fleet.metrics[30], value="high"), {"host": "x"}, 5,
               dict(fleet.metrics[31], ts=-5),
               dict(fleet.metrics[32], schema="rackwatch.metrics/v1")]
        b = Batcher(table_specs(), batch_rows=1000, batch_interval_s=1.0)
        b.add(M, 3, 70, b"h", orjson.dumps(good[:10] + bad[:2]), now=0.0)
        b.add(M, 3, 71, b"h", b"{not json", now=0.0)
        b.add(M, 3, 72, b"h", orjson.dumps({"host": "not an array"}), now=0.0)
        b.add(M, 3, 73, b"h", orjson.dumps(good[10:] + bad[2:]), now=0.0)
        result = _writer(store).write(b.drain()[0])
        assert store.scalar("SELECT count() FROM metrics") == len(good)
        stored = store.rows("SELECT source_offset, reason_code FROM deadletter "
                            "ORDER BY source_offset, reason_code")
        assert stored == [(70, "missing_field"), (70, "missing_field"), (71, "bad_json"),
                          (72, "unknown_schema"), (73, "bad_type"), (73, "bad_value"),
                          (73, "unknown_schema")]
        assert sorted((d["source_offset"], d["reason_code"]) for d in result.dead_letters) \
            == stored
        assert all(d["source_topic"] == M and d["source_partition"] == 3
                   for d in result.dead_letters)
        assert "value" in next(d["reason"] for d in result.dead_letters
                               if d["source_offset"] == 70 and "value" in d["reason"])

    def test_rows_refused_by_the_store_are_isolated(self, store: Store, fleet: Fleet) -> None:
        """Rows the store refuses (a data error) are found by bisection and dead-lettered;
        the good rows of the same batch are all stored, once."""
        faults = InsertFaults()
        store.faults = faults
        faults.poison("logs", "POISON")
        logs = [dict(r, message=f"line {i}") for i, r in enumerate(fleet.logs)]
        logs[3] = dict(logs[3], message="POISON here")
        logs[9] = dict(logs[9], message="more POISON")
        b = Batcher(table_specs(), batch_rows=1000, batch_interval_s=1.0)
        for off, rec in enumerate(logs):
            b.add(L, 0, off, None, orjson.dumps([rec]), now=0.0)
        w = _writer(store)
        result = w.write(b.drain()[0])
        assert result.rows == len(logs) - 2
        assert store.scalar("SELECT count() FROM logs") == len(logs) - 2
        assert sorted(d["source_offset"] or 0 for d in result.dead_letters) == [3, 9]
        assert {d["reason_code"] for d in result.dead_letters} == {"rejected_by_store"}
        assert w.stats.insert_retries_total == 0  # data errors are never retried
        assert store.scalar("SELECT count() FROM deadletter WHERE origin = 'sink'") == 2

    def test_server_data_error_on_a_message_dead_letters_it(self, store: Store,
                                                           fleet: Fleet) -> None:
        """A data error code on a one-message metrics insert dead-letters that message."""
        faults = InsertFaults()
        store.faults = faults
        faults.fail(when="before", table="metrics_ingest",
                    error=DatabaseError("Code: 53. type mismatch", code=53))
        b = Batcher(table_specs(), batch_rows=1000, batch_interval_s=1.0)
        b.add(M, 0, 5, b"h", orjson.dumps(fleet.metrics[:3]), now=0.0)
        w = _writer(store)
        result = w.write(b.drain()[0])
        assert w.stats.insert_retries_total == 0 and w.stats.data_errors_total == 1
        assert [(d["source_offset"], d["reason_code"]) for d in result.dead_letters] == [
            (5, "rejected_by_store")]
        assert orjson.loads(result.dead_letters[0]["raw"]) == fleet.metrics[:3]

    def test_decoded_path_rejects_are_stored_as_dead_letters(self, store: Store,
                                                            fleet: Fleet) -> None:
        """Records rejected in Python (logs) land in the deadletter table with reasons."""
        b = Batcher(table_specs(), batch_rows=1000, batch_interval_s=1.0)
        b.add(L, 2, 10, b"h", b"{broken", now=0.0)
        b.add(L, 2, 11, b"h", orjson.dumps([dict(fleet.logs[0], ts="soon")]), now=0.0)
        result = _writer(store).write(b.drain()[0])
        assert result.next_offset == 12
        rows = store.rows("SELECT reason_code, source_topic, source_partition, source_offset "
                          "FROM deadletter ORDER BY source_offset")
        assert rows == [("bad_json", L, 2, 10), ("bad_type", L, 2, 11)]


class TestStopAndHealth:
    def test_stop_aborts_retries_without_acknowledging(self, store: Store,
                                                       fleet: Fleet) -> None:
        """During an outage the writer reports unhealthy and gives up only on stop."""
        faults = InsertFaults()
        store.faults = faults
        faults.down()
        w = _writer(store)
        timer = threading.Timer(0.3, w.stop.set)
        timer.start()
        with pytest.raises(StoreAborted):
            w.write_all(_batches(fleet))
        timer.cancel()
        assert not w.healthy and w.stats.transient_errors_total >= 2
        assert store.scalar("SELECT count() FROM metrics") == 0


class TestJournal:
    """The journal: every batch's range, under its round's token, before any insert."""

    def test_batches_are_journaled_before_insert(self, store: Store, fleet: Fleet) -> None:
        """Each written batch leaves its offset range and its round's token."""
        batches = _batches(fleet)
        _writer(store).write_all(batches)
        got = store.rows("SELECT first_offset, last_offset, rows, token FROM sink_batches "
                         "ORDER BY first_offset")
        token = round_token(batches)
        assert got == [(b.first_offset, b.last_offset, b.size, token) for b in batches]

    def test_journaled_returns_the_ranges_from_the_resume_point(self, store: Store,
                                                               fleet: Fleet) -> None:
        """Looking up the journal from an offset gives the ranges cut from there on."""
        batches = _batches(fleet)
        w = _writer(store)
        w.write_all(batches)
        start = batches[1].first_offset
        token = round_token(batches)
        assert w.journaled(M, 0, start) == [(b.first_offset, b.last_offset, token)
                                           for b in batches[1:]]
        assert w.journaled(M, 5, 0) == []

    def test_journal_survives_a_failed_data_insert(self, store: Store, fleet: Fleet) -> None:
        """The journal row is written before the data insert, so even when the insert
        never succeeds the restart knows how this batch was cut."""
        faults = InsertFaults()
        store.faults = faults
        faults.fail(when="before", table="metrics_ingest", times=10**6)
        w = _writer(store)
        batch = _batches(fleet)[0]
        timer = threading.Timer(0.2, w.stop.set)
        timer.start()
        with pytest.raises(StoreAborted):
            w.write(batch)
        timer.cancel()
        assert store.scalar("SELECT count() FROM metrics") == 0
        assert w.journaled(M, 0, batch.first_offset) == [(batch.first_offset,
                                                          batch.last_offset, batch.token)]

    def test_members_name_every_partition_of_a_round(self, store: Store, fleet: Fleet) -> None:
        """A round's token leads to all its batches, whichever partition asks."""
        batches = _spread(fleet, partitions=3)
        w = _writer(store)
        w.write_all(batches)
        token = w.journaled(M, 2, 0)[0][2]
        assert w.members(token) == sorted(Member(b.topic, b.partition, b.first_offset,
                                                 b.last_offset) for b in batches)


class TestRounds:
    """A round across partitions: one insert per table, repeated exactly after a crash."""

    def test_one_insert_per_table_for_the_whole_round(self, store: Store,
                                                      fleet: Fleet) -> None:
        """Batches of three partitions and two topics cost one insert per table."""
        batches = _spread(fleet, partitions=3)
        b = Batcher(table_specs(), batch_rows=1000, batch_interval_s=1.0)
        b.add(L, 1, 0, b"h", orjson.dumps(fleet.logs[:5]), now=0.0)
        counter = _Counting()
        store.faults = counter
        w = _writer(store)
        results = w.write_all(batches + b.drain())
        assert counter.tables == ["sink_batches", "logs", "metrics_ingest"]
        assert w.stats.rounds_total == 1 and w.stats.batches_total == len(batches) + 1
        assert [(r.topic, r.partition) for r in results] == sorted(
            (x.topic, x.partition) for x in [*batches, *[_logs_batch(fleet)]])
        assert _counts(store)[0] == len(fleet.metrics)
        assert store.scalar("SELECT count() FROM logs") == 5

    def test_a_round_written_again_from_its_messages_adds_nothing(self, store: Store,
                                                                  fleet: Fleet) -> None:
        """A round that landed without an answer, rebuilt from the same messages by
        another sink (one batch per journaled range) and written with the journaled
        token, adds no row to any table."""
        messages = _messages(fleet, partitions=3)
        first = Batcher(table_specs(), batch_rows=10**6, batch_interval_s=1.0)
        for p, off, value in messages:
            first.add(M, p, off, b"h", value, now=0.0)
        faults = InsertFaults()
        faults.fail(when="after", table="metrics_ingest", times=10**6)
        store.faults = faults
        w = _writer(store)
        timer = threading.Timer(0.3, w.stop.set)
        timer.start()
        with pytest.raises(StoreAborted):
            w.write_all(first.drain())
        timer.cancel()
        n = len(fleet.metrics)
        assert _counts(store) == (n, n, n)
        store.faults = None
        again = _writer(store)
        token = again.journaled(M, 1, 0)[0][2]
        members = again.members(token)
        by_member = {m: [_Record(M, m.partition, off, b"h", v) for p, off, v in messages
                         if p == m.partition] for m in members}
        fresh = Batcher(table_specs(), batch_rows=1, batch_interval_s=1.0, max_batch_rows=2**62)
        batches = rebuild(members, by_member, fresh, lambda r: False)
        assert sorted(b.token for b in batches) == sorted(m.token for m in members)
        again.write_all(batches, token=token, journal=False)
        assert _counts(store) == (n, n, n)
        assert store.scalar("SELECT count() FROM sink_batches") == len(members)


@dataclass
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


class _Counting:
    """An insert hook that only records which table each insert went to."""

    def __init__(self) -> None:
        self.tables: list[str] = []

    def check(self, when: str, table: str, columns: object = None) -> None:
        if when == "before":
            self.tables.append(table)


def _messages(fleet: Fleet, partitions: int, per_msg: int = 50
              ) -> list[tuple[int, int, bytes]]:
    out = []
    for k, i in enumerate(range(0, len(fleet.metrics), per_msg)):
        out.append((k % partitions, k // partitions,
                    orjson.dumps(fleet.metrics[i:i + per_msg])))
    return out


def _spread(fleet: Fleet, partitions: int) -> list[Batch]:
    b = Batcher(table_specs(), batch_rows=10**6, batch_interval_s=1.0)
    for p, off, value in _messages(fleet, partitions):
        b.add(M, p, off, b"h", value, now=0.0)
    return b.drain()


def _logs_batch(fleet: Fleet) -> Batch:
    b = Batcher(table_specs(), batch_rows=1000, batch_interval_s=1.0)
    b.add(L, 1, 0, b"h", orjson.dumps(fleet.logs[:5]), now=0.0)
    return b.drain()[0]
