"""The detector state: named record, compact stored form, bounds, and older states."""

from __future__ import annotations

import ast
import inspect
import json
import math
import random
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.anomaly import AnomalyParams, DetectorState, detector, new_state, pack, unpack, update
from streams.anomaly.state import SCALARS, STATE_VERSION, WEEK_PROFILE
from tests.unit.anomaly.helpers import STEP_MS, noise, numbers_in, only_json_types, run, times

DAY_MS = 24 * 3_600_000
V1 = Path(__file__).parent / "data" / "state_v1.json"  # written by the version-1 detector


def v1_state() -> dict[str, Any]:
    """Three weeks of a daily pattern at 30-minute samples, as the first detector left them."""
    loaded: dict[str, Any] = json.loads(V1.read_text())
    return loaded


class TestNamedRecord:
    """DetectorState names the stored fields, in the order update() binds them."""

    def test_pack_unpack_round_trip(self) -> None:
        """unpack(pack(s)) is s, and pack(unpack(stored)) is the stored form."""
        _, stored = run(noise(3000, 1), times(3000, 10 * 60_000))
        s = unpack(stored)
        assert isinstance(s, DetectorState)
        assert pack(s) == stored
        assert unpack(pack(s)) == s

    def test_update_binds_the_scalars_in_field_order(self) -> None:
        """The names update() unpacks the stored scalars into are DetectorState's fields."""
        tree = ast.parse(inspect.getsource(detector.update))
        unpacked = next(node for node in ast.walk(tree) if isinstance(node, ast.Assign)
                        and isinstance(node.targets[0], ast.Tuple)
                        and isinstance(node.value, ast.Subscript))
        target = unpacked.targets[0]
        assert isinstance(target, ast.Tuple)
        names = [e.id for e in target.elts if isinstance(e, ast.Name)]
        expected = [f.name for f in fields(DetectorState)][:SCALARS]
        renamed = {"samples": "n", "first_ms": "t0", "last_ms": "t"}
        assert names == [renamed.get(n, n) for n in expected]

    def test_readable_after_a_run(self) -> None:
        """The named view says what the detector knows: samples, clock, profile in use."""
        ts = times(3000, 10 * 60_000)
        _, stored = run(noise(3000, 2), ts)
        s = unpack(stored)
        assert (s.samples, s.first_ms, s.last_ms) == (3000, ts[0], ts[-1])
        assert s.day is not None and s.week is not None
        assert len(s.day.values) == 48 and len(s.week.values) == 84


class TestStoredForm:
    """What the host state (and the changelog) holds."""

    def test_orjson_round_trip_between_every_sample(self) -> None:
        """Serialising and reloading the state between samples changes no score at all."""
        params = AnomalyParams(block=8, min_blocks=4, blocks=16, hold=5, startup=100)
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
        assert max(direct) > 0.5

    def test_only_plain_json_types(self) -> None:
        """The state is dicts, lists, strings, finite numbers, booleans and None only."""
        _, state = run(noise(5000, 41))
        assert only_json_types(state)
        assert only_json_types(new_state())
        assert orjson.loads(orjson.dumps(state)) == state

    def test_bounded_and_small(self) -> None:
        """As many numbers after 60,000 samples as after 10,000, and under 9 KB of JSON."""
        _, short = run(noise(10_000, 42), times(10_000, 10 * 60_000))
        _, long = run(noise(60_000, 42), times(60_000, 10 * 60_000))
        assert numbers_in(long) == numbers_in(short) <= 700
        assert len(orjson.dumps(long)) < 9_000
        _, flat = run(noise(10_000, 42), params=AnomalyParams(seasonal=False))
        assert numbers_in(flat) <= 300


class TestOlderStates:
    """A state written by another version or for other settings is taken over, never a crash."""

    def test_version_1_keeps_its_weekly_profile_and_clock(self) -> None:
        """The first detector's weekly profile (weeks of learning) and clock carry over;
        its tails do not (they measured another statistic): the tests start again."""
        old = v1_state()
        t = old["t"] + 30 * 60_000
        score = update(old, t, 100.0)
        s = unpack(old)
        assert old["v"] == STATE_VERSION and set(old) == {"v", "d"}
        assert 0.0 <= score <= 1.0
        assert s.samples == 1 and s.last_ms == t and s.first_ms == v1_state()["t0"]
        assert s.week is not None
        assert s.week.values == v1_state()["prof"]  # all 84 bins, as learnt
        assert all(1 <= v <= 4 for v in s.week.visits)
        assert s.day is not None and not any(s.day.visits)  # the daily profile is new

    def test_version_1_weekly_profile_counts_its_weeks(self) -> None:
        """The carried weekly profile keeps its three weeks of history: eight more days and it
        is in use, where a new state would still wait three weeks for it (a coarse daily
        profile, two bins, keeps the daily one from winning instead)."""
        params = AnomalyParams(day_bins=2)
        old, fresh = v1_state(), new_state(params)
        t = old["t"]
        rng = random.Random(3)
        for _ in range(8 * 48):
            t += 30 * 60_000
            x = 100 + 20 * math.sin(2 * math.pi * (t % DAY_MS) / DAY_MS) + rng.gauss(0, 2)
            update(old, t, x, params)
            update(fresh, t, x, params)
        assert unpack(old).profile_in_use == WEEK_PROFILE
        assert unpack(fresh).profile_in_use != WEEK_PROFILE

    @pytest.mark.parametrize("junk", [
        {"v": 999, "junk": [1, 2, 3]}, {}, {"v": 1}, {"v": 1, "prof": "x", "pw": None, "t": "y"},
        {"v": 2, "d": "nope"}, {"v": 2, "d": [1, 2, 3]},
    ])
    def test_anything_else_starts_afresh(self, junk: dict[str, Any]) -> None:
        """An unknown version or a damaged state is replaced in place by a new one."""
        assert update(junk, 1_000, 1.0) == 0.0
        assert set(junk) == {"v", "d"} and unpack(junk).samples == 1

    def test_changed_profile_settings_are_adopted(self) -> None:
        """A state made with other profile settings keeps its tests and takes the new shape."""
        _, state = run(noise(3000, 44))
        before = unpack(state).samples
        for params, day in ((AnomalyParams(seasonal=False), None),
                            (AnomalyParams(day_bins=24), 24), (AnomalyParams(), 48)):
            s = update(state, times(3001)[-1], 0.0, params)
            assert 0.0 <= s <= 1.0
            got = unpack(state)
            assert (None if got.day is None else len(got.day.values)) == day
        assert unpack(state).samples == before + 3
