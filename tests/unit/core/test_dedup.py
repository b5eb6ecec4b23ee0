"""Keep-or-drop by (host, epoch, seq) with bounded state."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.core import dedup
from streams.core.dedup import Verdict, check


def feed(seqs: list[int]) -> list[Verdict]:
    state = None
    out = []
    for s in seqs:
        v, state = check(state, s)
        out.append(v)
    return out


class TestDedup:
    def test_resent_batch_is_dropped(self) -> None:
        """The same seq twice is processed once."""
        assert feed([1, 2, 2, 3]) == [Verdict.NEW, Verdict.NEW, Verdict.DUPLICATE, Verdict.NEW]

    def test_gap_filled_late_is_accepted_once(self) -> None:
        """A seq skipped and arriving late is new the first time only."""
        assert feed([1, 3, 2, 2]) == [Verdict.NEW, Verdict.NEW, Verdict.NEW, Verdict.DUPLICATE]

    def test_far_lower_seq_is_a_restart(self) -> None:
        """An agent that lost its state file starts again and is not dropped forever."""
        got = feed([500_000, 1, 2])
        assert got == [Verdict.NEW, Verdict.RESET, Verdict.NEW]

    def test_state_is_one_window_of_json_safe_integers(self) -> None:
        """One epoch's state stays one window whose bitmask fits a signed 64-bit integer."""
        state = None
        for s in range(0, 10_000, 3):
            _, state = check(state, s)
        assert state is not None and len(state) == 1
        epoch, top, bits, _ = state[0]
        assert (epoch, top) == ("", 9999)
        assert 0 <= bits < 2**63

    @given(st.lists(st.integers(0, 200), max_size=300))
    def test_each_seq_is_new_at_most_once(self, seqs: list[int]) -> None:
        """Whatever the order, no seq is ever accepted twice."""
        state = None
        accepted: list[int] = []
        for s in seqs:
            v, state = check(state, s)
            if v is not Verdict.DUPLICATE:
                accepted.append(s)
        assert len(accepted) == len(set(accepted))

    @given(st.lists(st.integers(0, 10_000), unique=True, max_size=200))
    def test_increasing_seqs_are_all_new(self, seqs: list[int]) -> None:
        """An in-order stream loses nothing."""
        assert all(v is Verdict.NEW for v in feed(sorted(seqs)))

    @given(st.permutations(list(range(dedup.WINDOW))))
    def test_reordering_within_window_loses_nothing(self, seqs: list[int]) -> None:
        """Any order of seqs within the window: each accepted exactly once."""
        got = feed([s + 1000 for s in seqs] + [s + 1000 for s in seqs])
        assert got.count(Verdict.NEW) == dedup.WINDOW


def feed_epochs(events: list[tuple[str, int]], state: dedup.DedupState | None = None
                ) -> list[Verdict]:
    out = []
    for t, (epoch, seq) in enumerate(events):
        v, state = check(state, seq, epoch, ts=1_000 * t)
        out.append(v)
    return out


class TestEpochs:
    def test_producer_restarted_with_wiped_state_loses_nothing(self) -> None:
        """A new epoch numbering from 1 again is new data, however far below the old seq."""
        old = [("a", s) for s in range(5_000, 5_010)]
        new = [("b", s) for s in range(1, 11)]
        got = feed_epochs(old + new)
        assert got[:10] == [Verdict.NEW] * 10
        assert got[10] == Verdict.NEW_EPOCH
        assert got[11:] == [Verdict.NEW] * 9

    def test_late_duplicates_of_the_old_epoch_are_still_dropped(self) -> None:
        """A resend of the old epoch after the new one started is a duplicate, not data."""
        got = feed_epochs([("a", 7), ("a", 8), ("b", 1), ("a", 8), ("b", 1), ("b", 2)])
        assert got == [Verdict.NEW, Verdict.NEW, Verdict.NEW_EPOCH, Verdict.DUPLICATE,
                       Verdict.DUPLICATE, Verdict.NEW]

    def test_two_live_producers_on_one_host_conflict(self) -> None:
        """New data of an older epoch after a newer one took over is a conflict, each time."""
        got = feed_epochs([("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3)])
        assert got == [Verdict.NEW, Verdict.NEW_EPOCH, Verdict.CONFLICT, Verdict.NEW,
                       Verdict.CONFLICT]

    def test_a_conflicting_epoch_is_not_forgotten_while_it_sends(self) -> None:
        """The stale producer keeps its window alive, so it never takes the host back."""
        state = None
        v, state = check(state, 1, "a", ts=0)
        v, state = check(state, 1, "b", ts=1)
        for k in range(2, 30):
            v, state = check(state, k, "a", ts=k * dedup.EPOCH_MEMORY_MS // 4)
            assert v is Verdict.CONFLICT
        assert state[0][0] == "b"

    def test_old_epochs_are_bounded_and_forgotten(self) -> None:
        """At most MAX_EPOCHS windows, and an old epoch is forgotten after its memory."""
        state = None
        for i in range(10):
            _, state = check(state, 1, f"e{i}", ts=i)
        assert state is not None and len(state) == dedup.MAX_EPOCHS
        _, state = check(state, 1, "late", ts=dedup.EPOCH_MEMORY_MS + 100)
        assert [w[0] for w in state] == ["late"]

    def test_state_from_before_epochs_is_read(self) -> None:
        """[top, bits] (the changelog of older workers) is the window of epoch ""."""
        legacy = [100, 0b1]
        assert check(legacy, 99)[0] is Verdict.DUPLICATE
        assert check(legacy, 100)[0] is Verdict.DUPLICATE
        assert check(legacy, 101)[0] is Verdict.NEW
        v, state = check(legacy, 1, "new-agent", ts=5)
        assert v is Verdict.NEW_EPOCH
        assert state[0] == ["new-agent", 1, 0, 5]
        assert state[1][:3] == ["", 100, 1]

    def test_epoch_of_reads_the_optional_field(self) -> None:
        """A batch without an epoch has the empty epoch."""
        assert dedup.epoch_of({"epoch": "x1"}) == "x1"
        assert dedup.epoch_of({}) == ""

    @given(st.lists(st.tuples(st.sampled_from(["", "a", "b", "c"]), st.integers(0, 80)),
                    max_size=300))
    def test_each_epoch_and_seq_is_accepted_at_most_once(
            self, events: list[tuple[str, int]]) -> None:
        """Whatever the interleaving of epochs, no (epoch, seq) is ever accepted twice."""
        accepted = [e for e, v in zip(events, feed_epochs(events), strict=True)
                    if v in (Verdict.NEW, Verdict.NEW_EPOCH, Verdict.RESET)]
        assert len(accepted) == len(set(accepted))

    @given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), min_size=1, max_size=50))
    def test_state_stays_bounded(self, epochs: list[str]) -> None:
        """However many epochs a host goes through, its state holds at most MAX_EPOCHS."""
        state = None
        for i, e in enumerate(epochs):
            _, state = check(state, i, e, ts=i)
            assert state is not None and 1 <= len(state) <= dedup.MAX_EPOCHS
