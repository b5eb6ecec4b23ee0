"""Event-time windows: membership, closing by watermark, lateness, bounded history."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.layout import ArrayCache
from streams.core.windows import (
    WindowSpec,
    accepting_starts,
    add_many,
    add_one,
    close_due,
    minutes,
    new_state,
    next_due,
    percentile,
)

TUMBLE = WindowSpec(size_ms=60_000, lateness_ms=5_000, keep=3)
HOP = WindowSpec(size_ms=60_000, hop_ms=20_000, lateness_ms=0)


def state_with(*keys: str) -> dict[str, Any]:
    s = new_state()
    s["k"].extend(keys)
    return s


def put(s: dict[str, Any], spec: WindowSpec, ts: int, j: int, value: float,
        watermark: int | None = None) -> bool:
    """add_one at ts; False when the value was too late for every window."""
    starts = accepting_starts(spec, ts, ts if watermark is None else watermark)
    if starts:
        add_one(s, spec, starts, j, value)
    return bool(starts)


class TestTumbling:
    def test_window_closes_after_end_plus_lateness(self) -> None:
        """[0, 60s) closes once the watermark reaches 65s, not before."""
        s = state_with("a")
        for t in range(0, 60_000, 10_000):
            put(s, TUMBLE, t, 0, float(t // 10_000))
        assert close_due(s, TUMBLE, 64_999) == 0
        assert close_due(s, TUMBLE, 65_000) == 1
        assert minutes(s, 0) == [[0, 0.0, 5.0, 2.5, 6]]

    def test_late_event_within_lateness_is_included(self) -> None:
        """An event 3s late lands in its own window while that is still open."""
        s = state_with("a")
        put(s, TUMBLE, 10_000, 0, 1.0)
        assert put(s, TUMBLE, 59_000, 0, 9.0, watermark=62_000)
        close_due(s, TUMBLE, 70_000)
        assert minutes(s, 0)[0][2] == 9.0

    def test_too_late_event_goes_nowhere(self) -> None:
        """After its window closed, an event has no window to go to."""
        s = state_with("a")
        put(s, TUMBLE, 10_000, 0, 1.0)
        close_due(s, TUMBLE, 70_000)
        assert not put(s, TUMBLE, 30_000, 0, 100.0, watermark=70_000)
        assert s["o"] == {}

    def test_silent_series_closes_on_clock_alone(self) -> None:
        """No further events needed: a later watermark from a tick closes the window."""
        s = state_with("a")
        put(s, TUMBLE, 1_000, 0, 3.0)
        assert next_due(s, TUMBLE) == 65_000
        assert close_due(s, TUMBLE, 3_600_000) == 1
        assert next_due(s, TUMBLE) is None

    def test_history_is_bounded(self) -> None:
        """Only the newest `keep` closed windows are kept."""
        s = state_with("a")
        for m in range(10):
            put(s, TUMBLE, m * 60_000, 0, float(m))
            close_due(s, TUMBLE, m * 60_000 + 65_000)
        assert [w[0] for w in minutes(s, 0)] == [420_000, 480_000, 540_000]
        assert len(s["c"]) == 3

    def test_sparse_series_keeps_its_own_last_windows(self) -> None:
        """A series with data in one window of four still has its last `keep` windows,
        while a busy series' windows leave the history on time."""
        s = state_with("busy", "sparse")
        for m in range(20):
            put(s, TUMBLE, m * 60_000, 0, float(m))
            if m % 4 == 0:
                put(s, TUMBLE, m * 60_000, 1, -float(m))
            close_due(s, TUMBLE, m * 60_000 + 65_000)
        assert [w[0] // 60_000 for w in minutes(s, 1)] == [8, 12, 16]
        assert [w[1] for w in minutes(s, 1)] == [-8.0, -12.0, -16.0]
        assert [w[0] // 60_000 for w in minutes(s, 0)] == [17, 18, 19]

    def test_series_added_later_reads_as_absent_before(self) -> None:
        """Windows that closed before a series existed have no entry for it."""
        s = state_with("a")
        put(s, TUMBLE, 0, 0, 1.0)
        close_due(s, TUMBLE, 65_000)
        s["k"].append("b")
        put(s, TUMBLE, 70_000, 1, 2.0)
        close_due(s, TUMBLE, 130_000)
        assert minutes(s, 1) == [[60_000, 2.0, 2.0, 2.0, 1]]
        assert minutes(s, 0) == [[0, 1.0, 1.0, 1.0, 1]]


class TestPercentileOption:
    def test_no_values_kept_by_default(self) -> None:
        """Without a percentile, open windows hold four numbers per series, no values."""
        s = state_with("a")
        for t in range(0, 60_000, 10_000):
            put(s, TUMBLE, t, 0, float(t))
        assert [len(c) for c in s["o"]["0"]] == [1, 1, 1, 1]
        assert len(s["o"]["0"]) == 4

    def test_percentile_summarised_when_asked(self) -> None:
        """With percentile=0.95 a closed window carries the nearest-rank p95."""
        spec = WindowSpec(percentile=0.95)
        s = state_with("a")
        for i in range(1, 21):
            put(s, spec, i * 1000, 0, float(i))
        close_due(s, spec, 70_000)
        assert minutes(s, 0) == [[0, 1.0, 20.0, 10.5, 20, 19.0]]


class TestHopping:
    def test_event_belongs_to_size_over_hop_windows(self) -> None:
        """With size 60s and hop 20s, each event is in three windows."""
        assert accepting_starts(HOP, 45_000, 45_000) == [0, 20_000, 40_000]

    @given(st.integers(0, 10**9))
    def test_membership_is_exact(self, ts: int) -> None:
        """Every window an event joins contains it, and there are size/hop of them."""
        starts = accepting_starts(HOP, ts, 0)
        assert len(starts) == 3
        assert all(s <= ts < s + 60_000 and s % 20_000 == 0 for s in starts)


class TestColumnsAtOnce:
    @given(st.lists(st.tuples(st.lists(st.integers(0, 5), max_size=6, unique=True),
                              st.lists(st.floats(-1e6, 1e6), min_size=6, max_size=6),
                              st.integers(0, 200_000)), max_size=12),
           st.sampled_from([TUMBLE, HOP, WindowSpec(percentile=0.5, keep=2)]))
    def test_add_many_equals_add_one(self, batches: list[tuple[list[int], list[float], int]],
                                     spec: WindowSpec) -> None:
        """Adding a batch's columns at once leaves what adding them one by one leaves."""
        one = state_with(*"abcdef")
        many = copy.deepcopy(one)
        cache = ArrayCache()
        watermark = 0
        for cols, vals, ts in batches:
            watermark = max(watermark, ts)
            starts = accepting_starts(spec, ts, watermark)
            values = [vals[j] for j in cols]
            if not starts or not cols:
                continue
            for j, x in zip(cols, values, strict=True):
                add_one(one, spec, starts, j, x)
            full = cols == list(range(6))
            add_many(many, spec, starts, None if full else np.array(cols, dtype=np.intp),
                     np.array(values), values, cache)
            assert close_due(one, spec, watermark) == close_due(many, spec, watermark)
        assert one == many


class TestPercentile:
    def test_nearest_rank(self) -> None:
        """p95 of 1..100 is 95 and p50 is 50."""
        vals = [float(i) for i in range(1, 101)]
        assert percentile(vals, 0.95) == 95.0
        assert percentile(vals, 0.5) == 50.0

    def test_single_value(self) -> None:
        """Any percentile of one value is that value."""
        assert percentile([7.0], 0.95) == pytest.approx(7.0)
