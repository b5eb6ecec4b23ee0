"""The daily and weekly profiles: binning, learning visit by visit, clipping."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.anomaly.seasonal import DAY_MS, WEEK_MS, profile_bin, profile_fold

HOUR = 3_600_000


def weekly(ts: int) -> float:
    """A weekly pattern: a daily cycle, larger on weekdays."""
    day = (ts % WEEK_MS) // (24 * HOUR)
    amp = 10.0 if day < 5 else 4.0
    return 50.0 + amp * math.sin(2 * math.pi * (ts % (24 * HOUR)) / (24 * HOUR))


def learn(step_ms: int, weeks: int, bins: int = 84, period: int = WEEK_MS
          ) -> tuple[list[float], list[int]]:
    """A profile learnt visit by visit, as the detector does."""
    values, visits = [0.0] * bins, [0] * bins
    cur, total, count = -1, 0.0, 0
    for t in range(0, weeks * WEEK_MS, step_ms):
        b = profile_bin(t, period, bins)
        if b != cur:
            if count:
                profile_fold(values, visits, cur, total / count, 0.25)
            cur, total, count = b, 0.0, 0
        total, count = total + weekly(t), count + 1
    return values, visits


class TestBins:
    """Which bin a time falls in."""

    @given(st.integers(0, 2**50), st.sampled_from([(DAY_MS, 48), (WEEK_MS, 84), (DAY_MS, 7)]))
    def test_in_range_and_periodic(self, t: int, shape: tuple[int, int]) -> None:
        """A bin is in [0, bins) and the same one period later."""
        period, bins = shape
        b = profile_bin(t, period, bins)
        assert 0 <= b < bins
        assert profile_bin(t + period, period, bins) == b

    def test_half_hours_of_the_day(self) -> None:
        """48 daily bins are the half-hours, from midnight UTC."""
        assert [profile_bin(m * 60_000, DAY_MS, 48) for m in (0, 29, 30, 719, 1439)] == \
            [0, 0, 1, 23, 47]


class TestProfile:
    """Learning a profile."""

    @pytest.mark.parametrize("step_ms", [60_000, 30 * 60_000])
    @pytest.mark.parametrize("weeks", [1, 3])
    def test_learns_the_weekly_pattern_at_any_rate(self, step_ms: int, weeks: int) -> None:
        """Each bin is the mean of what its visits saw, whatever the sampling rate."""
        values, visits = learn(step_ms, weeks=weeks)
        width = WEEK_MS // 84
        for b in range(0, 84, 5):
            assert visits[b] == weeks - (1 if b == 83 else 0) or visits[b] == weeks
            mid = weekly(b * width + width // 2)
            assert values[b] == pytest.approx(mid, abs=1.5)  # amplitude 10, 2-hour bins

    def test_first_visits_are_averaged_then_an_ew_mean(self) -> None:
        """Visits 1-4 are averaged; from the fifth, a visit weighs `rate`."""
        values, visits = [0.0], [0]
        for mean in (10.0, 20.0, 30.0, 40.0):
            profile_fold(values, visits, 0, mean, 0.25)
        assert values[0] == pytest.approx(25.0) and visits[0] == 4
        profile_fold(values, visits, 0, 65.0, 0.25)
        assert values[0] == pytest.approx(25.0 + 0.25 * 40.0) and visits[0] == 4

    def test_clip_limits_what_one_day_teaches(self) -> None:
        """With a clip, a wild visit moves a known bin by at most its weight times the clip."""
        values, visits = [10.0] * 84, [4] * 84
        profile_fold(values, visits, 0, 1e6, 0.25, clip=2.0)
        assert values[0] == pytest.approx(10.0 + 0.25 * 2.0)

    def test_values_are_kept_short(self) -> None:
        """A learnt value has at most 9 significant digits (a short JSON number)."""
        values, visits = [0.0], [0]
        profile_fold(values, visits, 0, 1 / 3, 0.25)
        profile_fold(values, visits, 0, 2 / 7, 0.25)
        assert len(repr(values[0]).replace("0.", "").lstrip("0")) <= 9
