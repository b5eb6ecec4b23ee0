"""Tail log files by glob, through rotation and truncation, resuming after restarts.

Files are tracked by identity (device and inode), not by name: a rotated file that
keeps matching the glob (`app.log` -> `app.log.1`) is the same file under a new
name and is not read twice, and a file renamed or deleted under us is drained to
its end through the handle we still hold before it is let go. A file whose size
drops below our position was truncated in place (logrotate's copytruncate) and is
read again from the start.

Positions are committed by the caller once the lines are durable (delivered, or
written to the spill file), so a crash re-sends at most the uncommitted tail:
at-least-once, never lost. After a restart a file rotated while we were down is
found again by its inode in the same directory and its rest is read first.
"""

from __future__ import annotations

import glob
import logging
import os
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from producers.problems import Problems

__all__ = ["LogLine", "LogTailer", "TailStats"]

log = logging.getLogger(__name__)

_HEAD_BYTES = 256  # a checksum of a file's first bytes tells a reused inode from the same file


@dataclass(frozen=True, slots=True)
class LogLine:
    """One complete line and the position to commit once it is durable."""

    source: str
    text: str
    file_id: str
    offset: int  # byte offset just past this line


@dataclass(slots=True)
class TailStats:
    """What the tailer has seen and survived."""

    lines: int = 0
    bytes: int = 0
    rotations: int = 0
    truncations: int = 0
    files_lost: int = 0


@dataclass(slots=True)
class _Tracked:
    file_id: str
    path: str
    fh: BinaryIO
    offset: int  # read position: everything before it is emitted or held in `pending`
    pending: bytes = b""
    gone: bool = False
    mtime: float = 0.0
    idle_polls: int = 0  # consecutive polls a gone file had nothing new
    gen: int = 0  # bumped by each in-place truncation: positions of older content are void

    @property
    def line_id(self) -> str:
        return self.file_id if not self.gen else f"{self.file_id}#{self.gen}"


def _file_id(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


@dataclass
class LogTailer:
    """Polls its globs and returns new complete lines in file order."""

    patterns: list[str]
    saved: dict[str, dict[str, Any]] | None = None  # file_id -> {"path", "offset"}
    read_existing: bool = False
    max_line_bytes: int = 64 * 1024
    max_read_bytes: int = 4 * 1024 * 1024
    grace_polls: int = 3  # a rotated file stays open this many idle polls (late writers)
    problems: Problems = field(default_factory=Problems)
    stats: TailStats = field(default_factory=TailStats)

    def __post_init__(self) -> None:
        self._tracked: dict[str, _Tracked] = {}
        self._by_path: dict[str, str] = {}
        self._committed: dict[str, dict[str, Any]] = dict(self.saved or {})
        self._final: dict[str, int] = {}
        self._first = True
        self._known_paths = {str(v.get("path")) for v in self._committed.values()}

    # -- positions -------------------------------------------------------------------
    def commit(self, line_id: str, offset: int) -> None:
        """Record that every line of `line_id` (a LogLine's file_id) up to `offset` is durable."""
        file_id, _, g = line_id.partition("#")
        gen = int(g or 0)
        entry = self._committed.get(file_id)
        if entry is not None and entry.get("gen", 0) != gen:
            return  # a position in content that has since been truncated away
        if entry is None:
            t = self._tracked.get(file_id)
            if t is None:
                return
            entry = self._committed[file_id] = {"path": t.path, "offset": 0, "gen": t.gen}
        if offset > entry["offset"]:
            entry["offset"] = offset
        if entry.get("head_len", 0) < _HEAD_BYTES and offset > entry.get("head_len", 0):
            self._refresh_head(file_id, entry)
        final = self._final.get(file_id)
        if final is not None and entry["offset"] >= final:
            del self._final[file_id]
            del self._committed[file_id]

    def _refresh_head(self, file_id: str, entry: dict[str, Any]) -> None:
        """Extend a short head checksum once the file has grown (cheap: at most 256 bytes)."""
        t = self._tracked.get(file_id)
        if t is None:
            return
        try:
            head = os.pread(t.fh.fileno(), _HEAD_BYTES, 0)
        except OSError:
            return
        entry["head_len"], entry["head_crc"] = len(head), zlib.crc32(head)

    def positions(self) -> dict[str, dict[str, Any]]:
        """The committed positions, JSON-ready, for the state file."""
        for fid, t in self._tracked.items():
            entry = self._committed.get(fid)
            if entry is not None:
                entry["path"] = t.path
        return {k: dict(v) for k, v in self._committed.items()}

    # -- polling ---------------------------------------------------------------------
    def _expand(self) -> list[str]:
        paths: set[str] = set()
        for pattern in self.patterns:
            paths.update(p for p in glob.glob(pattern) if os.path.isfile(p))
        return sorted(paths)

    def _open(self, path: str, st: os.stat_result, offset: int) -> _Tracked | None:
        fid = _file_id(st)
        try:
            fh = open(path, "rb")  # noqa: SIM115 - held open across polls on purpose
            head = fh.read(_HEAD_BYTES)
        except OSError as e:
            self.problems.report(f"log:{path}", f"cannot read log file {path}: {e}")
            return None
        self.problems.clear(f"log:{path}", f"log file {path} is readable again")
        saved = self._committed.get(fid)
        if saved is not None and "head_len" in saved:
            # Same device and inode, but is it the same file? Inode numbers are reused.
            n = int(saved["head_len"])
            if len(head) < n or zlib.crc32(head[:n]) != saved.get("head_crc"):
                log.info("%s reuses the inode of a file read before; reading it from the start",
                         path)
                self.stats.truncations += 1
                offset = 0
                del self._committed[fid]
        if offset > st.st_size:
            log.info("%s is shorter than the saved position; reading it from the start", path)
            self.stats.truncations += 1
            offset = 0
        t = _Tracked(file_id=fid, path=path, fh=fh, offset=offset,
                     gen=int((saved or {}).get("gen", 0)) if fid in self._committed else 0)
        self._tracked[fid] = t
        entry = self._committed.setdefault(fid, {"path": path, "offset": offset, "gen": t.gen})
        entry["head_len"], entry["head_crc"] = len(head), zlib.crc32(head)
        return t

    def _start_offset(self, path: str, fid: str, st: os.stat_result) -> int:
        saved = self._committed.get(fid)
        if saved is not None:
            return int(saved.get("offset", 0))
        if self._first and not self.read_existing and path not in self._known_paths:
            # A file we have never seen, present at start-up: begin at its end, like
            # `tail -f`. Files that appear later (rotation) are read from the start.
            return st.st_size
        return 0

    def _recover_rotated(self) -> None:
        """After a restart: find saved files that were renamed while we were down."""
        for fid, entry in list(self._committed.items()):
            if fid in self._tracked:
                continue
            path = str(entry.get("path", ""))
            found = None
            directory = os.path.dirname(path) or "."
            try:
                with os.scandir(directory) as it:
                    for de in it:
                        try:
                            st = de.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        if _file_id(st) == fid and de.is_file(follow_symlinks=False):
                            found = (de.path, st)
                            break
            except OSError:
                found = None
            if found is None:
                log.warning("log file %s (id %s) vanished while the agent was down; lines "
                            "after offset %s are lost", path, fid, entry.get("offset"))
                self.stats.files_lost += 1
                del self._committed[fid]
                continue
            t = self._open(found[0], found[1], int(entry.get("offset", 0)))
            if t is not None:
                t.gone = True
                t.mtime = found[1].st_mtime
                self.stats.rotations += 1
                log.info("%s was rotated while the agent was down; finishing %s first",
                         path, found[0])

    def poll(self) -> list[LogLine]:
        """New complete lines since the last poll, older files first."""
        seen: set[str] = set()
        for path in self._expand():
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            except OSError as e:
                self.problems.report(f"log:{path}", f"cannot stat log file {path}: {e}")
                continue
            fid = _file_id(st)
            seen.add(fid)
            t = self._tracked.get(fid)
            if t is None:
                t = self._open(path, st, self._start_offset(path, fid, st))
                if t is None:
                    continue
            old = self._by_path.get(path)
            if old is not None and old != fid and old in self._tracked:
                self._tracked[old].gone = True
                self.stats.rotations += 1
                log.info("%s was rotated; finishing the old file first", path)
            self._by_path[path] = fid
            t.path = path
            t.gone = False
            t.idle_polls = 0
            t.mtime = st.st_mtime
        if self._first:
            self._first = False
            if self._committed:
                self._recover_rotated()
                seen.update(fid for fid, t in self._tracked.items() if t.gone)
        for fid, t in self._tracked.items():
            if fid not in seen:
                t.gone = True
        lines: list[LogLine] = []
        # Rotated-away files first, then by age: older data goes out first.
        order = sorted(self._tracked.values(), key=lambda t: (not t.gone, t.mtime, t.path))
        for t in order:
            self._read(t, lines)
        return lines

    def _read(self, t: _Tracked, out: list[LogLine]) -> None:
        try:
            size = os.fstat(t.fh.fileno()).st_size
            if size < t.offset:
                log.info("%s was truncated; reading it again from the start", t.path)
                self.stats.truncations += 1
                t.offset, t.pending = 0, b""
                t.gen += 1
                self._committed[t.file_id] = {"path": t.path, "offset": 0, "gen": t.gen,
                                              "head_len": 0, "head_crc": 0}
            t.fh.seek(t.offset)
            data = t.fh.read(self.max_read_bytes)
        except OSError as e:
            self.problems.report(f"log:{t.path}", f"cannot read log file {t.path}: {e}")
            return
        start = t.offset - len(t.pending)
        t.offset += len(data)
        self.stats.bytes += len(data)
        buf = t.pending + data if t.pending else data
        pos = 0
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            self._emit(t, buf[pos:nl], start + nl + 1, out)
            pos = nl + 1
        rest = buf[pos:]
        while len(rest) > self.max_line_bytes:
            self._emit(t, rest[:self.max_line_bytes], start + pos + self.max_line_bytes, out)
            pos += self.max_line_bytes
            rest = rest[self.max_line_bytes:]
        t.pending = rest
        if t.gone:
            t.idle_polls = t.idle_polls + 1 if not data else 0
            if t.idle_polls >= self.grace_polls:
                if t.pending:  # nobody will finish this line any more
                    self._emit(t, t.pending, t.offset, out)
                    t.pending = b""
                self._release(t)

    def _emit(self, t: _Tracked, raw: bytes, end: int, out: list[LogLine]) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw:
            return
        self.stats.lines += 1
        out.append(LogLine(t.path, raw.decode("utf-8", "replace"), t.line_id, end))

    def _release(self, t: _Tracked) -> None:
        t.fh.close()
        del self._tracked[t.file_id]
        if self._by_path.get(t.path) == t.file_id:
            del self._by_path[t.path]
        entry = self._committed.get(t.file_id)
        if entry is not None and entry["offset"] < t.offset:
            self._final[t.file_id] = t.offset
        else:
            self._committed.pop(t.file_id, None)

    def close(self) -> None:
        """Close every file handle (positions stay as committed)."""
        for t in self._tracked.values():
            t.fh.close()
        self._tracked.clear()
