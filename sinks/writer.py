"""Write rounds of batches to the store; retry what can succeed, set aside what cannot.

Runs in the sink's writer thread (the client is synchronous), which also turns the
batches into columns (sinks.columns). A round is every batch the sink took at once,
across partitions and topics, and its order is fixed:
1. journal the offset ranges of its batches in `sink_batches`, in one insert, each
   with the round's token (sinks.rounds), so that whoever owns any of these partitions
   after a crash can write the very same round again (sinks.recovery);
2. one insert per table for the whole round, the first with the round's token and the
   others with the token and the table's name (a repeat is dropped by ClickHouse, in
   the table and in every view it feeds): metric blocks into `metric_blocks_ingest` and
   arrays of rows into `metrics_ingest`, whose views parse, store or dead-letter each
   record; the other tables as rows converted in Python;
3. insert what Python rejected into `deadletter`, with a token of its own;
4. read back the dead letters the store's views wrote for the round (one query), to
   count and publish.
Only when the round got through may the caller commit its offsets. Transient errors are
retried with backoff until they pass or the sink stops; data errors split a table's
rows in halves until the offending rows are isolated and dead-lettered.
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
from sinks.batch import Batch, Reject, make_dead_letter
from sinks.columns import Columns, round_columns
from sinks.errors import ErrorKind, StoreAborted, classify
from sinks.retry import Backoff
from sinks.rounds import Member, ordered, round_token, table_token
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
    first_offset: int = -1


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
        """Store one batch as a round of its own."""
        return self.write_all([batch])[0]

    def write_all(self, batches: list[Batch], *, token: str | None = None,
                  journal: bool = True) -> list[WriteResult]:
        """Store a round: journal it (unless it is a journaled round written again, with
        its `token`), insert it table by table, then fetch what the store dead-lettered
        by itself. Raises if it cannot be written, so results only ever cover a stored
        round; they come in the round's order (sinks.rounds.ordered)."""
        if self.stop.is_set():
            raise StoreAborted("sink stopping")
        batches = ordered(batches)
        if not batches:
            return []
        token = token or round_token(batches)
        if journal:
            self._journal(batches, token)
        rejected_at = utc_now_rfc3339(self.wall_clock())
        groups = round_columns(batches, self.limits)
        dead: list[list[DeadLetter]] = [[self._dead(b, r, rejected_at) for r in b.rejected]
                                        for b in batches]
        for cols in groups:
            for bi, r in cols.rejected:
                dead[bi].append(self._dead(batches[bi], r, rejected_at))
        for i, cols in enumerate(groups):
            self._insert_range(batches, cols, 0, len(cols), table_token(token, i, cols.table),
                               dead, rejected_at)
        python_dead = [d for ds in dead for d in ds]
        if python_dead:
            rows = [deadletter_row(d, self._dl_limits, origin="sink") for d in python_dead]
            self._retrying(f"dead letters of {token}", lambda: self.store.insert_rows(
                "deadletter", rows, DEADLETTER_COLUMNS, f"{token}:dead"))
        results = [WriteResult(b.topic, b.partition, b.next_offset,
                               len(b.records) - (len(dead[i]) - len(b.rejected)), dead[i],
                               b.first_offset)
                   for i, b in enumerate(batches)]
        routed = [i for i, b in enumerate(batches) if b.spec.ingest is not None and b.records]
        if routed:
            # the store's views routed bad records themselves: fetch every dead letter of
            # these batches (theirs and Python's) to count and publish
            stored = self._retrying("read stored dead letters", lambda: self._stored_dead_letters(
                [batches[i] for i in routed]))
            for i in routed:
                b = batches[i]
                mine = stored.get((b.topic, b.partition, b.first_offset), [])
                self.stats.store_dead_letters_total += max(0, len(mine) - len(dead[i]))
                results[i].rows = max(0, b.size - len(mine))  # records, as estimated
                results[i].dead_letters = mine
        self.stats.batches_total += len(batches)
        self.stats.rounds_total += 1
        self.stats.rows_inserted_total += sum(r.rows for r in results)
        self.stats.dead_letters_total += sum(len(r.dead_letters) for r in results)
        return results

    def _dead(self, batch: Batch, r: Reject, rejected_at: str) -> DeadLetter:
        return make_dead_letter(reason_code=r.error.code, reason=r.error.reason,
                                topic=batch.topic, partition=batch.partition, offset=r.offset,
                                key=r.key, raw=r.raw, rejected_at=rejected_at)

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

    def _journal(self, batches: list[Batch], token: str) -> None:
        """One row per batch in sink_batches, each with the round's token, before any of
        the round is inserted."""
        if not self.journal:
            return
        ms = int(self.wall_clock() * 1000)
        rows = [(b.topic, b.partition, b.first_offset, b.last_offset, b.size, token, ms)
                for b in batches]
        # no dedup token: a repeated journal row says the same thing and is harmless
        self._retrying(f"journal {token} ({len(batches)} batches)",
                       lambda: self.store.insert_rows("sink_batches", rows, JOURNAL_COLUMNS,
                                                      None))

    def _insert_range(self, batches: list[Batch], cols: Columns, lo: int, hi: int,
                      token: str, dead: list[list[DeadLetter]], rejected_at: str) -> int:
        """Insert rows [lo, hi) of `cols`; on a data error, each half with a token of its
        own, down to the single rows the store refuses (dead-lettered under their batch)."""
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
                bi = cols.origin[lo]
                batch = batches[bi]
                dead[bi].append(make_dead_letter(
                    reason_code="rejected_by_store", reason=str(e)[:2000], topic=batch.topic,
                    partition=batch.partition, offset=cols.offsets[lo], key=cols.keys[lo],
                    raw=cols.raw(lo), rejected_at=rejected_at))
                log.warning("%s: row %d refused by the store: %s", token, lo, e)
                return 0
            mid = (lo + hi) // 2
            base = token.partition("#")[0]
            return (self._insert_range(batches, cols, lo, mid, f"{base}#{lo}-{mid}", dead,
                                       rejected_at)
                    + self._insert_range(batches, cols, mid, hi, f"{base}#{mid}-{hi}", dead,
                                         rejected_at))

    # --- the journal ------------------------------------------------------------------

    def journaled(self, topic: str, partition: int, start: int) -> list[tuple[int, int, str]]:
        """(first, last, round token) of the batches journaled at or after `start`: how
        the last run cut the batches it may have stored without committing them.
        (Offsets may have gaps, e.g. for transaction markers, so ranges are not required
        to touch.) Not retried here: the caller decides, since it may run beside a
        writer that is retrying."""
        rows = self.store.rows(
            "SELECT first_offset, max(last_offset), argMax(token, last_offset) FROM sink_batches "
            "WHERE topic = {t:String} AND partition = {p:Int32} AND first_offset >= {o:Int64} "
            "GROUP BY first_offset ORDER BY first_offset LIMIT 10000",
            {"t": topic, "p": partition, "o": start})
        chain: list[tuple[int, int, str]] = []
        for first, last, token in rows:
            if chain and int(first) <= chain[-1][1]:
                continue  # overlaps the range before it: not a cut of the same run
            chain.append((int(first), int(last), str(token)))
        return chain

    def members(self, token: str) -> list[Member]:
        """Every batch journaled under a round's token (all partitions and topics)."""
        rows = self.store.rows(
            "SELECT DISTINCT topic, partition, first_offset, last_offset FROM sink_batches "
            "WHERE token = {t:String} ORDER BY topic, partition, first_offset", {"t": token})
        return [Member(str(t), int(p), int(a), int(b)) for t, p, a, b in rows]
