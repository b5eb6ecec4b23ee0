"""The daily and weekly profiles: binning, learning, independence from the sampling rate."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.anomaly.seasonal import DAY_MS, WEEK_MS, profile_at, profile_bin, profile_learn

HOUR = 3_600_000


def weekly(ts: int) -> float:
    """A weekly pattern: a daily cycle, larger on weekdays."""
    day = (ts % WEEK_MS) // (24 * HOUR)
    amp = 10.0 if day < 5 else 4.0
    return 50.0 + amp * math.sin(2 * math.pi * (ts % (24 * HOUR)) / (24 * HOUR))


def learn(step_ms: int, weeks: int, bins: int = 84, period: int = WEEK_MS
          ) -> tuple[list[float | None], list[float]]:
    prof: list[float | None] = [None] * bins
    weights = [0.0] * bins
    t, prev = 0, 0
    while t < weeks * WEEK_MS:
        profile_learn(prof, weights, profile_bin(t, period, bins), weekly(t), t - prev, period,
                      0.25)
        prev, t = t, t + step_ms
    return prof, weights


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

    def test_unvisited_bins_give_none(self) -> None:
        """Nothing is claimed about a time never seen, nor from a mere placeholder."""
        prof: list[float | None] = [None] * 84
        weights = [0.0] * 84
        profile_learn(prof, weights, 0, 1.0, 0, WEEK_MS, 0.25)
        assert profile_at(prof, weights, 42) is None
        assert profile_at(prof, weights, 0) is None  # a placeholder, not yet a visit

    @pytest.mark.parametrize("step_ms", [60_000, 30 * 60_000])
    @pytest.mark.parametrize("weeks", [1, 3])
    def test_learns_the_weekly_pattern(self, step_ms: int, weeks: int) -> None:
        """The first week is learnt, at any sampling rate, and it stays learnt."""
        prof, weights = learn(step_ms, weeks=weeks)
        errors = []
        for h in range(0, 7 * 24, 3):
            t = h * HOUR + 17 * 60_000
            expected = profile_at(prof, weights, profile_bin(t, WEEK_MS, 84))
            assert expected is not None
            errors.append(abs(expected - weekly(t)))
        assert max(errors) < 3.0  # amplitude is 10; bins are 2 hours wide

    def test_a_square_wave_keeps_its_edges(self) -> None:
        """Bins are not interpolated: a level switched on at 08:00 is learnt flat to the edge."""
        prof: list[float | None] = [None] * 48
        weights = [0.0] * 48
        prev = 0
        for t in range(0, 3 * DAY_MS, 5 * 60_000):
            x = 80.0 if 8 * HOUR <= t % DAY_MS < 20 * HOUR else 20.0
            profile_learn(prof, weights, profile_bin(t, DAY_MS, 48), x, t - prev, DAY_MS, 0.25)
            prev = t
        assert prof[15] == pytest.approx(20.0) and prof[16] == pytest.approx(80.0)

    def test_weights_are_capped(self) -> None:
        """After 1/rate visits a bin is an EW mean: its weight stops growing."""
        _, weights = learn(60 * 60_000, weeks=8)
        assert max(weights) == pytest.approx(4.0)

    def test_an_ew_mean_across_periods(self) -> None:
        """Once capped, one more visit moves a bin by rate times the difference."""
        prof: list[float | None] = [10.0] * 84
        weights = [4.0] * 84
        profile_learn(prof, weights, 3, 30.0, WEEK_MS // 84, WEEK_MS, 0.25)
        assert prof[3] == pytest.approx(10.0 + 0.25 * 20.0)

    def test_clip_limits_what_one_day_teaches(self) -> None:
        """With a clip, a wild sample moves a known bin by at most its share times the clip."""
        prof: list[float | None] = [10.0] * 84
        weights = [4.0] * 84
        profile_learn(prof, weights, 0, 1e6, WEEK_MS // 84, WEEK_MS, 0.25, clip=2.0)
        assert prof[0] == pytest.approx(10.0 + 0.25 * 2.0)
