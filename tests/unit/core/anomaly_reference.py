"""The anomaly detector's update as it was first written, to test the faster one against.

streams.anomaly.detector.update writes the tail and profile steps out inline and
rounds profile weights without round() where that is exact; this is the plain
composition of streams.anomaly.tails and streams.anomaly.seasonal it replaced. Both
must give the same scores and leave the same state, bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

from streams.anomaly.params import DEFAULT_PARAMS, AnomalyParams
from streams.anomaly.seasonal import WEEK_MS, profile_at, profile_learn
from streams.anomaly.tails import new_tail, tail_log10p, tail_push

__all__ = ["reference_update"]

STATE_VERSION = 1
_TESTS = 4
_LOG10_TESTS = math.log10(_TESTS)
_MIN_SURPRISE_SCALE = 0.05
_REL_RESOLUTION = 1e-9
_MAX_ABS = 1e300
_SEASON_OFF = 1.25
_SEASON_CLIP = 4.0


def reference_update(state: dict[str, Any], ts_ms: int, value: float,
           params: AnomalyParams | None = None) -> float:
    """Fold one sample into the state and return its anomaly score in [0, 1].

    Samples are taken in arrival order; a timestamp earlier than the latest one is
    used as if it were the latest (it moves no clock backwards). A value that is not
    a finite number (or beyond 1e300 in size) is not folded in: the previous score is
    returned.
    """
    p = params or DEFAULT_PARAMS
    if state.get("v") != STATE_VERSION or len(state["prof"]) != (p.season_bins if p.seasonal
                                                                 else 0):
        _adapt(state, p)
    x = float(value)
    if not (-_MAX_ABS <= x <= _MAX_ABS):  # also false for NaN
        return float(state["sc"])
    n = state["n"] + 1
    state["n"] = n
    if n == 1:
        state["t0"] = state["t"] = ts_ms
        state["xf"] = state["ms"] = state["c"] = x
        if p.seasonal:
            profile_learn(state["prof"], state["pw"], ts_ms, x, 0, p.season_rate)
        return 0.0
    dt = ts_ms - state["t"]
    if dt < 0:
        dt = 0
    else:
        state["t"] = ts_ms
    t = state["t"]

    # one-step error, short-window level, and the level's deviation from the profile
    e = x - state["xf"]
    ms = state["ms"] + (x - state["ms"]) / p.window
    state["ms"] = ms
    c = state["c"]
    a_long = 1.0 / n if n < p.baseline else 1.0 / p.baseline
    if p.seasonal:
        expected = profile_at(state["prof"], state["pw"], t)
        resid = x - (c if expected is None else expected)
        mr = state["mr"] + (resid - state["mr"]) / p.window
        state["mr"] = mr
        dp = state["dp"] + a_long * (abs(x - c) - state["dp"])
        ds = state["ds"] + a_long * (abs(resid) - state["ds"])
        state["dp"], state["ds"] = dp, ds
        level = mr if state["so"] else ms
    else:
        level = ms

    # stage 1: how rare is this sample, by its most surprising test
    block = p.block
    floor = p.min_scale
    tiny = _REL_RESOLUTION * (1.0 + abs(c))
    if floor < tiny:
        floor = tiny
    ep, en, lp, ln = state["ep"], state["en"], state["lp"], state["ln"]
    lg = min(tail_log10p(ep, e, block, floor), tail_log10p(en, -e, block, floor),
             tail_log10p(lp, level, block, floor), tail_log10p(ln, -level, block, floor))
    surprise = -(lg + _LOG10_TESTS)

    # stage 2: how rare is that surprise for this series
    score = 0.0
    if ep["mu"] is not None:
        rt = state["r"]
        score = -tail_log10p(rt, surprise, block, _MIN_SURPRISE_SCALE) / 10.0
        if score > 1.0:
            score = 1.0
        tail_push(rt, surprise, block, p.blocks, p.min_blocks)

    # learn from the sample only after it was judged
    blocks, min_blocks = p.blocks, p.min_blocks
    closed = tail_push(ep, e, block, blocks, min_blocks)
    tail_push(en, -e, block, blocks, min_blocks)
    tail_push(lp, level, block, blocks, min_blocks)
    tail_push(ln, -level, block, blocks, min_blocks)
    state["xf"] += p.fast * e
    state["c"] = c + a_long * (x - c)
    if p.seasonal:
        profile_learn(state["prof"], state["pw"], t, x, dt, p.season_rate,
                      _SEASON_CLIP * state["ds"])
        if closed:
            _choose_baseline(state, p, t)

    # hold the peak so that one event is one episode
    if score >= state["hv"] or state["ha"] >= p.hold:
        state["hv"] = score
        state["ha"] = 0
    else:
        state["ha"] += 1
        score = state["hv"]
    state["sc"] = score
    return score


def _adapt(state: dict[str, Any], p: AnomalyParams) -> None:
    """Make a state from another version or other profile settings usable with `p`.

    Another version starts afresh; a changed profile setting drops the profile (and
    the level tests, if they were using it) and keeps the rest.
    """
    from streams.anomaly import new_state

    fresh = new_state(p)
    if state.get("v") != STATE_VERSION:
        state.clear()
        state.update(fresh)
        return
    state["prof"], state["pw"] = fresh["prof"], fresh["pw"]
    state["ds"] = state["dp"]
    if state["so"]:
        state["so"] = False
        state["lp"], state["ln"] = new_tail(), new_tail()


def _choose_baseline(state: dict[str, Any], p: AnomalyParams, t: int) -> None:
    """Use the weekly profile once it explains the series; the level tests restart on a switch.

    Decided when a block closes, after a full week of data, with hysteresis so that a
    series near the boundary does not keep resetting its level tests.
    """
    if t - state["t0"] < WEEK_MS:
        return
    on = state["so"]
    gain = p.season_gain * (_SEASON_OFF if on else 1.0)
    want = state["ds"] < gain * state["dp"]
    if want != on:
        state["so"] = want
        state["lp"] = new_tail()
        state["ln"] = new_tail()
