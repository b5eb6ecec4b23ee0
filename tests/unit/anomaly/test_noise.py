"""benchmarks/noise.py: the shipped anomaly rules' false alarms where nothing is wrong stay
bounded (issue 13: no cold-start floods)."""

from __future__ import annotations

import pytest

from benchmarks import noise


class TestEpisodes:
    """The rule's episode logic the benchmark counts with."""

    def test_fires_above_and_resolves_at_or_below_clear(self) -> None:
        """A new episode starts only after the score fell to `clear` or below."""
        scores = [0.0, 0.6, 0.4, 0.7, 0.3, 0.51, 0.5, 0.2, 0.9]
        assert noise.episode_starts(scores, 0.5, 0.3) == [1, 5, 8]

    def test_the_shipped_rules_are_read_from_the_rule_file(self) -> None:
        """The benchmark watches what default_rules.yaml's anomaly rules watch."""
        rules = {r.metric: r for r in noise.shipped_rules()}
        assert {"cpu.usage", "gpu.temperature", "gpu.power_watts"} <= set(rules)
        assert all(0.0 < r.clear <= r.above < 1.0 for r in rules.values())


@pytest.mark.slow
class TestFleet:
    """A fresh simulated fleet with no faults, for an hour and a half."""

    @pytest.mark.parametrize("seed", [11, 12])
    def test_no_series_fires_twice(self, seed: int) -> None:
        """No series raises more than one alarm (its first checkpoint is new, the next
        ones are not), so the first hour raises at most one alarm per series and later
        ones are rare (measured: 128 and 0 alarms in the first hour, 0 and 2 later, of
        136 series; the previous detector: 256 and 0, then 0 and 16)."""
        run = noise.fleet_alarms(8, seed, 540, "none")
        assert run.series == 136 and run.hours > 200
        assert run.worst <= 1
        assert run.first_hour <= run.series
        assert 1000 * run.later / run.hours <= 60


class TestPureNoise:
    """Fresh noise series through the shipped rules' thresholds (above 0.5, clear 0.3)."""

    def test_gaussian_start_up(self) -> None:
        """Gaussian noise: at most 100 alarms per 1,000 series-hours over the start-up
        period (measured 0; the previous detector 615; an old series 146)."""
        assert noise.noise_alarms(noise.NOISE["Gaussian"], 40, 512)[0] <= 100

    def test_laplace_start_up(self) -> None:
        """Laplace noise: at most 500 per 1,000 series-hours over the start-up period
        (measured 229; the previous detector 1143; an old series 250)."""
        assert noise.noise_alarms(noise.NOISE["Laplace"], 40, 512)[0] <= 500
