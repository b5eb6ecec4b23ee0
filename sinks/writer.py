"""Write rounds of batches to the store; retry what can succeed, set aside what cannot.

Runs in the sink's writer thread (the client is synchronous), which also turns the
batches into columns (sinks.columns). The order of a round is fixed:
1. journal the offset ranges of its batches in `sink_batches`, in one insert (so a
   restart cuts them the same way);
2. insert each batch with its token (a repeat is dropped by ClickHouse): metrics as
   message rows, metric blocks into `metric_blocks_ingest` and arrays of rows into
   `metrics_ingest` (each with a token of its own), whose views parse, store or
   dead-letter each record; the other tables as rows converted in Python;
3. insert what Python rejected into `deadletter`, with a token of its own;
4. read back the dead letters of the round's metrics batches (one query), to publish.
Only when a batch got through may the caller commit its offsets. Transient errors are
retried with backoff until they pass or the sink stops; data errors split the batch in
halves until the offending rows are isolated and dead-lettered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from schemas.events import DeadLetter
from sinks.batch import Batch, make_dead_letter
from sinks.columns import Columns, to_columns
from sinks.errors import ErrorKind, StoreAborted, classify
from sinks.retry import Backoff
from sinks.rows import DEADLETTER_COLUMNS, Limits, deadletter_row
from sinks.stats import SinkStats
from sinks.store import Store

__all__ = ["BatchWriter", "WriteResult", "utc_now_rfc3339"]

log = logging.getLogger(__name__)

T = TypeVar("T")

JOURNAL_COLUMNS = ("topic", "partition", "first_offset", "last_offset", "rows", "token",
                   "written_at")


def utc_now_rfc3339(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")


@dataclass
class WriteResult:
    """A stored batch: commit `next_offset`, then publish `dead_letters`."""

    topic: str
    partition: int
    next_offset: int
    rows: int
    dead_letters: list[DeadLetter] = field(default_factory=list)


class BatchWriter:
    """Stores batches; `healthy` is False while the store keeps failing (back-pressure)."""

    def __init__(self, store: Store, *, stats: SinkStats | None = None,
                 backoff: Backoff | None = None, stop: threading.Event | None = None,
                 limits: Limits | None = None, wall_clock: Callable[[], float] = time.time,
                 journal: bool = True) -> None:
        self.store = store
        self.stats = stats or SinkStats()
        self.backoff = backoff or Backoff()
        self.stop = stop or threading.Event()
        self.limits = limits or Limits()
        self.wall_clock = wall_clock
        self.journal = journal
        self.healthy = True
        self._dl_limits = Limits(max_field_bytes=2**31)

    # --- retry ------------------------------------------------------------------------

    def _retrying(self, what: str, fn: Callable[[], T]) -> T:
        """Run `fn` until it succeeds; data errors propagate, others are retried."""
        while True:
            t0 = time.thread_time()
            try:
                result = fn()
            except Exception as e:
                self.stats.store_cpu_s += time.thread_time() - t0
                if classify(e) is ErrorKind.DATA:
                    raise
                self.healthy = False
                self.stats.transient_errors_total += 1
                self.stats.last_error = f"{what}: {e}"[:500]
                delay = self.backoff.next()
                log.warning("%s failed (%s); retrying in %.2fs", what, e, delay)
                if self.stop.wait(delay):
                    raise StoreAborted(f"{what}: stopped while retrying ({e})") from e
                self.stats.insert_retries_total += 1
                continue
            self.stats.store_cpu_s += time.thread_time() - t0
            if not self.healthy:
                log.info("%s succeeded after retries; store healthy again", what)
            self.healthy = True
            self.backoff.reset()
            self.stats.inserts_total += 1
            return result

    # --- writing ----------------------------------------------------------------------

    def write(self, batch: Batch) -> WriteResult:
        """Store one batch (see the module docstring for the order)."""
        return self.write_all([batch])[0]

    def write_all(self, batches: list[Batch]) -> list[WriteResult]:
        """Journal the batches (one insert), write them in order, then fetch what the
        store dead-lettered by itself (one query). Stops at the first batch that cannot
        be written (raises), so results only ever cover stored batches."""
        if self.stop.is_set():
            raise StoreAborted("sink stopping")
        self._journal(batches)
        results = [self._write(b) for b in batches]
        routed = [b for b in batches if b.spec.ingest is not None and b.records]
        if routed:
            # the store routed bad records itself; fetch them to publish on the topic
            stored = self._retrying("read stored dead letters",
                                    lambda: self._stored_dead_letters(routed))
            for batch, result in zip(batches, results, strict=True):
                if batch.spec.ingest is None:
                    continue
                # all of this batch's dead letters, whoever wrote them (views or _write)
                mine = stored.get((batch.topic, batch.partition, batch.first_offset), [])
                result.rows = max(0, result.rows - len(mine))
                result.dead_letters = mine
        self.stats.rows_inserted_total += sum(r.rows for r in results)
        self.stats.dead_letters_total += sum(len(r.dead_letters) for r in results)
        return results

    def _write(self, batch: Batch) -> WriteResult:
        if self.stop.is_set():
            raise StoreAborted(f"{batch.token}: sink stopping")
        rejected_at = utc_now_rfc3339(self.wall_clock())
        groups = to_columns(batch, self.limits)
        dead: list[DeadLetter] = [
            make_dead_letter(reason_code=r.error.code, reason=r.error.reason, topic=batch.topic,
                             partition=batch.partition, offset=r.offset, key=r.key, raw=r.raw,
                             rejected_at=rejected_at)
            for cols in groups for r in cols.rejected]
        written = 0
        for i, cols in enumerate(groups):
            # a token per ingest table: the first keeps the batch's own
            token = batch.token if i == 0 else f"{batch.token}@{cols.table}"
            written += self._insert_range(batch, cols, 0, len(cols), token, dead, rejected_at)
        messages = sum(len(cols) for cols in groups)
        if batch.spec.ingest is not None and messages:
            # message rows went in; the records they hold is what counts (an estimate)
            written = round(batch.size * written / messages)
        if dead:
            rows = [deadletter_row(d, self._dl_limits, origin="sink") for d in dead]
            self._retrying(f"dead letters of {batch.token}", lambda: self.store.insert_rows(
                "deadletter", rows, DEADLETTER_COLUMNS, f"{batch.token}:dead"))
        self.stats.batches_total += 1
        return WriteResult(batch.topic, batch.partition, batch.next_offset, written, dead)

    def _stored_dead_letters(self, batches: list[Batch]
                             ) -> dict[tuple[str, int, int], list[DeadLetter]]:
        """Dead letters the store's views wrote for these batches, keyed by batch."""
        ranges = " OR ".join(
            f"(source_topic = {{t{i}:String}} AND source_partition = {{p{i}:Int32}} "
            f"AND source_offset BETWEEN {{a{i}:Int64}} AND {{b{i}:Int64}})"
            for i in range(len(batches)))
        params: dict[str, Any] = {}
        for i, b in enumerate(batches):
            params.update({f"t{i}": b.topic, f"p{i}": b.partition, f"a{i}": b.first_offset,
                           f"b{i}": b.last_offset})
        rows = self.store.rows(
            "SELECT source_topic, source_partition, source_offset, reason_code, reason, key, "
            "raw, raw_encoding, toString(rejected_at) FROM deadletter "
            f"WHERE origin = 'sink' AND rejected_at >= now64(3) - INTERVAL 1 DAY AND ({ranges}) "
            "ORDER BY source_topic, source_partition, source_offset, reason_code", params)
        spans: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for b in batches:
            spans.setdefault((b.topic, b.partition), []).append((b.first_offset, b.last_offset))
        out: dict[tuple[str, int, int], list[DeadLetter]] = {}
        for topic, part, off, code, reason, key, raw, encoding, at in rows:
            tp = (str(topic), int(part))
            first = next(a for a, z in spans[tp] if a <= int(off) <= z)
            d = make_dead_letter(reason_code=str(code), reason=str(reason), topic=tp[0],
                                 partition=tp[1], offset=int(off),
                                 key=None if key is None else str(key), raw=str(raw),
                                 rejected_at=str(at).replace(" ", "T") + "Z")
            d["raw_encoding"] = encoding
            out.setdefault((tp[0], tp[1], first), []).append(d)
        return out

    def _journal(self, batches: list[Batch]) -> None:
        """One row per batch in sink_batches, before any of them is inserted."""
        if not self.journal or not batches:
            return
        ms = int(self.wall_clock() * 1000)
        rows = [(b.topic, b.partition, b.first_offset, b.last_offset, b.size, b.token,
                 ms) for b in batches]
        # no token: a repeated journal row says the same thing and is harmless
        self._retrying(f"journal {batches[0].token} (+{len(batches) - 1})",
                       lambda: self.store.insert_rows("sink_batches", rows, JOURNAL_COLUMNS,
                                                      None))

    def _insert_range(self, batch: Batch, cols: Columns, lo: int, hi: int, token: str,
                      dead: list[DeadLetter], rejected_at: str) -> int:
        if lo >= hi:
            return 0
        table = cols.table
        data = cols.slice(lo, hi)
        try:
            return self._retrying(f"insert {token} into {table}", lambda: self.store
                                  .insert_columns(table, data, cols.names, token))
        except StoreAborted:
            raise
        except Exception as e:
            self.stats.data_errors_total += 1
            if hi - lo == 1:
                dead.append(make_dead_letter(
                    reason_code="rejected_by_store", reason=str(e)[:2000], topic=batch.topic,
                    partition=batch.partition, offset=cols.offsets[lo], key=cols.keys[lo],
                    raw=cols.raw(lo),
                    rejected_at=rejected_at))
                log.warning("%s: row %d refused by the store: %s", batch.token, lo, e)
                return 0
            mid = (lo + hi) // 2
            base = token.partition("#")[0]
            return (self._insert_range(batch, cols, lo, mid, f"{base}#{lo}-{mid}", dead,
                                       rejected_at)
                    + self._insert_range(batch, cols, mid, hi, f"{base}#{mid}-{hi}", dead,
                                         rejected_at))

    # --- the journal ------------------------------------------------------------------

    def journaled(self, topic: str, partition: int, start: int) -> list[tuple[int, int]]:
        """Offset ranges journaled at or after `start`: how the last run cut the batches
        it may have stored without committing them. (Offsets may have gaps, e.g. for
        transaction markers, so ranges are not required to touch.) Not retried here:
        the caller decides, since it may run beside a writer that is retrying."""
        rows = self.store.rows(
            "SELECT first_offset, max(last_offset) FROM sink_batches "
            "WHERE topic = {t:String} AND partition = {p:Int32} AND first_offset >= {o:Int64} "
            "GROUP BY first_offset ORDER BY first_offset LIMIT 100",
            {"t": topic, "p": partition, "o": start})
        chain: list[tuple[int, int]] = []
        for first, last in rows:
            if chain and int(first) <= chain[-1][1]:
                continue  # overlaps the range before it: not a cut of the same run
            chain.append((int(first), int(last)))
        return chain
