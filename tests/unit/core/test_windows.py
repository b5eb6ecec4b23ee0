"""Event-time windows: membership, closing by watermark, lateness, bounded history."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.windows import WindowSpec, add, close_due, new_state, percentile

TUMBLE = WindowSpec(size_ms=60_000, lateness_ms=5_000, keep=3)
HOP = WindowSpec(size_ms=60_000, hop_ms=20_000, lateness_ms=0)


class TestTumbling:
    def test_window_closes_after_end_plus_lateness(self) -> None:
        """[0, 60s) closes once the watermark reaches 65s, not before."""
        s = new_state()
        for t in range(0, 60_000, 10_000):
            add(s, TUMBLE, t, float(t // 10_000), watermark=t)
        assert close_due(s, TUMBLE, 64_999) == []
        closed = close_due(s, TUMBLE, 65_000)
        assert closed == [[0, 0.0, 5.0, 2.5, 6, 5.0]]

    def test_late_event_within_lateness_is_included(self) -> None:
        """An event 3s late lands in its own window while that is still open."""
        s = new_state()
        add(s, TUMBLE, 10_000, 1.0, watermark=10_000)
        assert add(s, TUMBLE, 59_000, 9.0, watermark=62_000)
        assert close_due(s, TUMBLE, 70_000)[0][2] == 9.0

    def test_too_late_event_is_counted_not_mixed(self) -> None:
        """After its window closed, an event is counted and goes nowhere else."""
        s = new_state()
        add(s, TUMBLE, 10_000, 1.0, watermark=10_000)
        close_due(s, TUMBLE, 70_000)
        assert not add(s, TUMBLE, 30_000, 100.0, watermark=70_000)
        assert s["late"] == 1
        assert s["o"] == {}

    def test_silent_series_closes_on_clock_alone(self) -> None:
        """No further events needed: a later watermark from a tick closes the window."""
        s = new_state()
        add(s, TUMBLE, 1_000, 3.0, watermark=1_000)
        assert len(close_due(s, TUMBLE, 3_600_000)) == 1

    def test_history_is_bounded(self) -> None:
        """Only the newest `keep` closed windows are kept."""
        s = new_state()
        for m in range(10):
            add(s, TUMBLE, m * 60_000, float(m), watermark=m * 60_000)
            close_due(s, TUMBLE, m * 60_000 + 65_000)
        assert [w[0] for w in s["c"]] == [420_000, 480_000, 540_000]


class TestHopping:
    def test_event_belongs_to_size_over_hop_windows(self) -> None:
        """With size 60s and hop 20s, each event is in three windows."""
        s = new_state()
        add(s, HOP, 45_000, 1.0, watermark=45_000)
        assert sorted(int(k) for k in s["o"]) == [0, 20_000, 40_000]

    @given(st.integers(0, 10**9))
    def test_membership_is_exact(self, ts: int) -> None:
        """Every window an event joins contains it, and there are size/hop of them."""
        s = new_state()
        add(s, HOP, ts, 1.0, watermark=0)
        starts = [int(k) for k in s["o"]]
        assert len(starts) == 3
        assert all(st_ <= ts < st_ + 60_000 and st_ % 20_000 == 0 for st_ in starts)


class TestPercentile:
    def test_nearest_rank(self) -> None:
        """p95 of 1..100 is 95 and p50 is 50."""
        vals = [float(i) for i in range(1, 101)]
        assert percentile(vals, 0.95) == 95.0
        assert percentile(vals, 0.5) == 50.0

    def test_single_value(self) -> None:
        """Any percentile of one value is that value."""
        assert percentile([7.0], 0.95) == pytest.approx(7.0)
