"""The log tailer: new lines, partial lines, rotation, truncation, restarts without loss."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from producers.logtail import LogLine, LogTailer
from producers.problems import Problems

Make = Callable[..., LogTailer]


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def texts(lines: list[LogLine]) -> list[str]:
    return [ln.text for ln in lines]


@pytest.fixture
def make() -> Iterator[Callable[..., LogTailer]]:
    """Build tailers and close them (their file handles) after the test."""
    made: list[LogTailer] = []

    def factory(*args: Any, **kwargs: Any) -> LogTailer:
        t = LogTailer(*args, **kwargs)
        made.append(t)
        return t

    yield factory
    for t in made:
        t.close()


def commit_all(t: LogTailer, lines: list[LogLine]) -> None:
    for ln in lines:
        t.commit(ln.file_id, ln.offset)


class TestBasics:
    def test_existing_file_starts_at_end_on_first_run(self, make: Make, tmp_path: Path) -> None:
        """Like tail -f: a file that was already there is followed from its end."""
        log = tmp_path / "app.log"
        append(log, "old 1\nold 2\n")
        t = make([str(tmp_path / "*.log")])
        assert t.poll() == []
        append(log, "new 1\n")
        assert texts(t.poll()) == ["new 1"]

    def test_read_existing(self, make: Make, tmp_path: Path) -> None:
        """With read_existing the whole file is read."""
        log = tmp_path / "app.log"
        append(log, "a\nb\n")
        assert texts(make([str(log)], read_existing=True).poll()) == ["a", "b"]

    def test_partial_line_waits_for_its_end(self, make: Make, tmp_path: Path) -> None:
        """A line without its newline yet is held back, then emitted whole."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)])
        t.poll()
        append(log, "hel")
        assert t.poll() == []
        append(log, "lo\r\nworld\n")
        lines = t.poll()
        assert texts(lines) == ["hello", "world"]
        assert lines[-1].offset == log.stat().st_size

    def test_file_created_later_is_read_from_start(self, make: Make, tmp_path: Path) -> None:
        """A file that appears after start-up is read from its first byte."""
        t = make([str(tmp_path / "*.log")])
        t.poll()
        append(tmp_path / "late.log", "x\ny\n")
        assert texts(t.poll()) == ["x", "y"]

    def test_overlong_line_is_split(self, make: Make, tmp_path: Path) -> None:
        """A runaway line without newline is cut at max_line_bytes instead of growing forever."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)], max_line_bytes=10)
        t.poll()
        append(log, "x" * 25)
        assert texts(t.poll()) == ["x" * 10, "x" * 10]

    def test_invalid_utf8_is_replaced_not_fatal(self, make: Make, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 do not stop the tailer."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)])
        t.poll()
        with open(log, "ab") as f:
            f.write(b"bad \xff byte\n")
        assert texts(t.poll()) == ["bad \ufffd byte"]


class TestRotation:
    def test_rename_and_create_loses_nothing(self, make: Make, tmp_path: Path) -> None:
        """logrotate's create mode: the rest of the old file comes first, then the new file."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)], grace_polls=1)
        t.poll()
        append(log, "1\n2\n")
        assert texts(t.poll()) == ["1", "2"]
        append(log, "3\n")  # written before rotation, not yet read
        os.rename(log, tmp_path / "app.log.1")
        append(log, "4\n")
        assert texts(t.poll()) == ["3", "4"]
        assert t.stats.rotations == 1

    def test_rotated_file_matching_the_glob_is_not_read_twice(self, make: Make,
                                                              tmp_path: Path) -> None:
        """app.log -> app.log.1 under a glob matching both is the same file: no duplicates."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(tmp_path / "app.log*")])
        t.poll()
        append(log, "a\n")
        assert texts(t.poll()) == ["a"]
        os.rename(log, tmp_path / "app.log.1")
        append(log, "b\n")
        assert texts(t.poll()) == ["b"]
        assert t.poll() == []

    def test_late_writer_to_the_rotated_file(self, make: Make, tmp_path: Path) -> None:
        """A program still writing to the renamed file for a moment is followed for a while."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)], grace_polls=3)
        t.poll()
        os.rename(log, tmp_path / "app.log.1")
        append(log, "new\n")
        assert texts(t.poll()) == ["new"]
        append(tmp_path / "app.log.1", "late\n")
        assert texts(t.poll()) == ["late"]

    def test_copytruncate(self, make: Make, tmp_path: Path) -> None:
        """A file truncated in place is read again from its start."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)])
        t.poll()
        append(log, "one\ntwo\n")
        t.poll()
        with open(log, "w", encoding="utf-8") as f:
            f.write("three\n")
        lines = t.poll()
        assert texts(lines) == ["three"]
        assert t.stats.truncations == 1
        commit_all(t, lines)
        assert next(iter(t.positions().values()))["offset"] == len("three\n")

    def test_truncation_voids_positions_of_the_old_content(
            self, make: Make, tmp_path: Path) -> None:
        """A late acknowledgement of pre-truncation lines cannot move the position past new data."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)])
        t.poll()
        append(log, "a long line before truncation\n")
        old = t.poll()
        log.write_text("")
        t.poll()
        append(log, "x\n")
        new = t.poll()
        commit_all(t, new)
        commit_all(t, old)  # acknowledged late
        saved = t.positions()
        append(log, "y\n")
        assert texts(make([str(log)], saved=saved).poll()) == ["y"]

    def test_deleted_file_is_drained(self, make: Make, tmp_path: Path) -> None:
        """Lines written just before a file is deleted are still read through the open handle."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)], grace_polls=1)
        t.poll()
        append(log, "last words\n")
        log.unlink()
        assert texts(t.poll()) == ["last words"]


class TestRestart:
    def test_resume_from_committed_position(self, make: Make, tmp_path: Path) -> None:
        """A restarted tailer continues after the last committed line: nothing lost, no repeat."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)])
        t.poll()
        append(log, "a\nb\n")
        commit_all(t, t.poll())
        saved = t.positions()
        t.close()
        append(log, "c\n")  # written while the agent was down
        t2 = make([str(log)], saved=saved)
        assert texts(t2.poll()) == ["c"]

    def test_uncommitted_lines_are_sent_again(self, make: Make, tmp_path: Path) -> None:
        """Lines read but never made durable are read again after a crash (at-least-once)."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)])
        t.poll()
        append(log, "a\nb\nc\n")
        lines = t.poll()
        t.commit(lines[0].file_id, lines[0].offset)  # only "a" was delivered
        saved = t.positions()
        t2 = make([str(log)], saved=saved)
        assert texts(t2.poll()) == ["b", "c"]

    def test_rotation_while_down(self, make: Make, tmp_path: Path) -> None:
        """A file rotated while the agent was down is finished from the old file, then the new."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)])
        t.poll()
        append(log, "a\n")
        commit_all(t, t.poll())
        saved = t.positions()
        t.close()
        append(log, "b\n")
        os.rename(log, tmp_path / "app.log.1")
        append(log, "c\n")
        t2 = make([str(log)], saved=saved)
        assert texts(t2.poll()) == ["b", "c"]

    def test_file_gone_while_down_is_counted(self, make: Make, tmp_path: Path) -> None:
        """A saved file that vanished entirely is reported as lost, and the new one read."""
        log = tmp_path / "app.log"
        log.write_text("")
        t = make([str(log)])
        t.poll()
        append(log, "a\n")
        commit_all(t, t.poll())
        saved = t.positions()
        t.close()
        log.unlink()
        append(log, "fresh\n")  # the file system may well reuse the inode number
        t2 = make([str(log)], saved=saved)
        assert texts(t2.poll()) == ["fresh"]
        assert t2.stats.files_lost + t2.stats.truncations == 1


class TestErrors:
    def test_unreadable_file_reported_once_and_retried(
            self, make: Make, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        """A permission error is said once, counted, and the file is picked up once readable."""
        log = tmp_path / "app.log"
        append(log, "x\n")
        import builtins

        real_open = builtins.open
        denied = {"on": True}

        def fake_open(path: Any, *a: Any, **k: Any) -> Any:
            if denied["on"] and str(path) == str(log):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *a, **k)

        monkeypatch.setattr("producers.logtail.open", fake_open, raising=False)
        problems = Problems()
        t = make([str(log)], problems=problems, read_existing=True)
        for _ in range(3):
            assert t.poll() == []
        assert problems.counts[f"log:{log}"] == 3
        denied["on"] = False
        assert texts(t.poll()) == ["x"]
        assert not problems.is_active(f"log:{log}")
