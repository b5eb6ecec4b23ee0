"""The written-out anomaly update against its plain composition, bit for bit.

(The detector's behaviour is specified in tests/unit/anomaly; this holds its fast form
to the form those tests were written against.)
"""

from __future__ import annotations

import math
import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.anomaly import AnomalyParams, new_state, update
from streams.anomaly.detector import round6

from .anomaly_reference import reference_update

DAY_MS = 86_400_000
PARAMS = st.sampled_from([
    AnomalyParams(),
    AnomalyParams(block=4, blocks=8, min_blocks=4, hold=3),
    AnomalyParams(block=4, blocks=8, min_blocks=4, hold=0, season_bins=6, season_gain=0.8),
    AnomalyParams(block=3, blocks=4, min_blocks=4, seasonal=False, min_scale=0.5),
])


def both(steps: list[tuple[int, float]], p: AnomalyParams) -> None:
    fast, ref = new_state(p), new_state(p)
    t = 1_700_000_000_000
    for dt, x in steps:
        t += dt
        a = update(fast, t, x, p)
        b = reference_update(ref, t, x, p)
        assert orjson.dumps(a) == orjson.dumps(b)
        assert orjson.dumps(fast) == orjson.dumps(ref)


class TestSameAsComposition:
    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from([10_000, 10_000, 0, -5_000, 3_600_000, DAY_MS]),
                              st.floats(-1e6, 1e6) | st.sampled_from([math.nan, math.inf])),
                    max_size=300), PARAMS)
    def test_any_series(self, steps: list[tuple[int, float]], p: AnomalyParams) -> None:
        """Scores and states agree for arbitrary values and time steps."""
        both(steps, p)

    def test_weeks_of_a_seasonal_series(self) -> None:
        """Through warm-up, a full week (the profile baseline decision) and level shifts."""
        rng = random.Random(3)
        p = AnomalyParams(block=8, blocks=16, min_blocks=4)
        steps = []
        t = 1_700_000_000_000
        for i in range(6000):  # a daily rhythm, busier weekends, a shift at the end
            t += 600_000
            level = (10.0 * math.sin(2 * math.pi * (t % DAY_MS) / DAY_MS)
                     + (5.0 if (t // DAY_MS) % 7 >= 5 else 0.0) + (30.0 if i > 5500 else 0.0))
            steps.append((600_000, level + rng.gauss(0, 1)))
        both(steps, p)  # (the profile is taken up after a week, and dropped after the shift)


class TestRound6:
    @given(st.floats(0.0, 1e9) | st.integers(0, 10**9).map(lambda n: n / 1e6 + 5e-7))
    def test_is_round(self, x: float) -> None:
        """round6(x) is round(x, 6), sign and all."""
        assert orjson.dumps(round6(x)) == orjson.dumps(round(x, 6))
