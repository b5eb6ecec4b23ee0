"""Streaming anomaly score of one series: surprise, calibrated against the series' own past.

Two stages, both built on `tails` (a Gumbel law fitted to recent block maxima):

1. Four one-sided tests say how rare the newest sample is:
   - spike up / spike down: the error of a one-step predictor (an EWMA that is about
     the last two samples) against the recent maxima of that error;
   - level up / level down: the mean of the short recent window (`window` samples)
     against the recent extremes of that mean, or, for a series the weekly profile
     explains (`seasonal`), the window's mean deviation from the profile.
   Their smallest probability, times four (Bonferroni), is the sample's surprise
   r = -log10(p): "one in 10^r".
2. Surprise is not comparable across series (a jittery latency series is surprising
   every hour), so r itself gets a tail over the same horizon, and the score is the
   rarity of r for *this* series: score = -log10(p2) / 10, capped at 1. A score of
   0.5 means "one sample in 10^5 is this surprising here", the convention of
   Numenta's anomaly likelihood, whose idea (a long baseline of a short window's
   surprise) this follows.

Finally the score keeps its peak for `hold` samples, so one event reads as one
episode. Everything is O(1) per sample except a sort of `blocks` numbers when a
block closes, and the state is bounded: 5 rings of `blocks` maxima, the weekly
profile, and a few scalars.

State keys (a plain JSON dict, mutated in place): v version; n samples folded in;
t0, t first and latest event time (ms); xf one-step prediction; ms short-window
mean; c long-run mean; dp, ds long-run mean absolute deviation from c and from the
profile; mr short-window mean deviation from the profile; so whether the profile
baseline is in use; prof, pw the profile and its bins' weights; ep, en, lp, ln the
spike and level tails (up, down); r the tail of the surprise; hv, ha the held score
and its age; sc the latest score (returned again for a sample that cannot be used).
"""

from __future__ import annotations

import math
from math import exp, expm1, floor, inf, log10
from typing import Any

from streams.anomaly.params import DEFAULT_PARAMS, AnomalyParams
from streams.anomaly.seasonal import WEEK_MS, profile_learn
from streams.anomaly.tails import new_tail, tail_close, tail_log10p

__all__ = ["STATE_VERSION", "new_state", "round6", "update"]

STATE_VERSION = 1
_TESTS = 4  # spike up, spike down, level up, level down
_LOG10_TESTS = math.log10(_TESTS)
_MIN_SURPRISE_SCALE = 0.05  # decades: the surprise of a perfectly regular series
_REL_RESOLUTION = 1e-9  # relative to the level: below this a change is float noise
_MAX_ABS = 1e300  # larger values would overflow the arithmetic; they are skipped
_SEASON_OFF = 1.25  # hysteresis factor on season_gain for dropping the profile
_SEASON_CLIP = 4.0  # a profile bin learns from at most 4 mean deviations away
_MIN_WEIGHT = 0.25  # seasonal: a bin answers once a quarter of a visit has been seen
_LOG10E = math.log10(math.e)


def new_state(params: AnomalyParams | None = None) -> dict[str, Any]:
    """The state of a series before its first sample."""
    p = params or DEFAULT_PARAMS
    return {
        "v": STATE_VERSION, "n": 0, "t0": 0, "t": 0,
        "xf": 0.0, "ms": 0.0, "c": 0.0, "dp": 0.0, "ds": 0.0, "mr": 0.0, "so": False,
        "prof": [None] * p.season_bins if p.seasonal else [],
        "pw": [0.0] * p.season_bins if p.seasonal else [],
        "ep": new_tail(), "en": new_tail(), "lp": new_tail(), "ln": new_tail(),
        "r": new_tail(),
        "hv": 0.0, "ha": 0, "sc": 0.0,
    }


def update(state: dict[str, Any], ts_ms: int, value: float,
           params: AnomalyParams | None = None) -> float:
    """Fold one sample into the state and return its anomaly score in [0, 1].

    Samples are taken in arrival order; a timestamp earlier than the latest one is
    used as if it were the latest (it moves no clock backwards). A value that is not
    a finite number (or beyond 1e300 in size) is not folded in: the previous score is
    returned.

    It runs for every sample of every anomaly-watched series, so the tail and profile
    steps are written out here rather than called (`tails.tail_log10p`,
    `tails.tail_push`, `seasonal.profile_at`, `seasonal.profile_learn` are the same
    arithmetic, operation for operation).
    """
    p = params or DEFAULT_PARAMS
    seasonal = p.seasonal
    if state.get("v") != STATE_VERSION or len(state["prof"]) != (p.season_bins if seasonal
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
        if seasonal:
            profile_learn(state["prof"], state["pw"], ts_ms, x, 0, p.season_rate)
        return 0.0
    t = state["t"]
    dt = ts_ms - t
    if dt < 0:
        dt = 0
    else:
        state["t"] = t = ts_ms

    # one-step error, short-window level, and the level's deviation from the profile
    e = x - state["xf"]
    window = p.window
    ms = state["ms"]
    ms = ms + (x - ms) / window
    state["ms"] = ms
    c = state["c"]
    a_long = 1.0 / n if n < p.baseline else 1.0 / p.baseline
    if seasonal:
        prof: list[float | None] = state["prof"]
        pw: list[float] = state["pw"]
        bins = len(prof)
        pos = (t % WEEK_MS) * bins / WEEK_MS - 0.5  # seasonal._position
        i0 = int(pos // 1)
        f = pos - i0
        i0 %= bins
        i1 = (i0 + 1) % bins
        pa, pb = prof[i0], prof[i1]
        if pa is None or pb is None or pw[i0] < _MIN_WEIGHT or pw[i1] < _MIN_WEIGHT:
            resid = x - c
        else:
            resid = x - (pa + f * (pb - pa))
        mr = state["mr"]
        mr = mr + (resid - mr) / window
        state["mr"] = mr
        dp = state["dp"]
        dp = dp + a_long * (abs(x - c) - dp)
        ds = state["ds"]
        ds = ds + a_long * (abs(resid) - ds)
        state["dp"], state["ds"] = dp, ds
        level = mr if state["so"] else ms
    else:
        level = ms

    # stage 1: how rare is this sample, by its most surprising test
    # (tails.tail_log10p of each of the four tests, written out)
    block = p.block
    floor = p.min_scale
    tiny = _REL_RESOLUTION * (1.0 + abs(c))
    if floor < tiny:
        floor = tiny
    ep, en, lp, ln = state["ep"], state["en"], state["lp"], state["ln"]
    lg = 0.0
    mu = ep["mu"]
    if mu is not None:
        b = ep["b"]
        z = (e - mu) / (floor if b < floor else b)
        if z > 30.0:
            lg = -z * _LOG10E - log10(block)
        else:
            q = exp(-z) / block if z > -700.0 else inf
            lg = 0.0 if q > 40.0 else log10(-expm1(-q))
    mu = en["mu"]
    if mu is not None:
        b = en["b"]
        z = (-e - mu) / (floor if b < floor else b)
        if z > 30.0:
            r = -z * _LOG10E - log10(block)
        else:
            q = exp(-z) / block if z > -700.0 else inf
            r = 0.0 if q > 40.0 else log10(-expm1(-q))
        if r < lg:
            lg = r
    mu = lp["mu"]
    if mu is not None:
        b = lp["b"]
        z = (level - mu) / (floor if b < floor else b)
        if z > 30.0:
            r = -z * _LOG10E - log10(block)
        else:
            q = exp(-z) / block if z > -700.0 else inf
            r = 0.0 if q > 40.0 else log10(-expm1(-q))
        if r < lg:
            lg = r
    mu = ln["mu"]
    if mu is not None:
        b = ln["b"]
        z = (-level - mu) / (floor if b < floor else b)
        if z > 30.0:
            r = -z * _LOG10E - log10(block)
        else:
            q = exp(-z) / block if z > -700.0 else inf
            r = 0.0 if q > 40.0 else log10(-expm1(-q))
        if r < lg:
            lg = r
    surprise = -(lg + _LOG10_TESTS)

    # stage 2: how rare is that surprise for this series
    score = 0.0
    blocks, min_blocks = p.blocks, p.min_blocks
    if ep["mu"] is not None:
        rt = state["r"]
        score = -tail_log10p(rt, surprise, block, _MIN_SURPRISE_SCALE) / 10.0
        if score > 1.0:
            score = 1.0
        _push(rt, surprise, block, blocks, min_blocks)

    # learn from the sample only after it was judged (tails.tail_push, written out;
    # the four tests' blocks open and close together)
    me = -e
    ml = -level
    cur = ep["cur"]
    if cur is None or e > cur:
        ep["cur"] = e
    cur = en["cur"]
    if cur is None or me > cur:
        en["cur"] = me
    cur = lp["cur"]
    if cur is None or level > cur:
        lp["cur"] = level
    cur = ln["cur"]
    if cur is None or ml > cur:
        ln["cur"] = ml
    k = ep["k"] + 1
    closed = k >= block
    if closed:
        tail_close(ep, blocks, min_blocks)
    else:
        ep["k"] = k
    for tail in (en, lp, ln):
        k = tail["k"] + 1
        if k >= block:
            tail_close(tail, blocks, min_blocks)
        else:
            tail["k"] = k
    state["xf"] += p.fast * e
    state["c"] = c + a_long * (x - c)
    if seasonal:
        # seasonal.profile_learn at the position found above
        span = dt * bins / WEEK_MS
        if span > 1.0:
            span = 1.0
        cap = 1.0 / p.season_rate
        clip = _SEASON_CLIP * state["ds"]
        for i, share in ((i0, 1.0 - f), (i1, f)):
            w = share * span
            old_w = pw[i]
            total = old_w + w
            if total > cap:
                total = cap
            old = prof[i]
            if old is None:
                prof[i] = x
            elif w > 0.0:
                d = x - old
                if clip > 0.0 and old_w >= 1.0:
                    d = clip if d > clip else -clip if d < -clip else d
                prof[i] = old + (w / total) * d
            if total != old_w:  # an unchanged weight is already rounded
                pw[i] = round6(total)
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


def _push(tail: dict[str, Any], v: float, block: int, blocks: int, min_blocks: int) -> bool:
    """tails.tail_push, with the rare block close out of line."""
    cur = tail["cur"]
    if cur is None or v > cur:
        tail["cur"] = v
    k = tail["k"] + 1
    if k < block:
        tail["k"] = k
        return False
    tail_close(tail, blocks, min_blocks)
    return True


def round6(x: float) -> float:
    """round(x, 6), exactly, mostly without round's decimal conversion.

    x * 1e6 is within half an ulp of the exact product, so unless its fraction is
    within a hair of one half, it rounds to the same integer N as the exact decimal
    rounding would; N / 1e6 (both exact doubles, one correctly rounded division) is
    then the double nearest to N * 10**-6, which is what round returns.
    """
    if 0.0 < x < 1e8:
        y = x * 1e6
        n = floor(y)
        frac = y - n
        if not 0.4999999 < frac < 0.5000001:
            return (n + 1 if frac > 0.5 else n) / 1e6
    return round(x, 6)


def _adapt(state: dict[str, Any], p: AnomalyParams) -> None:
    """Make a state from another version or other profile settings usable with `p`.

    Another version starts afresh; a changed profile setting drops the profile (and
    the level tests, if they were using it) and keeps the rest.
    """
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
