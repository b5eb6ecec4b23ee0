"""Kernel messages from /dev/kmsg: where GPU XIDs, OOM kills and disk errors appear.

/dev/kmsg hands out one record per read(2): `prio,seq,usec,flags[,...];message`,
followed by optional continuation lines that start with a space (key=value
metadata). `seq` counts records since boot, so the reader remembers the boot id
and the last seq it shipped and, after a restart in the same boot, skips what was
already sent. Messages are timestamped from the record's monotonic microseconds
plus the boot time, so a message keeps the time the kernel wrote it. Records are
shipped in their raw `prio,seq,usec,flags;message` form, which the log parser
downstream understands (severity, program "kernel", uptime).

The parser is pure; `KmsgReader` is the small imperative edge (non-blocking
reads, EAGAIN at the end, EPIPE when the ring buffer overran us, which is counted).
"""

from __future__ import annotations

import errno
import logging
import os
import re
from dataclasses import dataclass, field

from producers.problems import Problems

__all__ = ["LEVELS", "KmsgReader", "KmsgRecord", "format_kmsg", "parse_kmsg", "read_boot_id"]

log = logging.getLogger(__name__)

LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


@dataclass(frozen=True, slots=True)
class KmsgRecord:
    """One kernel log record."""

    level: int
    facility: int
    seq: int
    ts_us: int  # microseconds since boot (CLOCK_MONOTONIC)
    message: str
    raw: str = ""  # the record's first line as the kernel wrote it (shipped as is)

    @property
    def severity(self) -> str:
        """The syslog level name (err, warning, ...)."""
        return LEVELS[self.level]


def parse_kmsg(line: str) -> KmsgRecord | None:
    """Parse one record's first line; None for continuation lines and malformed input."""
    if not line or line[0] == " ":
        return None
    header, sep, message = line.partition(";")
    if not sep:
        return None
    fields = header.split(",")
    if len(fields) < 3:
        return None
    try:
        prefix, seq, ts_us = int(fields[0]), int(fields[1]), int(fields[2])
    except ValueError:
        return None
    if prefix < 0 or seq < 0 or ts_us < 0:
        return None
    if "\\x" in message:
        message = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), message)
    return KmsgRecord(level=prefix & 7, facility=prefix >> 3, seq=seq, ts_us=ts_us,
                      message=message.rstrip("\n"), raw=line.rstrip("\n"))


def format_kmsg(level: int, seq: int, ts_us: int, message: str, facility: int = 0) -> str:
    """A record line in /dev/kmsg's format (what the agent ships for kernel messages)."""
    return f"{facility * 8 + level},{seq},{ts_us},-;{message}"


def read_boot_id(path: str = "/proc/sys/kernel/random/boot_id") -> str:
    """This boot's id ("" where the OS has none): kmsg seq restarts with each boot."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


@dataclass
class KmsgReader:
    """Non-blocking reader of /dev/kmsg (or a file of records in the same format)."""

    path: str = "/dev/kmsg"
    boot_time: float = 0.0
    boot_id: str = ""
    last_seq: int = -1  # the last seq already shipped in this boot
    problems: Problems = field(default_factory=Problems)
    overruns: int = 0
    retry_every_polls: int = 60

    def __post_init__(self) -> None:
        self._fd: int | None = None
        self._buf = b""
        self._failed_polls = 0

    @classmethod
    def resume(cls, path: str, saved: dict[str, object], *, boot_time: float, boot_id: str,
               problems: Problems | None = None) -> KmsgReader:
        """A reader that skips what a previous run in the same boot already shipped."""
        last = saved.get("seq")
        same_boot = bool(boot_id) and saved.get("boot_id") == boot_id
        return cls(path=path, boot_time=boot_time, boot_id=boot_id,
                   last_seq=last if same_boot and isinstance(last, int) else -1,
                   problems=problems or Problems())

    def cursor(self, seq: int) -> dict[str, object]:
        """The state to persist once the record `seq` is durable."""
        return {"boot_id": self.boot_id, "seq": seq}

    def ts_ms(self, rec: KmsgRecord) -> int:
        """Epoch milliseconds of a record."""
        return int(self.boot_time * 1000 + rec.ts_us / 1000)

    def _open(self) -> bool:
        if self._fd is not None:
            return True
        if self._failed_polls:
            self._failed_polls = (self._failed_polls + 1) % self.retry_every_polls
            if self._failed_polls:
                return False
        try:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            self._failed_polls = 1
            hint = " (needs root or CAP_SYSLOG)" if e.errno in (errno.EACCES, errno.EPERM) else ""
            self.problems.report(f"kmsg:{self.path}",
                                 f"cannot open kernel log {self.path}: {e}{hint}")
            return False
        self.problems.clear(f"kmsg:{self.path}", f"kernel log {self.path} is readable again")
        return True

    def poll(self, max_records: int = 10_000) -> list[KmsgRecord]:
        """Records not yet shipped, oldest first."""
        if not self._open():
            return []
        assert self._fd is not None
        out: list[KmsgRecord] = []
        while len(out) < max_records:
            try:
                chunk = os.read(self._fd, 16384)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EPIPE:  # the ring buffer overwrote records we had not read
                    self.overruns += 1
                    self.problems.report(f"kmsg-overrun:{self.path}",
                                         "kernel log overran the reader; some messages lost")
                    continue
                self.problems.report(f"kmsg:{self.path}", f"cannot read {self.path}: {e}")
                self.close()
                break
            if not chunk:
                break
            self._buf += chunk
            *lines, self._buf = self._buf.split(b"\n")
            for raw in lines:
                rec = parse_kmsg(raw.decode("utf-8", "replace"))
                if rec is None or rec.seq <= self.last_seq:
                    continue
                self.last_seq = rec.seq
                out.append(rec)
        return out

    def close(self) -> None:
        """Close the device."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
