"""Keep-or-drop by (host, seq) with bounded state."""

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

    def test_state_is_two_json_safe_integers(self) -> None:
        """The state stays bounded and fits a signed 64-bit integer."""
        state = None
        for s in range(0, 10_000, 3):
            _, state = check(state, s)
        assert state is not None and len(state) == 2
        assert 0 <= state[1] < 2**63

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
