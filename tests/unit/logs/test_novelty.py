"""Novelty: candidate templates new on a watched host, bounded state, plain-data state."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.logs.novelty import NoveltyConfig, NoveltyTracker

H = 3_600_000  # one hour, the default warm-up
T0 = 1_700_000_000_000


def tracker(**kw: int) -> NoveltyTracker:
    return NoveltyTracker(NoveltyConfig(**kw))


class TestWarmup:
    def test_new_after_warmup_only(self) -> None:
        """Within the warm-up a candidate is remembered, not reported; later ones are."""
        t = tracker()
        t.watch("h1", T0)
        assert not t.is_novel("h1", "tA", T0 + 10 * 60_000)
        assert t.is_novel("h1", "tB", T0 + 2 * H)
        assert not t.is_novel("h1", "tA", T0 + 2 * H)  # seen during the warm-up
        assert not t.is_novel("h1", "tB", T0 + 3 * H)  # reported once

    def test_per_host(self) -> None:
        """A template new on one host is new on another too; each host warms up alone."""
        t = tracker()
        t.watch("h1", T0)
        t.watch("h2", T0 + 2 * H)
        assert t.is_novel("h1", "tA", T0 + 2 * H)
        assert not t.is_novel("h2", "tA", T0 + 2 * H)
        assert not t.is_novel("h3", "tA", T0 + 9 * H)  # never watched: no history

    def test_earlier_line_moves_the_start_back(self) -> None:
        """Out-of-order history counts: the host was watched since its earliest line."""
        t = tracker()
        t.watch("h1", T0 + 2 * H)
        t.watch("h1", T0)
        assert t.is_novel("h1", "tA", T0 + H)


class TestBounds:
    def test_oldest_pair_is_forgotten(self) -> None:
        """Beyond max_pairs the oldest (host, template) is dropped and may be new again."""
        t = tracker(warmup_ms=0, max_pairs=2)
        t.watch("h1", T0)
        assert [t.is_novel("h1", x, T0) for x in ("a", "b", "c")] == [True, True, True]
        assert t.is_novel("h1", "a", T0)
        assert not t.is_novel("h1", "c", T0)

    def test_oldest_host_is_forgotten(self) -> None:
        """Beyond max_hosts the first-watched host is dropped (it warms up again)."""
        t = tracker(max_hosts=2)
        for h in ("h1", "h2", "h3"):
            t.watch(h, T0)
        assert not t.is_novel("h1", "a", T0 + 2 * H)
        assert t.is_novel("h3", "a", T0 + 2 * H)

    @pytest.mark.parametrize("kw", [{"warmup_ms": -1}, {"max_hosts": 0}, {"max_pairs": 0}])
    def test_impossible_configs(self, kw: dict[str, int]) -> None:
        """A negative warm-up or an empty bound cannot be expressed."""
        with pytest.raises(ValueError, match="must be"):
            NoveltyConfig(**kw)


class TestState:
    def test_changed_flag(self) -> None:
        """New hosts and new pairs mark the state changed; repeats do not."""
        t = tracker()
        t.watch("h1", T0)
        assert t.changed
        t.changed = False
        t.watch("h1", T0 + 1)
        t.is_novel("h1", "a", T0)
        assert t.changed
        t.changed = False
        t.is_novel("h1", "a", T0)
        assert not t.changed

    @pytest.mark.parametrize("state", [
        None, [], {"version": 2, "first": {}, "seen": []}, {"version": 1, "first": []},
        {"version": 1, "first": {"h": "x"}, "seen": []},
        {"version": 1, "first": {}, "seen": [["h"]]},
    ])
    def test_bad_state_is_refused(self, state: Any) -> None:
        """Anything but to_state() output raises ValueError (the caller starts fresh)."""
        with pytest.raises(ValueError, match=r"novelty state|bad first-seen|seen entry"):
            NoveltyTracker.from_state(state)

    @given(st.lists(st.tuples(st.sampled_from(["h1", "h2", "h3"]),
                              st.sampled_from(["a", "b", "c", "d"]),
                              st.integers(0, 4 * H)), max_size=40),
           st.lists(st.tuples(st.sampled_from(["h1", "h2", "h3"]),
                              st.sampled_from(["a", "b", "c", "d", "e"]),
                              st.integers(0, 8 * H)), max_size=20))
    def test_round_trip_answers_the_same(self, before: list[tuple[str, str, int]],
                                         after: list[tuple[str, str, int]]) -> None:
        """A tracker rebuilt from its JSON state answers every later question alike."""
        t = tracker(max_pairs=8)
        for host, tid, ts in before:
            t.watch(host, T0 + ts)
            t.is_novel(host, tid, T0 + ts)
        copy = NoveltyTracker.from_state(orjson.loads(orjson.dumps(t.to_state())),
                                         NoveltyConfig(max_pairs=8))
        for host, tid, ts in after:
            for x in (t, copy):
                x.watch(host, T0 + ts)
            assert t.is_novel(host, tid, T0 + ts) == copy.is_novel(host, tid, T0 + ts)
