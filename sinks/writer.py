"""Write one batch to the store: journal, insert, dead letters; retry what can succeed.

Runs in the sink's writer thread (the client is synchronous). The order is fixed:
1. journal the batch's offset range in `sink_batches` (so a restart cuts it the same way),
2. insert its rows with the batch token (a repeat is dropped by ClickHouse),
3. insert the records it could not store into `deadletter`, with a token of their own.
Only when all three succeeded may the caller commit the batch's offsets. Transient
errors are retried with backoff until they pass or the sink stops; data errors split
the batch in halves until the offending rows are isolated and dead-lettered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from schemas.events import DeadLetter
from sinks.batch import Batch, make_dead_letter
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
                 wall_clock: Callable[[], float] = time.time, journal: bool = True) -> None:
        self.store = store
        self.stats = stats or SinkStats()
        self.backoff = backoff or Backoff()
        self.stop = stop or threading.Event()
        self.wall_clock = wall_clock
        self.journal = journal
        self.healthy = True
        self._limits = Limits(max_field_bytes=2**31)

    # --- retry ------------------------------------------------------------------------

    def _retrying(self, what: str, fn: Callable[[], T]) -> T:
        """Run `fn` until it succeeds; data errors propagate, others are retried."""
        while True:
            try:
                result = fn()
            except Exception as e:
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
            if not self.healthy:
                log.info("%s succeeded after retries; store healthy again", what)
            self.healthy = True
            self.backoff.reset()
            self.stats.inserts_total += 1
            return result

    # --- writing ----------------------------------------------------------------------

    def write(self, batch: Batch) -> WriteResult:
        """Store one batch (see the module docstring for the order)."""
        if self.stop.is_set():
            raise StoreAborted(f"{batch.token}: sink stopping")
        now = self.wall_clock()
        rejected_at = utc_now_rfc3339(now)
        if self.journal:
            row = (batch.topic, batch.partition, batch.first_offset, batch.last_offset,
                   len(batch.rows), batch.token, int(now * 1000))
            self._retrying(f"journal {batch.token}", lambda: self.store.insert_rows(
                "sink_batches", [row], JOURNAL_COLUMNS, f"journal:{batch.token}"))
        dead: list[DeadLetter] = [
            make_dead_letter(reason_code=err.code, reason=err.reason, topic=batch.topic,
                             partition=batch.partition, offset=off, key=key, raw=raw,
                             rejected_at=rejected_at)
            for off, key, err, raw in batch.rejected]
        written = self._insert_range(batch, 0, len(batch.rows), batch.token, dead, rejected_at)
        if dead:
            rows = [deadletter_row(d, self._limits, origin="sink") for d in dead]
            self._retrying(f"dead letters of {batch.token}", lambda: self.store.insert_rows(
                "deadletter", rows, DEADLETTER_COLUMNS, f"{batch.token}:dead"))
            self.stats.dead_letters_total += len(dead)
        self.stats.rows_inserted_total += written
        self.stats.batches_total += 1
        return WriteResult(batch.topic, batch.partition, batch.next_offset, written, dead)

    def _insert_range(self, batch: Batch, lo: int, hi: int, token: str,
                      dead: list[DeadLetter], rejected_at: str) -> int:
        if lo >= hi:
            return 0
        spec = batch.spec
        rows = batch.rows[lo:hi]
        try:
            return self._retrying(f"insert {token} into {spec.table}", lambda: self.store
                                  .insert_rows(spec.table, rows, spec.columns, token))
        except StoreAborted:
            raise
        except Exception as e:
            self.stats.data_errors_total += 1
            if hi - lo == 1:
                record = dict(zip(spec.columns, rows[0], strict=True))
                dead.append(make_dead_letter(
                    reason_code="rejected_by_store", reason=str(e)[:2000], topic=batch.topic,
                    partition=batch.partition, offset=batch.row_offsets[lo], key=None,
                    raw=orjson.dumps(record, default=_json_default),
                    rejected_at=rejected_at))
                log.warning("%s: row %d refused by the store: %s", batch.token, lo, e)
                return 0
            mid = (lo + hi) // 2
            base = batch.token
            return (self._insert_range(batch, lo, mid, f"{base}#{lo}-{mid}", dead, rejected_at)
                    + self._insert_range(batch, mid, hi, f"{base}#{mid}-{hi}", dead,
                                         rejected_at))

    def write_all(self, batches: list[Batch]) -> list[WriteResult]:
        """Write batches in order; stop at the first that cannot be written (raises), so
        results only ever cover stored batches."""
        return [self.write(b) for b in batches]

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


def _json_default(value: Any) -> Any:
    if isinstance(value, float):
        return None  # NaN / inf
    return str(value)
