"""The spill buffer: order, bound, spill to disk, persistence across restarts."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.buffer import Record, SpillBuffer


def rec(i: int, token: object = None) -> Record:
    return Record("t", f"h{i % 3}".encode(), str(i).encode(), token)


def drain(b: SpillBuffer, n: int = 7) -> list[int]:
    out: list[int] = []
    while len(b):
        got = b.peek(n)
        b.pop(len(got))
        out.extend(int(r.value) for r in got)
    return out


class TestMemory:
    def test_fifo(self, tmp_path: Path) -> None:
        """Records leave in the order they came."""
        b = SpillBuffer(max_items=100, memory_items=100, spill_path=tmp_path / "s")
        for i in range(10):
            b.append(rec(i))
        assert drain(b) == list(range(10))

    def test_peek_does_not_remove(self, tmp_path: Path) -> None:
        """peek shows the front without taking it; pop takes exactly what was peeked."""
        b = SpillBuffer(max_items=10, memory_items=10, spill_path=None)
        for i in range(3):
            b.append(rec(i))
        assert [r.value for r in b.peek(2)] == [b"0", b"1"]
        assert len(b) == 3
        b.pop(2)
        assert [r.value for r in b.peek(5)] == [b"2"]


class TestSpill:
    def test_spills_beyond_memory_and_keeps_order(self, tmp_path: Path) -> None:
        """Past memory_items records go to the file; draining returns all of them in order."""
        b = SpillBuffer(max_items=1000, memory_items=5, spill_path=tmp_path / "s")
        for i in range(50):
            b.append(rec(i))
        assert b.spilled == 45
        assert (tmp_path / "s").exists()
        b.append(rec(50))
        assert drain(b) == list(range(51))
        assert not (tmp_path / "s").exists()

    def test_interleaved_appends_while_draining(self, tmp_path: Path) -> None:
        """New records during a drain still come after everything already spilled."""
        b = SpillBuffer(max_items=1000, memory_items=4, spill_path=tmp_path / "s")
        out: list[int] = []
        n = 0
        for _ in range(20):
            for _ in range(3):
                b.append(rec(n))
                n += 1
            got = b.peek(2)
            b.pop(len(got))
            out.extend(int(r.value) for r in got)
        out.extend(drain(b))
        assert out == list(range(n))

    def test_spilled_records_are_durable_at_once(self, tmp_path: Path) -> None:
        """A record written to the spill file reports its token done (it survives a restart)."""
        done: list[object] = []
        b = SpillBuffer(max_items=100, memory_items=2, spill_path=tmp_path / "s",
                        on_done=done.append)
        for i in range(4):
            b.append(rec(i, token=i))
        assert done == [2, 3]
        b.close()


class TestBound:
    def test_overflow_drops_oldest_and_counts(self, tmp_path: Path) -> None:
        """At the bound the oldest record goes, is counted, and its token is released."""
        done: list[object] = []
        b = SpillBuffer(max_items=5, memory_items=2, spill_path=tmp_path / "s",
                        on_done=done.append)
        for i in range(8):
            b.append(rec(i, token=f"t{i}"))
        assert b.dropped == 3
        assert {"t0", "t1", "t2"} <= set(done)
        assert drain(b) == [3, 4, 5, 6, 7]


class TestPersistence:
    def test_close_persists_and_reopen_resumes_in_order(self, tmp_path: Path) -> None:
        """Unsent records survive a clean restart, memory part first."""
        path = tmp_path / "s"
        b = SpillBuffer(max_items=100, memory_items=3, spill_path=path)
        for i in range(10):
            b.append(rec(i))
        b.pop(len(b.peek(2)))
        b.close()
        again = SpillBuffer(max_items=100, memory_items=3, spill_path=path)
        assert len(again) == 8
        again.append(rec(10))
        assert drain(again) == list(range(2, 11))
        first = again.peek(1)
        assert first == []

    def test_topic_and_key_survive(self, tmp_path: Path) -> None:
        """Persisted records keep their topic and key."""
        path = tmp_path / "s"
        b = SpillBuffer(max_items=10, memory_items=10, spill_path=path)
        b.append(Record("rackwatch.logs", b"host-7", b"{}"))
        b.close()
        (r,) = SpillBuffer(max_items=10, memory_items=10, spill_path=path).peek(1)
        assert (r.topic, r.key, r.value) == ("rackwatch.logs", b"host-7", b"{}")

    def test_torn_tail_is_ignored(self, tmp_path: Path) -> None:
        """A record cut short by a crash ends the file cleanly instead of sending garbage."""
        path = tmp_path / "s"
        b = SpillBuffer(max_items=10, memory_items=10, spill_path=path)
        for i in range(3):
            b.append(rec(i))
        b.close()
        with open(path, "ab") as f:
            f.write(b"\x00\x00\x00\x30\x12\x34\x56\x78abc")  # promises 48 bytes, has 3
        again = SpillBuffer(max_items=10, memory_items=10, spill_path=path)
        assert drain(again) == [0, 1, 2]
        assert again.corrupt == 1

    def test_no_spill_path_counts_losses_at_close(self) -> None:
        """Without a spill file, what is left at close is counted as dropped."""
        b = SpillBuffer(max_items=10, memory_items=10, spill_path=None)
        b.append(rec(1))
        b.close()
        assert b.dropped == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("add"), st.integers(1, 9)),
                          st.tuples(st.just("take"), st.integers(1, 9))), max_size=40),
       st.integers(1, 6), st.integers(1, 30))
def test_behaves_like_a_bounded_deque(tmp_path_factory: object, ops: list[tuple[str, int]],
                                      memory: int, bound: int) -> None:
    """Any mix of appends and takes matches a bounded deque that drops its oldest entries."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        b = SpillBuffer(max_items=bound, memory_items=min(memory, bound),
                        spill_path=Path(d) / "s")
        model: deque[int] = deque()
        n = 0
        dropped = 0
        for op, k in ops:
            if op == "add":
                for _ in range(k):
                    if len(model) >= bound:
                        model.popleft()
                        dropped += 1
                    model.append(n)
                    b.append(rec(n))
                    n += 1
            else:
                got = b.peek(k)  # up to k: at most what memory holds
                b.pop(len(got))
                assert len(got) >= min(k, len(model), memory, bound)
                want = [model.popleft() for _ in range(len(got))]
                assert [int(r.value) for r in got] == want
            assert len(b) == len(model)
        assert b.dropped == dropped
        assert drain(b) == list(model)
        b.close()
