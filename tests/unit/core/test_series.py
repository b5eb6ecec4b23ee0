"""The columnar smoothing store against the one-series definition, to the last bit."""

from __future__ import annotations

import copy

import numpy as np
import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams.core.layout import ArrayCache
from streams.core.series import (
    SeriesColumns,
    add_series,
    ensure_store,
    fold_many,
    fold_one,
    new_store,
    recent,
    times,
)
from streams.core.smoothing import SmoothingParams, update_series

VALUES = st.floats(-1e9, 1e9, allow_subnormal=False) | st.sampled_from([0.0, -0.0, 1.0])
STEPS = st.sampled_from([10_000, 10_000, 10_000, 1, 0, -5_000, 3_600_000])
PARAMS = st.builds(SmoothingParams, tau_ms=st.sampled_from([1_000.0, 60_000.0]),
                   wma_n=st.integers(1, 6), outlier_k=st.sampled_from([2.0, 8.0]),
                   outlier_min_count=st.integers(0, 12))


class TestFoldOne:
    @given(st.lists(st.tuples(STEPS, VALUES), min_size=1, max_size=40), PARAMS)
    def test_matches_update_series(self, steps: list[tuple[int, float]],
                                   p: SmoothingParams) -> None:
        """Every output and the kept quantities equal the one-series definition."""
        s = new_store(p)
        ref = None
        ts = 1_700_000_000_000
        for k, (dt, v) in enumerate(steps):
            ts += dt
            ref, sm = update_series(ref, ts, v, p)
            if k == 0:
                add_series(s, "x", ts, v)
                continue
            ewma, ewvar, wma, outlier, prev_v, prev_ts = fold_one(s, 0, ts, v, p)
            assert orjson.dumps([ewma, ewvar, outlier, prev_v, prev_ts]) == orjson.dumps(
                [sm.ewma, sm.ewvar, sm.outlier, sm.prev_value, sm.prev_ts])
            if p.wma_n > 1:  # one value: the definition's float division turns -0.0 to 0.0
                assert orjson.dumps(wma) == orjson.dumps(sm.wma)
            assert [times(s)[0], s.ewma[0], s.ewvar[0], s.ewmad[0]] == ref[:1] + ref[2:5]
            assert s.count[0] == min(ref[5], max(p.outlier_min_count, p.wma_n, 1))
            assert orjson.dumps(recent(s, 0)) == orjson.dumps(ref[6:])

    def test_state_is_plain_json(self) -> None:
        """Columns of numbers and strings: the store survives a JSON round trip."""
        p = SmoothingParams()
        s = new_store(p)
        add_series(s, "a", 1, 2.0)
        assert SeriesColumns.from_json(orjson.loads(orjson.dumps(s.to_json()))) == s
        assert ensure_store(orjson.loads(orjson.dumps(s.to_json())), p) == s

    def test_other_layout_starts_afresh(self) -> None:
        """A store of another WMA length (or none at all) is replaced by an empty one."""
        p = SmoothingParams(wma_n=3)
        old = new_store(SmoothingParams(wma_n=5))
        assert ensure_store(old, p) == new_store(p)
        assert ensure_store({}, p) == new_store(p)


def _grown(p: SmoothingParams, n: int, ages: list[int], vals: list[float]) -> SeriesColumns:
    """A store of n series of various ages (ages[i] samples), all last seen at T."""
    s = new_store(p)
    for i in range(n):
        add_series(s, f"s{i}", 1000, vals[i % len(vals)])
        for a in range(1, ages[i % len(ages)]):
            fold_one(s, i, 1000 + a, vals[(i + a) % len(vals)], p)
    top = max(times(s))
    for i in range(n):  # bring every series to the same last timestamp
        if times(s)[i] != top:
            fold_one(s, i, top, vals[i % len(vals)], p)
    return s


class TestFoldMany:
    @given(PARAMS, st.integers(1, 8), st.lists(st.integers(1, 9), min_size=1, max_size=8),
           st.lists(VALUES, min_size=1, max_size=8), st.lists(VALUES, min_size=8, max_size=8),
           STEPS, st.data())
    def test_matches_fold_one(self, p: SmoothingParams, n: int, ages: list[int],
                              vals: list[float], new: list[float], dt: int,
                              data: st.DataObject) -> None:
        """All series at once give what one by one gives: outputs and state."""
        s = _grown(p, n, ages, vals)
        one = copy.deepcopy(s)
        subset = data.draw(st.sampled_from([None, "some"]))
        idx = None if subset is None else np.array(
            data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True)),
            dtype=np.intp)
        order = list(range(n)) if idx is None else idx.tolist()
        values = [new[j] for j in range(len(order))]
        ts = times(s)[0] + dt
        cache = ArrayCache()
        got = fold_many(s, idx, ts, np.array(values), values, p, cache)
        assert got is not None
        want = [fold_one(one, i, ts, v, p) for i, v in zip(order, values, strict=True)]
        assert orjson.dumps(got.ewma) == orjson.dumps([w[0] for w in want])
        assert orjson.dumps(got.ewvar) == orjson.dumps([w[1] for w in want])
        assert orjson.dumps(got.wma) == orjson.dumps([w[2] for w in want])
        assert got.outlier == [w[3] for w in want]
        assert got.outliers == sum(w[3] for w in want)
        assert orjson.dumps(got.prev_value) == orjson.dumps([w[4] for w in want])
        assert all(got.prev_ts == w[5] for w in want)
        times(s)  # (one number or a list: the same times)
        assert orjson.dumps(s.to_json()) == orjson.dumps(one.to_json())

    def test_declines_mixed_previous_times(self) -> None:
        """Series last seen at different times are left to the one-by-one path, untouched."""
        p = SmoothingParams()
        s = new_store(p)
        add_series(s, "a", 1000, 1.0)
        add_series(s, "b", 2000, 1.0)
        before = copy.deepcopy(s)
        assert fold_many(s, None, 3000, np.array([1.0, 2.0]), [1.0, 2.0], p, ArrayCache()) is None
        assert s == before

    def test_cached_arrays_follow_replaced_lists(self) -> None:
        """Consecutive batches through one cache equal fresh conversions every time."""
        p = SmoothingParams(wma_n=3)
        a = _grown(p, 4, [1, 5], [1.0, 2.5, -3.0])
        b = copy.deepcopy(a)
        cache = ArrayCache()
        for k in range(1, 8):
            vals = [float(k * j) for j in range(4)]
            fa = fold_many(a, None, times(a)[0] + 10_000, np.array(vals), vals, p, cache)
            fb = fold_many(b, None, times(b)[0] + 10_000, np.array(vals), list(vals), p,
                           ArrayCache())
            assert fa is not None and fb is not None
            assert (fa.ewma, fa.wma) == (fb.ewma, fb.wma)
        assert a == b
