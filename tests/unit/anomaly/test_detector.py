"""The detector on synthetic series: what it must catch, what it must leave alone, its state."""

from __future__ import annotations

import math
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.anomaly import AnomalyParams, new_state, update
from tests.unit.anomaly.helpers import (
    STEP_MS,
    episodes,
    noise,
    numbers_in,
    only_json_types,
    run,
    times,
)

WEEK_MS = 7 * 24 * 3_600_000
DAY_MS = 24 * 3_600_000
ONSET = 3000  # samples of normal behaviour before an injected anomaly


class TestDetects:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    @pytest.mark.parametrize("shift", [6.0, -6.0, 4.0])
    def test_level_shift_within_a_few_samples(self, seed: int, shift: float) -> None:
        """A lasting shift of 4-6 noise SDs, up or down, scores >= 0.5 within 5 samples."""
        xs = noise(ONSET + 200, seed)
        xs[ONSET:] = [x + shift for x in xs[ONSET:]]
        scores, _ = run(xs)
        assert not episodes(scores[:ONSET])
        assert max(scores[ONSET:ONSET + 5]) >= 0.5

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_spike_on_the_spot(self, seed: int) -> None:
        """A single 10-SD spike scores >= 0.5 on the spike itself, not before."""
        xs = noise(ONSET + 50, seed)
        xs[ONSET] += 10.0
        scores, _ = run(xs)
        assert scores[ONSET - 1] < 0.5 <= scores[ONSET]

    def test_one_event_one_episode(self) -> None:
        """A burst of spikes a few samples apart is one episode (the score holds its peak)."""
        xs = noise(ONSET + 200, 4)
        for i in (0, 3, 7, 12):
            xs[ONSET + i] += 10.0
        scores, _ = run(xs)
        assert episodes(scores[ONSET - 100:]) == [100]

    def test_hold_then_release(self) -> None:
        """After a lone spike the score stays at its peak for `hold` samples, then drops."""
        params = AnomalyParams(hold=20)
        xs = noise(ONSET + 100, 5)
        xs[ONSET] += 12.0
        scores, _ = run(xs, params=params)
        assert scores[ONSET + 20] == scores[ONSET] >= 0.5
        assert max(scores[ONSET + 22:]) < 0.5

    def test_scale_and_offset_do_not_matter(self) -> None:
        """Scores depend on the shape of a series, not on its unit or offset."""
        xs = noise(ONSET + 200, 6)
        xs[ONSET + 50] += 8.0
        a, _ = run(xs)
        b, _ = run([1000.0 + 37.5 * x for x in xs])
        assert max(abs(p - q) for p, q in zip(a, b, strict=True)) < 1e-6

    def test_weekly_pattern_and_holiday(self) -> None:
        """On a weekly-seasonal series the profile is adopted, the normal weeks stay quiet,
        and a weekday that looks like a weekend is flagged the same day."""
        step = 10 * 60_000
        rng = random.Random(7)
        holiday = 4 * WEEK_MS + 2 * DAY_MS

        def pattern(t: int) -> float:
            weekday = (t % WEEK_MS) // DAY_MS < 5 and not holiday <= t < holiday + DAY_MS
            amp = 40.0 if weekday else 15.0
            return 100.0 + amp * math.sin(2 * math.pi * (t % DAY_MS) / DAY_MS)

        ts = times(6 * WEEK_MS // step, step, start=0)
        scores, state = run([pattern(t) + rng.gauss(0, 3) for t in ts], ts)
        start = holiday // step
        assert state["so"] is True
        assert len(episodes(scores[WEEK_MS // step:start])) <= 1
        assert max(scores[start:start + DAY_MS // step]) >= 0.5

    def test_seasonal_profile_is_what_catches_the_holiday(self) -> None:
        """Without the profile, the same holiday (values within the usual range) is missed."""
        step = 10 * 60_000
        rng = random.Random(7)
        holiday = 4 * WEEK_MS + 2 * DAY_MS
        ts = times(5 * WEEK_MS // step, step, start=0)
        xs = [100.0 + (15.0 if holiday <= t < holiday + DAY_MS or (t % WEEK_MS) // DAY_MS >= 5
                       else 40.0) * math.sin(2 * math.pi * (t % DAY_MS) / DAY_MS)
              + rng.gauss(0, 3) for t in ts]
        scores, _ = run(xs, ts, AnomalyParams(seasonal=False))
        start = holiday // step
        assert max(scores[start:start + DAY_MS // step]) < 0.5


class TestQuiet:
    @pytest.mark.parametrize("seed", [10, 11, 12])
    def test_gaussian_noise(self, seed: int) -> None:
        """20,000 samples of white noise raise at most 3 episodes at score_above 0.5."""
        scores, _ = run(noise(20_000, seed))
        assert len(episodes(scores)) <= 3

    @pytest.mark.parametrize("seed", [20, 21])
    def test_heavy_tailed_noise(self, seed: int) -> None:
        """Laplace noise, whose big values are routine, stays as quiet."""
        rng = random.Random(seed)
        scores, _ = run([rng.expovariate(1.0) - rng.expovariate(1.0) for _ in range(20_000)])
        assert len(episodes(scores)) <= 3

    def test_warm_up_is_silent(self) -> None:
        """Nothing is scored before the tests and their calibration have history."""
        xs = noise(600, 30)
        xs[100] += 50.0
        scores, _ = run(xs)
        assert max(scores[:2 * 8 * 32]) == 0.0

    def test_constant_series_then_change(self) -> None:
        """A flat series is quiet; a real step out of it is flagged."""
        scores, _ = run([5.0] * 2000 + [6.0] * 10)
        assert max(scores[:2000]) < 0.5 <= scores[2000]

    def test_min_scale_ignores_changes_too_small_to_matter(self) -> None:
        """With min_scale, a step far below it out of a flat series is not an anomaly."""
        scores, _ = run([5.0] * 2000 + [5.001] * 10, params=AnomalyParams(min_scale=1.0))
        assert max(scores) < 0.5


class TestState:
    def test_orjson_round_trip_between_every_sample(self) -> None:
        """Serialising and reloading the state between samples changes no score at all."""
        params = AnomalyParams(block=8, min_blocks=4, blocks=16, hold=5)
        rng = random.Random(40)
        ts, t = [], 0
        for _ in range(3000):
            t += rng.choice([STEP_MS, STEP_MS, 2 * STEP_MS, 0, 3 * DAY_MS // 10])
            ts.append(t)
        xs = [rng.gauss(0, 1) + (8.0 if 2000 <= i < 2100 else 0.0) for i in range(3000)]
        direct, _ = run(xs, ts, params)
        state = new_state(params)
        reloaded = []
        for t_, x in zip(ts, xs, strict=True):
            state = orjson.loads(orjson.dumps(state))
            reloaded.append(update(state, t_, x, params))
        assert reloaded == direct
        assert max(direct) >= 0.5

    def test_only_plain_json_types(self) -> None:
        """The state is dicts, lists, strings, finite numbers, booleans and None only."""
        _, state = run(noise(5000, 41))
        assert only_json_types(state)
        assert only_json_types(new_state())

    def test_bounded(self) -> None:
        """The state holds as many numbers after 60,000 samples as after 5,000."""
        _, short = run(noise(5_000, 42))
        _, long = run(noise(60_000, 42))
        assert numbers_in(long) == numbers_in(short) <= 600
        assert len(orjson.dumps(long)) < 12_000

    def test_bad_values_are_skipped(self) -> None:
        """NaN and infinities are not folded in: the previous score comes back, state unchanged."""
        state = new_state()
        ts = times(1000)
        xs = noise(1000, 43)
        for t, x in zip(ts[:-1], xs[:-1], strict=True):
            update(state, t, x)
        before = orjson.dumps(state)
        last = state["sc"]
        for bad in (math.nan, math.inf, -math.inf, 1e308 * 10):
            assert update(state, ts[-1], bad) == last
        assert orjson.dumps(state) == before

    def test_changed_profile_settings_are_adopted(self) -> None:
        """A state made with other profile settings keeps working under the new ones."""
        _, state = run(noise(3000, 44))
        for params in (AnomalyParams(seasonal=False), AnomalyParams(season_bins=24)):
            s = update(state, times(3001)[-1], 0.0, params)
            assert 0.0 <= s <= 1.0
            assert len(state["prof"]) == (24 if params.seasonal else 0)

    def test_other_version_starts_afresh(self) -> None:
        """A state of an unknown version is replaced in place by a new one."""
        state = {"v": 999, "junk": [1, 2, 3]}
        assert update(state, 0, 1.0) == 0.0
        assert state["n"] == 1
        assert "junk" not in state

    def test_time_going_backwards(self) -> None:
        """An out-of-order timestamp is taken as the latest time; the clock never goes back."""
        state = new_state()
        update(state, 10_000, 1.0)
        update(state, 20_000, 1.0)
        update(state, 15_000, 1.0)
        assert state["t"] == 20_000


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=-3 * STEP_MS, max_value=3 * DAY_MS),
                          st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                    st.floats(min_value=-1e6, max_value=1e6))),
                min_size=1, max_size=400))
def test_any_input_gives_a_score_and_a_clean_state(steps: list[tuple[int, float]]) -> None:
    """Whatever the values and time steps, scores are in [0, 1] and the state stays JSON-clean."""
    params = AnomalyParams(block=4, min_blocks=4, blocks=8, hold=3)
    state = new_state(params)
    t = 1_700_000_000_000
    for dt, x in steps:
        t += dt
        s = update(state, t, x, params)
        assert 0.0 <= s <= 1.0
    assert only_json_types(state)
    assert orjson.loads(orjson.dumps(state)) == state
