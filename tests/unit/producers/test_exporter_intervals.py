"""Interval figures from cumulative exporter values: reset-safe rates, histogram quantiles."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.exporters.exposition import Histogram, parse
from producers.exporters.intervals import (
    Delta,
    bucket_quantile,
    counter_increase,
    histogram_delta,
    merge_deltas,
)
from producers.exporters.reader import ReaderOptions, TargetReader

INF = math.inf


def cumulative(bounds: list[float], observations: list[float]) -> tuple[tuple[float, float], ...]:
    """Cumulative buckets of `observations`, as an exporter counts them."""
    return tuple((le, float(sum(1 for o in observations if o <= le))) for le in [*bounds, INF])


class TestCounterIncrease:
    """Exporter counters never wrap: any decrease, or a new creation time, is a reset."""

    def test_growth_is_the_increase(self) -> None:
        """A counter that grew by 7 increased by 7."""
        assert counter_increase(10.0, 17.0) == 7.0

    def test_a_decrease_is_a_reset(self) -> None:
        """A counter that went down restarted: no increase for the interval."""
        assert counter_increase(10.0, 3.0) is None

    def test_a_new_creation_time_is_a_reset_even_when_the_value_grew(self) -> None:
        """Restarted and already past its old value: only `_created` tells."""
        assert counter_increase(10.0, 25.0, 1000.0, 2000.0) is None
        assert counter_increase(10.0, 25.0, 1000.0, 1000.0) == 15.0

    def test_nan_gives_nothing(self) -> None:
        """A NaN on either side is no increase, not a NaN rate."""
        assert counter_increase(math.nan, 1.0) is None
        assert counter_increase(1.0, math.nan) is None


def exposition(value: float, created: float | None) -> str:
    lines = ["# TYPE vllm:generation_tokens_total counter",
             f'vllm:generation_tokens_total{{model_name="m"}} {value!r}']
    if created is not None:
        lines += ["# TYPE vllm:generation_tokens_created gauge",
                  f'vllm:generation_tokens_created{{model_name="m"}} {created!r}']
    return "\n".join(lines) + "\n"


steps = st.lists(st.tuples(st.floats(0, 1e6), st.booleans(), st.floats(0.5, 60)),
                 min_size=1, max_size=25)


class TestRatesProperty:
    """Counters to rates through the whole reader: never negative, exact between resets."""

    @settings(max_examples=60, deadline=None)
    @given(start=st.floats(0, 1e9), steps=steps, with_created=st.booleans())
    def test_rates_are_exact_between_resets_and_absent_across_them(
            self, start: float, steps: list[tuple[float, bool, float]],
            with_created: bool) -> None:
        """Every published rate is increment / dt of a reset-free interval; an interval
        with a detectable reset (a decrease, or a new `_created`) publishes no rate."""
        reader = TargetReader(ReaderOptions(name="t"))
        value, created, now = start, 1.0, 1000.0
        reader.read(parse(exposition(value, created if with_created else None)), now)
        for increment, reset, dt in steps:
            before = value
            if reset:
                value, created = increment, created + 1.0
            else:
                value = value + increment
            now += dt
            out = reader.read(parse(exposition(value, created if with_created else None)), now)
            rates = [s["value"] for s in out.samples
                     if s["name"] == "serving.generation_tokens_per_s"]
            assert all(r >= 0 for r in rates)
            detectable = reset and (with_created or value < before)
            if detectable:
                assert rates == []
            elif not reset:
                assert len(rates) == 1
                assert math.isclose(rates[0], (value - before) / dt, rel_tol=1e-9, abs_tol=1e-9)


class TestBucketQuantile:
    """Quantiles as Prometheus' histogram_quantile interpolates them."""

    BOUNDS = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0]  # vLLM's latency buckets (start)

    def test_hand_computed_quantiles(self) -> None:
        """40 requests: 4 in (0.8,1], 16 in (1,1.5], 12 in (1.5,2], 6 in (2,2.5], 2 in
        (2.5,5]. p50: rank 20 ends the (1,1.5] bucket -> 1.5; p90: rank 36 is 4 of 6 into
        (2,2.5] -> 2 + 0.5*4/6; p99: rank 39.6 is 1.6 of 2 into (2.5,5] -> 2.5 + 2.5*0.8."""
        obs = [0.9] * 4 + [1.2] * 16 + [1.8] * 12 + [2.2] * 6 + [3.0] * 2
        b = cumulative(self.BOUNDS, obs)
        assert bucket_quantile(0.5, b) == 1.5
        assert math.isclose(bucket_quantile(0.9, b) or 0, 2.0 + 0.5 * 4 / 6)
        assert math.isclose(bucket_quantile(0.99, b) or 0, 4.5)

    def test_lowest_bucket_starts_at_zero(self) -> None:
        """All 10 observations under 0.3: the median is half-way from 0 to 0.3."""
        assert bucket_quantile(0.5, cumulative(self.BOUNDS, [0.1] * 10)) == 0.15

    def test_rank_in_the_inf_bucket_is_the_highest_finite_bound(self) -> None:
        """What lies beyond the last bound has no known value: the bound is the answer."""
        assert bucket_quantile(0.99, cumulative(self.BOUNDS, [0.1] * 9 + [99.0] * 91)) == 10.0

    def test_no_observation_no_quantile(self) -> None:
        """An interval without requests has no latency."""
        assert bucket_quantile(0.5, cumulative(self.BOUNDS, [])) is None

    @settings(max_examples=200, deadline=None)
    @given(obs=st.lists(st.floats(0.001, 20.0), min_size=1, max_size=300),
           q=st.sampled_from([0.5, 0.9, 0.99]))
    def test_estimate_lies_in_the_bucket_of_the_true_quantile(self, obs: list[float],
                                                              q: float) -> None:
        """The interpolated quantile is within the bucket that holds the exact one."""
        b = cumulative(self.BOUNDS, obs)
        est = bucket_quantile(q, b)
        assert est is not None
        exact = sorted(obs)[max(math.ceil(q * len(obs)) - 1, 0)]
        bounds = [0.0, *self.BOUNDS, INF]
        i = next(i for i in range(1, len(bounds)) if exact <= bounds[i])
        lo, hi = bounds[i - 1], min(bounds[i], self.BOUNDS[-1])
        assert lo - 1e-9 <= est <= hi + 1e-9


class TestHistogramDelta:
    """The interval's own histogram, or nothing when the exporter restarted."""

    def test_buckets_subtract(self) -> None:
        """Cumulative counts of two scrapes differ by the interval's observations."""
        a = Histogram(((1.0, 5.0), (INF, 8.0)), 8.0, 9.0)
        b = Histogram(((1.0, 7.0), (INF, 12.0)), 12.0, 15.0)
        assert histogram_delta(a, b) == Histogram(((1.0, 2.0), (INF, 4.0)), 4.0, 6.0)

    def test_a_bucket_that_shrank_is_a_reset(self) -> None:
        """Any bucket going down means the counts started again."""
        a = Histogram(((1.0, 5.0), (INF, 8.0)), 8.0, 9.0)
        b = Histogram(((1.0, 1.0), (INF, 9.0)), 9.0, 9.5)
        assert histogram_delta(a, b) is None

    def test_other_buckets_are_a_reset(self) -> None:
        """A restarted exporter with another bucket layout cannot be subtracted."""
        a = Histogram(((1.0, 5.0), (INF, 8.0)), 8.0, 9.0)
        b = Histogram(((2.0, 6.0), (INF, 9.0)), 9.0, 9.5)
        assert histogram_delta(a, b) is None


class TestMerge:
    """Series aggregated away (an engine index, a finish reason) combine."""

    def test_histograms_add_bucket_by_bucket(self) -> None:
        """Two engines' interval histograms make one."""
        h1 = Histogram(((1.0, 1.0), (INF, 2.0)), 2.0, 2.5)
        h2 = Histogram(((1.0, 3.0), (INF, 3.0)), 3.0, 1.5)
        merged = merge_deltas([Delta(histogram=h1), Delta(histogram=h2)])
        assert merged is not None
        assert merged.histogram == Histogram(((1.0, 4.0), (INF, 5.0)), 5.0, 4.0)

    def test_different_layouts_do_not_merge(self) -> None:
        """Buckets with different bounds cannot be added."""
        h1 = Histogram(((1.0, 1.0), (INF, 2.0)), 2.0, 2.5)
        h2 = Histogram(((2.0, 1.0), (INF, 2.0)), 2.0, 2.5)
        assert merge_deltas([Delta(histogram=h1), Delta(histogram=h2)]) is None

    def test_summary_quantiles_keep_the_worst(self) -> None:
        """Exposed quantiles cannot be averaged; the slowest replica's is kept."""
        merged = merge_deltas([Delta(summary_count=2, summary_sum=1, quantiles=((0.99, 0.4),)),
                               Delta(summary_count=3, summary_sum=2, quantiles=((0.99, 0.9),))])
        assert merged is not None
        assert (merged.summary_count, merged.summary_sum, merged.quantiles) == (
            5, 3, ((0.99, 0.9),))
