"""Batches keyed by (topic, partition), taken in rounds: plain data, no I/O, the clock
passed in.

A batch covers a contiguous range of offsets of one partition, which names it
(f"{topic}:{partition}:{first}-{last}"). It holds the decoded records, or for a table
with an ingest table the raw messages (turned into columns by sinks.columns when
written). The writer stores a *round* of batches at once, one insert per table across
all partitions (sinks.rounds), since what an insert costs is mostly fixed. A round is
taken when the writer is free and the sink holds `batch_rows` records, or its oldest
record has waited `batch_interval_s`; then every partition's open batch goes with it.
While the writer is busy, batches keep growing (each up to `max_batch_rows`), so under
load each insert carries more rows. How a crashed round is written again, exactly, is
sinks.recovery: the batcher only ever cuts new batches.
"""

from __future__ import annotations

import base64
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas import ids
from schemas.events import DeadLetter
from sinks.errors import RowError
from sinks.rows import TableSpec, decode_message, estimate_records

__all__ = ["Batch", "Batcher", "Reject", "make_dead_letter"]

log = logging.getLogger(__name__)

TP = tuple[str, int]


def make_dead_letter(*, reason_code: str, reason: str, topic: str, partition: int,
                     offset: int, key: bytes | str | None, raw: bytes | str,
                     rejected_at: str) -> DeadLetter:
    """A `rackwatch.deadletter/v1` record for something the sink could not store."""
    if isinstance(raw, bytes):
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    else:
        text, encoding = raw, "utf-8"
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    return {
        "schema": ids.DEADLETTER,
        "reason": reason,
        "reason_code": reason_code,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "key": key,
        "raw": text,
        "raw_encoding": encoding,  # type: ignore[typeddict-item]
        "rejected_at": rejected_at,
    }


@dataclass(frozen=True)
class Reject:
    """Something that could not become a row: where it came from and why."""

    offset: int
    key: bytes | None
    error: RowError
    raw: bytes | str


@dataclass
class Batch:
    """Records of one partition over a contiguous offset range."""

    topic: str
    partition: int
    spec: TableSpec
    first_offset: int
    last_offset: int
    opened_at: float
    # decoded records, or with an ingest table the raw messages (one entry each)
    records: list[Any] = field(default_factory=list)
    record_offsets: list[int] = field(default_factory=list)
    record_keys: list[bytes | None] = field(default_factory=list)
    rejected: list[Reject] = field(default_factory=list)  # undecodable messages
    messages: int = 0
    size: int = 0  # records held (estimated for raw messages): what limits count

    @property
    def token(self) -> str:
        return f"{self.topic}:{self.partition}:{self.first_offset}-{self.last_offset}"

    @property
    def next_offset(self) -> int:
        """The offset to commit once this batch is stored."""
        return self.last_offset + 1


@dataclass
class _Partition:
    open: Batch | None = None
    sealed: deque[Batch] = field(default_factory=deque)


class Batcher:
    """Turns Kafka messages into per-partition batches of decoded records."""

    def __init__(self, specs: Mapping[str, TableSpec], *, batch_rows: int,
                 batch_interval_s: float, max_batch_rows: int | None = None,
                 max_message_bytes: int = 8 * 1024 * 1024) -> None:
        self.specs = dict(specs)  # keyed by full topic name
        self.batch_rows = batch_rows
        self.batch_interval_s = batch_interval_s
        self.max_batch_rows = max_batch_rows or 20 * batch_rows
        self.max_message_bytes = max_message_bytes
        self._parts: dict[TP, _Partition] = {}
        self.pending_rows = 0  # records in sealed batches not yet taken
        self.rejected = 0

    # --- input ------------------------------------------------------------------------

    def add(self, topic: str, partition: int, offset: int, key: bytes | None,
            value: bytes | None, now: float, *, skip: bool = False) -> None:
        """Add one message; `skip` only advances the offset (nothing to store)."""
        part = self._parts.setdefault((topic, partition), _Partition())
        batch = part.open
        if batch is None:
            batch = part.open = Batch(topic, partition, self.specs[topic], offset, offset, now)
        batch.last_offset = offset
        batch.messages += 1
        if not skip:
            self._decode(batch, offset, key, value)
        if batch.size >= self.max_batch_rows:
            self._seal(part)

    def _decode(self, batch: Batch, offset: int, key: bytes | None, value: bytes | None) -> None:
        if batch.spec.ingest is not None:
            self._keep_raw(batch, offset, key, value)
            return
        try:
            records = decode_message(value, self.max_message_bytes)
        except RowError as e:
            batch.rejected.append(Reject(offset, key, e, value or b""))
            self.rejected += 1
            return
        n = len(records)
        batch.records.extend(records)
        batch.record_offsets.extend([offset] * n)
        batch.record_keys.extend([key] * n)
        batch.size += n

    def _keep_raw(self, batch: Batch, offset: int, key: bytes | None,
                  value: bytes | None) -> None:
        """Raw path: only what ClickHouse cannot judge is checked here."""
        if value is None:
            err = RowError("empty", "message has no value (a tombstone?)")
        elif len(value) > self.max_message_bytes:
            err = RowError("too_large",
                           f"message is {len(value)} bytes, limit {self.max_message_bytes}")
        else:
            try:
                doc = value.decode("utf-8")
            except UnicodeDecodeError as e:
                err = RowError("bad_json", f"message is not UTF-8: {e}")
            else:
                batch.records.append(doc)
                batch.record_offsets.append(offset)
                batch.record_keys.append(key)
                batch.size += estimate_records(value)
                return
        batch.rejected.append(Reject(offset, key, err, value or b""))
        self.rejected += 1

    def _seal(self, part: _Partition) -> None:
        if part.open is not None:
            self.pending_rows += part.open.size
            part.sealed.append(part.open)
            part.open = None

    # --- output -----------------------------------------------------------------------

    @property
    def open_rows(self) -> int:
        return sum(p.open.size for p in self._parts.values() if p.open is not None)

    @property
    def buffered_rows(self) -> int:
        """Rows held here, sealed or not: what back-pressure is measured on."""
        return self.pending_rows + self.open_rows

    def due(self, now: float) -> list[Batch]:
        """The next round (call it when the writer is free): every batch, open or
        sealed, once the sink holds `batch_rows` records or the oldest batch is
        `batch_interval_s` old; else nothing yet."""
        oldest = min((b.opened_at for p in self._parts.values()
                      for b in (*p.sealed, *([p.open] if p.open else []))), default=None)
        if oldest is None:
            return []
        if now - oldest < self.batch_interval_s and self.buffered_rows < self.batch_rows:
            return []
        return self.drain()

    def drain(self) -> list[Batch]:
        """Take everything (a graceful stop)."""
        out: list[Batch] = []
        for part in self._parts.values():
            self._seal(part)
            out.extend(self._take(part))
        return out

    def _take(self, part: _Partition) -> list[Batch]:
        out = list(part.sealed)
        part.sealed.clear()
        self.pending_rows -= sum(b.size for b in out)
        return out

    def discard(self, tps: set[TP] | list[TP]) -> int:
        """Forget partitions this consumer lost; return the rows dropped (not stored, not
        committed: their new owner reads them again)."""
        dropped = 0
        for tp in tps:
            part = self._parts.pop(tuple(tp), None)  # type: ignore[arg-type]
            if part is None:
                continue
            dropped += sum(b.size for b in part.sealed)
            self.pending_rows -= sum(b.size for b in part.sealed)
            if part.open is not None:
                dropped += part.open.size
        return dropped

    def describe(self) -> dict[str, Any]:
        return {f"{t}:{p}": {"open": v.open.size if v.open else 0,
                             "sealed": len(v.sealed)} for (t, p), v in self._parts.items()}
