"""EWMA, EW variance, WMA and the outlier flag against their formulas."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.smoothing import SmoothingParams, alpha_for, update_series, wma

P = SmoothingParams(tau_ms=10_000.0, wma_n=3)


def run(points: list[tuple[int, float]], p: SmoothingParams = P) -> list[float]:
    state = None
    out = []
    for ts, v in points:
        state, sm = update_series(state, ts, v, p)
        out.append(sm.ewma)
    return out


class TestEwma:
    def test_first_sample_is_its_own_average(self) -> None:
        """A new series starts at its first value, not at zero."""
        assert run([(0, 42.0)]) == [42.0]

    def test_regular_interval_matches_formula(self) -> None:
        """S_t = a*M_t + (1-a)*S_(t-1) with a = 1 - exp(-dt/tau)."""
        a = 1 - math.exp(-1000 / 10_000)
        got = run([(0, 0.0), (1000, 10.0), (2000, 10.0)])
        s1 = a * 10.0
        s2 = a * 10.0 + (1 - a) * s1
        assert got == pytest.approx([0.0, s1, s2])

    def test_irregular_interval_uses_elapsed_time(self) -> None:
        """A long gap weighs the new sample more than a short one."""
        short = run([(0, 0.0), (100, 10.0)])[-1]
        long_ = run([(0, 0.0), (30_000, 10.0)])[-1]
        assert short == pytest.approx(10.0 * (1 - math.exp(-0.01)))
        assert long_ == pytest.approx(10.0 * (1 - math.exp(-3.0)))
        assert long_ > short

    def test_late_sample_does_not_move_time_back(self) -> None:
        """A sample older than the series' newest leaves the average where it was."""
        state, _ = update_series(None, 5000, 1.0, P)
        state, sm = update_series(state, 4000, 100.0, P)
        assert sm.ewma == 1.0
        assert state[0] == 5000

    @given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50))
    def test_stays_within_range_of_inputs(self, values: list[float]) -> None:
        """An average never leaves the range of what it averages."""
        got = run([(i * 1000, v) for i, v in enumerate(values)])
        assert min(values) - 1e-6 <= got[-1] <= max(values) + 1e-6

    def test_alpha_is_zero_without_elapsed_time(self) -> None:
        """Two samples at the same instant do not count twice."""
        assert alpha_for(0, 1000) == 0.0
        assert alpha_for(-5, 1000) == 0.0


class TestEwVariance:
    def test_constant_series_has_zero_variance(self) -> None:
        """No spread in, no spread out."""
        state = None
        for i in range(20):
            state, _ = update_series(state, i * 1000, 5.0, P)
        assert state is not None and state[3] == 0.0

    def test_variance_tracks_a_noisy_series(self) -> None:
        """Alternating +-1 around 0 converges near variance 1."""
        state = None
        p = SmoothingParams(tau_ms=20_000.0)
        for i in range(2000):
            state, _ = update_series(state, i * 1000, 1.0 if i % 2 else -1.0, p)
        assert state is not None
        assert state[3] == pytest.approx(1.0, rel=0.1)

    def test_reported_variance_is_before_the_sample(self) -> None:
        """The smoothed view's variance is what the new sample deviates from."""
        state, _ = update_series(None, 0, 0.0, P)
        state, sm = update_series(state, 1000, 100.0, P)
        assert sm.ewvar == 0.0
        assert state[3] > 0.0


class TestWma:
    def test_formula_with_linear_weights(self) -> None:
        """Newest weighted n, oldest 1: (1*a + 2*b + 3*c) / 6."""
        assert wma([1.0, 2.0, 4.0]) == pytest.approx((1 + 4 + 12) / 6)

    def test_window_keeps_only_last_n(self) -> None:
        """Values older than the window no longer count."""
        state = None
        for i, v in enumerate([100.0, 100.0, 1.0, 1.0, 1.0]):
            state, sm = update_series(state, i * 1000, v, P)
        assert sm.wma == pytest.approx(1.0)


class TestOutlier:
    def test_spike_in_a_steady_series_is_flagged(self) -> None:
        """A value far outside the series' usual deviation is an outlier."""
        state = None
        for i in range(50):
            state, sm = update_series(state, i * 1000, 10.0 + (i % 3) * 0.1, P)
            assert not sm.outlier
        state, sm = update_series(state, 51_000, 50.0, P)
        assert sm.outlier

    def test_young_series_is_never_flagged(self) -> None:
        """Too little history to judge: no flag."""
        state = None
        flags = []
        for i, v in enumerate([1.0, 1.1, 0.9, 500.0]):
            state, sm = update_series(state, i * 1000, v, P)
            flags.append(sm.outlier)
        assert flags == [False] * 4
