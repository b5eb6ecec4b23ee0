"""A bounded FIFO of outgoing records that spills to a local file when it grows.

While the broker is away the agent keeps producing. Records queue in memory up to
`memory_items`; beyond that they are appended to a spill file, and as memory
drains it is refilled from the file, so the order never changes: every record on
disk is newer than every record in memory. Past `max_items` the oldest record is
dropped (recent data matters most after a long outage), counted, and its token
still reported done so log positions move on.

On close the whole queue (memory first, then the file's unread part) is written to
the spill file, and the next start sends it first. After a crash the unread part
of the file survives; records already sent from it are sent again
(at-least-once; consumers deduplicate by seq). Each record on disk carries a
CRC-32, so a torn write at a crash ends the file cleanly instead of sending garbage.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["Record", "SpillBuffer"]

log = logging.getLogger(__name__)

_HEAD = struct.Struct(">II")  # payload length, crc32(payload)
_PAYLOAD = struct.Struct(">HI")  # topic length, key length


@dataclass(slots=True)
class Record:
    """One message for the broker; `token` is the producer's own bookkeeping (not stored)."""

    topic: str
    key: bytes
    value: bytes
    token: object = None


def _pack(r: Record) -> bytes:
    topic = r.topic.encode()
    payload = _PAYLOAD.pack(len(topic), len(r.key)) + topic + r.key + r.value
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _unpack(payload: bytes) -> Record:
    tlen, klen = _PAYLOAD.unpack_from(payload)
    at = _PAYLOAD.size
    topic = payload[at:at + tlen].decode()
    at += tlen
    return Record(topic, payload[at:at + klen], payload[at + klen:])


class SpillBuffer:
    """Ordered, bounded, memory-then-disk queue of `Record`s."""

    def __init__(self, *, max_items: int, memory_items: int, spill_path: Path | None,
                 on_done: Callable[[object], None] | None = None) -> None:
        if max_items < 1 or memory_items < 1:
            raise ValueError("buffer sizes must be at least 1")
        self.max_items = max_items
        self.memory_items = memory_items if spill_path is not None else max_items
        self.spill_path = spill_path
        self.on_done = on_done
        self.dropped = 0
        self.spilled = 0
        self.corrupt = 0
        self._mem: deque[Record] = deque()
        self._disk_count = 0
        self._read_at = 0
        self._writer: BinaryIO | None = None
        self._reader: BinaryIO | None = None
        if spill_path is not None and spill_path.exists():
            self._disk_count = self._count_valid(spill_path)
            if self._disk_count:
                log.info("resuming %d buffered records from %s", self._disk_count, spill_path)
            self._refill()

    @property
    def spill_bytes(self) -> int:
        """Bytes of records waiting in the spill file (what a long outage costs on disk)."""
        if not self._disk_count or self.spill_path is None:
            return 0
        try:
            return max(0, self.spill_path.stat().st_size - self._read_at)
        except OSError:
            return 0

    # -- disk --------------------------------------------------------------------------
    def _count_valid(self, path: Path) -> int:
        n = 0
        end = 0
        with open(path, "rb") as f:
            while True:
                head = f.read(_HEAD.size)
                if len(head) < _HEAD.size:
                    break
                length, crc = _HEAD.unpack(head)
                payload = f.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    self.corrupt += 1
                    break
                n += 1
                end = f.tell()
        if end < path.stat().st_size:
            log.warning("spill file %s ends in a torn record; ignoring its last %d bytes",
                        path, path.stat().st_size - end)
            with open(path, "r+b") as f:
                f.truncate(end)
        return n

    def _disk_append(self, r: Record) -> None:
        assert self.spill_path is not None
        if self._writer is None:
            self.spill_path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = open(self.spill_path, "ab")  # noqa: SIM115 - long-lived
        self._writer.write(_pack(r))
        self._writer.flush()  # only while spilling; a crashed process then loses nothing on disk
        self._disk_count += 1
        self.spilled += 1

    def _refill(self) -> None:
        """Move the oldest spilled records into memory while there is room."""
        if not self._disk_count or self.spill_path is None:
            return
        if self._writer is not None:
            self._writer.flush()
        if self._reader is None:
            self._reader = open(self.spill_path, "rb")  # noqa: SIM115 - long-lived
            self._reader.seek(self._read_at)
        while self._disk_count and len(self._mem) < self.memory_items:
            head = self._reader.read(_HEAD.size)
            length, _crc = _HEAD.unpack(head)
            self._mem.append(_unpack(self._reader.read(length)))
            self._disk_count -= 1
        self._read_at = self._reader.tell()
        if not self._disk_count:
            self._reset_file()

    def _reset_file(self) -> None:
        for fh in (self._reader, self._writer):
            if fh is not None:
                fh.close()
        self._reader = self._writer = None
        self._read_at = 0
        if self.spill_path is not None:
            self.spill_path.unlink(missing_ok=True)

    # -- queue -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._mem) + self._disk_count

    def append(self, r: Record) -> None:
        """Queue `r` at the end; drop the oldest record if the bound is reached."""
        if len(self) >= self.max_items:
            self._drop_oldest()
        if self._disk_count or len(self._mem) >= self.memory_items:
            self._disk_append(r)
            if r.token is not None and self.on_done is not None:
                self.on_done(r.token)  # on disk: it survives a restart
        else:
            self._mem.append(r)

    def _drop_oldest(self) -> None:
        if not self._mem:
            self._refill()
        if self._mem:
            old = self._mem.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("send buffer full (%d records): dropped the oldest, %d so far",
                          self.max_items, self.dropped)
            if old.token is not None and self.on_done is not None:
                self.on_done(old.token)

    def peek(self, n: int) -> list[Record]:
        """Up to `n` records from the front, without removing them."""
        if len(self._mem) < n:
            self._refill()
        return [self._mem[i] for i in range(min(n, len(self._mem)))]

    def pop(self, n: int) -> list[Record]:
        """Remove and return `n` records from the front (those `peek` just returned)."""
        out = [self._mem.popleft() for _ in range(min(n, len(self._mem)))]
        if len(self._mem) < self.memory_items // 2:
            self._refill()
        return out

    def close(self) -> None:
        """Persist everything still queued to the spill file, in order."""
        if self.spill_path is None:
            if self._mem:
                log.error("%d buffered records lost at shutdown (no spill file configured)",
                          len(self._mem))
                self.dropped += len(self._mem)
                self._mem.clear()
            return
        if not len(self):
            self._reset_file()
            return
        tmp = self.spill_path.with_name(self.spill_path.name + ".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        if self._writer is not None:
            self._writer.flush()
        with open(tmp, "wb") as out:
            for r in self._mem:
                out.write(_pack(r))
            if self._disk_count:
                with open(self.spill_path, "rb") as src:
                    src.seek(self._read_at)
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        for fh in (self._reader, self._writer):
            if fh is not None:
                fh.close()
        self._reader = self._writer = None
        os.replace(tmp, self.spill_path)
        n = len(self)
        for r in self._mem:
            if r.token is not None and self.on_done is not None:
                self.on_done(r.token)
        log.info("saved %d unsent records to %s; they are sent first on the next start",
                 n, self.spill_path)
        self._mem.clear()
        self._disk_count = 0
        self._read_at = 0
