"""The hour-of-week profile: learning, interpolation, independence from the sampling rate."""

from __future__ import annotations

import math

import pytest

from streams.anomaly.seasonal import WEEK_MS, profile_at, profile_learn

HOUR = 3_600_000


def weekly(ts: int) -> float:
    """A smooth weekly pattern: a daily cycle, larger on weekdays."""
    day = (ts % WEEK_MS) // (24 * HOUR)
    amp = 10.0 if day < 5 else 4.0
    return 50.0 + amp * math.sin(2 * math.pi * (ts % (24 * HOUR)) / (24 * HOUR))


def learn(step_ms: int, weeks: int, bins: int = 84
          ) -> tuple[list[float | None], list[float]]:
    prof: list[float | None] = [None] * bins
    weights = [0.0] * bins
    t, prev = 0, 0
    while t < weeks * WEEK_MS:
        profile_learn(prof, weights, t, weekly(t), t - prev, 0.25)
        prev, t = t, t + step_ms
    return prof, weights


class TestProfile:
    def test_unvisited_bins_give_none(self) -> None:
        """Nothing is claimed about a time of week never seen."""
        prof: list[float | None] = [None] * 84
        weights = [0.0] * 84
        profile_learn(prof, weights, 0, 1.0, 0, 0.25)
        assert profile_at(prof, weights, WEEK_MS // 2) is None
        assert profile_at(prof, weights, 0) is None  # a placeholder, not yet a visit

    @pytest.mark.parametrize("step_ms", [60_000, 30 * 60_000])
    @pytest.mark.parametrize("weeks", [1, 3])
    def test_learns_the_weekly_pattern(self, step_ms: int, weeks: int) -> None:
        """The first week is learnt exactly, at any sampling rate, and it stays learnt."""
        prof, weights = learn(step_ms, weeks=weeks)
        errors = []
        for h in range(0, 7 * 24, 3):
            expected = profile_at(prof, weights, h * HOUR + 17 * 60_000)
            assert expected is not None
            errors.append(abs(expected - weekly(h * HOUR + 17 * 60_000)))
        assert max(errors) < 2.0  # amplitude is 10; bins are 2 hours wide

    def test_interpolates_between_bin_centres(self) -> None:
        """Half way between two bin centres, the profile is the mean of the two bins."""
        prof: list[float | None] = [float(i) for i in range(84)]
        weights = [1.0] * 84
        width = WEEK_MS // 84
        assert profile_at(prof, weights, width) == pytest.approx(0.5)  # centres 0.5w, 1.5w
        assert profile_at(prof, weights, width + width // 2) == pytest.approx(1.0)

    def test_wraps_around_the_week(self) -> None:
        """The last bin and the first are neighbours."""
        prof: list[float | None] = [*([0.0] * 83), 10.0]
        assert profile_at(prof, [1.0] * 84, WEEK_MS - 1) == pytest.approx(5.0, abs=0.01)

    def test_clip_limits_what_one_day_teaches(self) -> None:
        """With a clip, a wild sample moves a well-known bin by at most rate * clip."""
        prof: list[float | None] = [10.0] * 84
        weights = [4.0] * 84
        width = WEEK_MS // 84
        profile_learn(prof, weights, width // 2, 1e6, width, 0.25, clip=2.0)
        assert prof[0] == pytest.approx(10.0 + 0.25 * 2.0)

    def test_weights_are_capped(self) -> None:
        """After 1/rate visits a bin is an EW mean: its weight stops growing."""
        _, weights = learn(60 * 60_000, weeks=8)
        assert max(weights) == pytest.approx(4.0)
