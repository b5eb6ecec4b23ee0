"""The agent's small persistent state: sequence numbers and read positions.

`seq` is the downstream dedup key, so it must keep increasing across restarts.
Writing the counter after every batch would cost a file write per interval, so
numbers are reserved in blocks: the state records the end of the current block,
and a restarted agent continues from there, skipping at most one block. If the
state file is missing or unreadable, sequences start from the current epoch
milliseconds, a number no earlier incarnation can have reached at one batch per
interval, so a lost state file never makes new batches look like duplicates.

The state also holds the agent's `epoch`: a random id chosen when the state is first
created and kept with it. It travels on every batch and log event; the worker dedups
on (host, epoch, seq), so an agent whose state is lost (a reimaged node) starts a new
sequence that is never mistaken for the old one's duplicates, however its numbers
compare.

The file is JSON, written atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["AgentState", "SeqAllocator", "atomic_write_json", "new_epoch"]

log = logging.getLogger(__name__)

_VERSION = 1


def atomic_write_json(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON so a crash leaves either old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def new_epoch() -> str:
    """A fresh producer epoch: 16 hex digits, unique enough across a fleet's lifetime."""
    return secrets.token_hex(8)


@dataclass
class SeqAllocator:
    """Strictly increasing numbers, reserved from the state in blocks."""

    next: int
    reserved: int
    block: int = 1000

    def take(self) -> tuple[int, bool]:
        """The next number, and whether the reservation moved (the state must be saved)."""
        moved = False
        if self.next >= self.reserved:
            self.reserved = self.next + self.block
            moved = True
        value = self.next
        self.next += 1
        return value, moved


class AgentState:
    """Sequences, log file positions and the kmsg cursor, persisted as one JSON file."""

    def __init__(self, path: Path | None, *, now_ms: int, block: int = 1000) -> None:
        self.path = path
        self.dirty = False
        raw = self._load(path)
        fresh = raw is None
        data: dict[str, Any] = raw or {}
        base = now_ms if fresh else 1
        self.metrics_seq = SeqAllocator(*self._seq(data, "metrics_seq", base), block=block)
        self.logs_seq = SeqAllocator(*self._seq(data, "logs_seq", base), block=block)
        files = data.get("files")
        self.files: dict[str, dict[str, Any]] = files if isinstance(files, dict) else {}
        kmsg = data.get("kmsg")
        self.kmsg: dict[str, Any] = kmsg if isinstance(kmsg, dict) else {}
        epoch = data.get("epoch")
        if isinstance(epoch, str) and 0 < len(epoch) <= 64:
            self.epoch = epoch
        else:  # a new state, or one written before epochs: a new sequence from here on
            self.epoch = new_epoch()
            if not fresh:
                self.dirty = True

    @staticmethod
    def _seq(data: dict[str, Any], key: str, base: int) -> tuple[int, int]:
        reserved = data.get(key)
        if isinstance(reserved, int) and reserved > 0:
            return reserved, reserved
        return base, base

    @staticmethod
    def _load(path: Path | None) -> dict[str, Any] | None:
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            backup = path.with_name(path.name + ".corrupt")
            with contextlib.suppress(OSError):
                os.replace(path, backup)
            log.error("agent state %s is unreadable (%s); moved it to %s and starting with "
                      "sequences from the current time", path, e, backup)
            return None
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            log.error("agent state %s has an unknown format; starting fresh", path)
            return None
        return data

    def next_metrics_seq(self) -> int:
        """The seq of the next metric batch."""
        value, moved = self.metrics_seq.take()
        if moved:
            self.save()
        return value

    def next_logs_seq(self) -> int:
        """The seq of the next log event (a separate counter from metrics)."""
        value, moved = self.logs_seq.take()
        if moved:
            self.save()
        return value

    def to_json(self) -> dict[str, Any]:
        """The persisted form."""
        return {
            "version": _VERSION,
            "epoch": self.epoch,
            "metrics_seq": self.metrics_seq.reserved,
            "logs_seq": self.logs_seq.reserved,
            "files": self.files,
            "kmsg": self.kmsg,
        }

    def save(self) -> None:
        """Write the state now (no-op without a path)."""
        self.dirty = False
        if self.path is None:
            return
        try:
            atomic_write_json(self.path, self.to_json())
        except OSError as e:
            log.error("cannot write agent state %s: %s", self.path, e)
