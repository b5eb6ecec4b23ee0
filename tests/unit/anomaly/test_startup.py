"""A fresh series' first judgements: quiet on steady series, new things once (issue 13)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from streams.anomaly import AnomalyParams
from tests.unit.anomaly.helpers import episodes, noise, run


def _lagged(rng: random.Random) -> Callable[[], float]:
    """A first-order lag of uniform noise plus uniform noise, 0.1-rounded (a GPU's
    temperature under a steady load)."""
    lag = [0.0]

    def draw() -> float:
        lag[0] += (rng.uniform(-1.0, 1.0) - lag[0]) * 0.2
        return round(68.0 + 3.0 * lag[0] + rng.uniform(-0.5, 0.5), 1)
    return draw


STEADY: dict[str, Callable[[random.Random], Callable[[], float]]] = {
    "gaussian": lambda rng: lambda: rng.gauss(0.0, 1.0),
    "uniform": lambda rng: rng.random,
    "rounded": lambda rng: lambda: float(round(rng.gauss(0.0, 0.7))),
    "lagged": _lagged,
}


def _steady(kind: str, n: int, seed: int) -> list[float]:
    draw = STEADY[kind](random.Random(seed))
    return [draw() for _ in range(n)]


def _routine(first: int, seed: int, n: int = 500) -> list[float]:
    """Noise with a 6-sample dip of 40 SDs every 180 samples from `first` on (a GPU's
    power at a checkpoint: from 580 W to 100 W, with a noise SD of 13 W)."""
    xs = noise(n, seed)
    for start in range(first, n, 180):
        for i in range(start, min(n, start + 6)):
            xs[i] -= 40.0
    return xs


class TestFirstJudgements:
    """A series that has been steady does not fire when it is first judged."""

    @pytest.mark.parametrize("kind", sorted(STEADY))
    def test_steady_fresh_series_are_quiet_at_first(self, kind: str) -> None:
        """Forty fresh steady series of each kind stay below 0.5 over their first 100
        samples (judged from sample 48)."""
        for seed in range(40):
            scores, _ = run(_steady(kind, 100, 300 + seed))
            assert max(scores) <= 0.5, (kind, seed)

    def test_start_up_is_no_noisier_than_an_old_series(self) -> None:
        """On Gaussian noise the start-up period (samples 48-512) raises no more episodes
        per sample than a series with a full horizon (samples 4096-12096) does."""
        young = sum(len(episodes(run(noise(512, 500 + seed))[0])) for seed in range(60))
        old = sum(len(episodes(run(noise(12_096, 700 + seed))[0][4096:])) for seed in range(4))
        assert young / (60 * 464) <= old / (4 * 8000)
        assert old > 0  # (the comparison means something: an old series does fire)

    def test_without_the_start_up_period_young_series_are_noisier(self) -> None:
        """With startup 0 (no start-up period) the same young series fire far more often."""
        params = AnomalyParams(startup=0)
        young = sum(len(episodes(run(noise(512, 500 + seed), params=params)[0]))
                    for seed in range(60))
        assert young >= 20


class TestRoutineEvents:
    """A routine event is new the first time it happens, not every time after."""

    @pytest.mark.parametrize("seed", range(5))
    @pytest.mark.parametrize("first", [100, 150])
    def test_a_checkpoint_is_new_once(self, seed: int, first: int) -> None:
        """A dip every 180 samples from sample 100 or 150: only the first is an episode."""
        scores, _ = run(_routine(first, seed))
        assert episodes(scores) == [first]

    @pytest.mark.parametrize("seed", range(5))
    def test_one_seen_before_the_first_judgement_is_not_news(self, seed: int) -> None:
        """The first dip falls in the 48 samples before the series is judged: the next
        ones are not new."""
        scores, _ = run(_routine(30, seed))
        assert episodes(scores) == []

    @pytest.mark.parametrize("seed", range(5))
    def test_a_higher_repeat_is_still_new(self, seed: int) -> None:
        """The value test: a spike to 12 SDs, then one to 14 SDs 140 samples later: both
        are new (the second goes beyond the first by more than the margin); a repeat to
        12 is not. (window=1: the level test, which sees a spike as a sixteenth of it
        on a noisy recent level, left out.)"""
        params = AnomalyParams(window=1)
        xs = noise(500, seed)
        xs[300] = 12.0
        higher, same = list(xs), list(xs)
        higher[440], same[440] = 14.0, 12.0
        assert run(xs, params=params)[0][300] > 0.5
        assert run(higher, params=params)[0][440] > 0.5
        assert run(same, params=params)[0][440] < 0.5
