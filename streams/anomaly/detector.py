"""Streaming anomaly score of one series: has it been here before?

Each sample is judged before it is learnt, by up to three tests, each two-sided:

- value: the sample itself against the envelope (`streams.anomaly.envelope`) of the
  series' own values: the second-highest and second-lowest levels of its last
  `block * blocks` samples (spikes, drops, new highs and lows);
- level: the EW mean of the last `window` samples against the envelope of that mean (a
  shift or drift that lasts, though no single sample stands out);
- season: once a daily or weekly profile explains the series, the EW mean of the
  deviation from the profile against the envelope of that deviation (a weekday that
  looks like a Sunday, a nightly job that did not run).

A test's novelty is how far the tested value goes beyond its envelope, as a fraction z
of the envelope's range (second-highest minus second-lowest), and the score is

    score = 0.5 + (log10(min(N, H) / H) + (z - margin) / step) / 10,   in [0, 1],

for the most novel test, with H = block * blocks and N the samples the test has seen.
So 0.5 is "beyond the second-highest level of the last 4096 samples by 6.5 % of the
range", each further 1.25 % of the range adds 0.1, and a test with less history asks
for more (a record among 400 samples is ten times less remarkable than among 4096).
While the series is young (`startup` samples) a score also needs the sample itself far
from the series' mean, and beyond the envelopes extrapolated to the full horizon and
the highest level reached once (`_young_excess`): a start that keeps a new series as
quiet as an old one, yet flags a clear shift within its first hour at one sample a
minute.
Finally the score keeps its peak for `hold` samples, so one event is one episode.

Everything is O(1) per sample except a scan of `blocks` numbers when a block closes;
the state (`streams.anomaly.state`) is bounded: eight envelopes, two profiles and a
dozen numbers.
"""

from __future__ import annotations

import math
from typing import Any

from streams.anomaly.envelope import MAXIMA, Envelope, close_block
from streams.anomaly.params import DEFAULT_PARAMS, AnomalyParams
from streams.anomaly.seasonal import DAY_MS, WEEK_MS, profile_fold
from streams.anomaly.state import NO_PROFILE, SCALARS, STATE_VERSION, upgrade

__all__ = ["update"]

_MAX_ABS = 1e300  # larger values would overflow the arithmetic; they are skipped
_REL_RESOLUTION = 1e-7  # relative to the level: below this a range is float noise (the
# envelopes keep 9 significant digits, so a repeated value can seem to exceed its own
# stored maximum by 5e-10 of it: far below this floor times the margin)
_NONE = -1e9  # excess of a test that cannot answer yet
_START_Z = 8.0  # start-up: mean deviations from the mean a sample needs, at first
_DEV_TO_SD = 1.25  # mean absolute deviation -> standard deviation (Gaussian)
_CHOOSE_EVERY = 32  # samples between two decisions on the profile in use
_SEASON_CLIP = 4.0  # a profile learns a visit at most 4 mean residual deviations away
_PERIODS = ((DAY_MS, 16), (WEEK_MS, 17))  # (period, position in the stored state)


def update(state: dict[str, Any], ts_ms: int, value: float,
           params: AnomalyParams | None = None) -> float:
    """Fold one sample into the state and return its anomaly score in [0, 1].

    Samples are taken in arrival order; a timestamp earlier than the latest one is
    used as if it were the latest (it moves no clock backwards). A value that is not a
    finite number (or beyond 1e300 in size) is not folded in: the previous score is
    returned. Any state that is not a version-2 state for these parameters is upgraded
    in place first (`streams.anomaly.state.upgrade`).
    """
    p = params or DEFAULT_PARAMS
    d = state.get("d")
    if state.get("v") != STATE_VERSION or type(d) is not list or len(d) != 18 or \
            not _fits(d[16], d[17], p):
        upgrade(state, p)
        d = state["d"]
    assert isinstance(d, list)
    x = float(value)
    if not (-_MAX_ABS <= x <= _MAX_ABS):  # also false for NaN
        return float(d[3])
    (n, t0, t, score, held, held_for, level, start_mean, start_dev, base_mean, base_dev,
     profile_in_use) = d[:SCALARS]
    value_up, value_down, level_up, level_down = d[12], d[13], d[14], d[15]
    n += 1
    if t == 0:
        t0 = t = ts_ms
    if ts_ms > t:  # (an older timestamp moves no clock back)
        t = ts_ms
    if n == 1:
        level = start_mean = base_mean = x
    else:
        level += (x - level) / p.window

    # judge: the most novel test, in decades beyond the 0.5 line
    horizon = p.block * p.blocks
    seen = n - 1
    best = _NONE
    if len(value_up[5]) >= p.min_blocks:  # (the four envelopes close their blocks together)
        if n <= p.startup and seen < horizon:  # start-up: see _young_excess
            grow = math.log(horizon / 2) / math.log(seen / 2)
            best = _young_excess(value_up, value_down, x, start_mean, grow, p)
            e = _young_excess(level_up, level_down, level, start_mean, grow, p)
        else:
            calib = math.log10(seen / horizon) if seen < horizon else 0.0
            best = _excess(value_up, value_down, x, calib, p)
            e = _excess(level_up, level_down, level, calib, p)
        if e > best:
            best = e
    if p.seasonal:
        e = _seasons(d, t, x, profile_in_use, p)
        if e > best:
            best = e
        if n % _CHOOSE_EVERY == 0:
            profile_in_use = _choose_profile(d, t, base_dev, p)
    score = 0.5 + best / 10.0
    score = 0.0 if score < 0.0 else 1.0 if score > 1.0 else score
    if n <= p.startup:
        if score > 0.0 and abs(x - start_mean) < _START_Z * (1.0 - n / p.startup) * \
                _DEV_TO_SD * start_dev:
            score = 0.0
        a = 1.0 / n
        start_dev += a * (abs(x - start_mean) - start_dev)
        start_mean += a * (x - start_mean)

    # learn
    _learn(value_up, value_down, level_up, level_down, x, level, p)
    a = 1.0 / n if n < p.baseline else 1.0 / p.baseline
    base_dev += a * (abs(x - base_mean) - base_dev)
    base_mean += a * (x - base_mean)

    # hold the peak so that one event is one episode
    if score >= held or held_for >= p.hold:
        held, held_for = score, 0
    else:
        held_for += 1
        score = float(held)
    d[:SCALARS] = (n, t0, t, score, held, held_for, level, start_mean, start_dev, base_mean,
                   base_dev, profile_in_use)
    return score


def _learn(value_up: Envelope, value_down: Envelope, level_up: Envelope, level_down: Envelope,
           x: float, level: float, p: AnomalyParams) -> None:
    """envelope.envelope_push of the value and the level, both ways, written out (it runs
    four times for every sample)."""
    block, blocks = p.block, p.blocks
    c = value_up[1]
    if c == 0 or x > value_up[2]:
        value_up[2] = x
    if c + 1 < value_up[0]:
        value_up[1] = c + 1
    else:
        close_block(value_up, block, blocks)
    c = value_down[1]
    if c == 0 or -x > value_down[2]:
        value_down[2] = -x
    if c + 1 < value_down[0]:
        value_down[1] = c + 1
    else:
        close_block(value_down, block, blocks)
    c = level_up[1]
    if c == 0 or level > level_up[2]:
        level_up[2] = level
    if c + 1 < level_up[0]:
        level_up[1] = c + 1
    else:
        close_block(level_up, block, blocks)
    c = level_down[1]
    if c == 0 or -level > level_down[2]:
        level_down[2] = -level
    if c + 1 < level_down[0]:
        level_down[1] = c + 1
    else:
        close_block(level_down, block, blocks)


def _fits(day: Any, week: Any, p: AnomalyParams) -> bool:
    """Whether a version-2 state's profiles have the shape these parameters ask for."""
    if week is None:
        return day is None and not p.seasonal
    return p.seasonal and len(week[4]) == p.season_bins and len(day[4]) == p.day_bins


def _excess(up: Envelope, down: Envelope, v: float, calib: float, p: AnomalyParams) -> float:
    """How far beyond the 0.5 line (in decades) v lies outside the envelope pair."""
    if len(up[MAXIMA]) < p.min_blocks:
        return _NONE
    if p.rank == 2:
        hi = _level(up)
        lo = -_level(down)
    else:
        hi = _top(up)
        lo = -_top(down)
    return calib + (_beyond(v, hi, lo, p) - p.margin) / p.step


def _young_excess(up: Envelope, down: Envelope, v: float, center: float, grow: float,
                  p: AnomalyParams) -> float:
    """_excess during the start-up period, which asks two more things of a novelty.

    The envelope levels seen so far are extrapolated to what the full horizon would
    show: their distance from the start-up mean times `grow`, ln(H/2) / ln(N/2), the
    growth of the second-highest of N samples to that of H samples for an exponential
    tail (a Gaussian one grows less, so the estimate errs on the quiet side). The
    history-length term of _excess ("decades") is far too weak there: a young series
    would fire several times more often than an old one on the same noise.

    And a level the series reached once counts as seen (the plain record, with the
    margin): a routine event (a checkpoint every half hour) is new the first time, not
    also the second, which the second-highest level alone would say while one block
    holds the first visit.
    """
    if len(up[MAXIMA]) < p.min_blocks:
        return _NONE
    top, bottom = _top(up), -_top(down)
    if p.rank == 2:
        hi, lo = _level(up), -_level(down)
    else:
        hi, lo = top, bottom
    c = hi if center > hi else lo if center < lo else center
    z = _beyond(v, c + (hi - c) * grow, c - (c - lo) * grow, p)
    z_record = _beyond(v, top, bottom, p)
    return ((z if z < z_record else z_record) - p.margin) / p.step


def _beyond(v: float, hi: float, lo: float, p: AnomalyParams) -> float:
    """How far v lies outside [lo, hi], as a fraction of hi - lo (negative inside)."""
    rng = hi - lo
    floor = _REL_RESOLUTION * (1.0 + abs(hi))
    if floor < p.min_scale:
        floor = p.min_scale
    if rng < floor:
        rng = floor
    z = v - hi
    if lo - v > z:
        z = lo - v
    return z / rng


def _level(env: Envelope) -> float:
    """streams.anomaly.envelope.envelope_level for an envelope with two or more blocks."""
    top2: float = env[4]
    if env[1]:
        cur = env[2]
        if cur > top2:
            top1 = env[3]
            return float(cur if cur < top1 else top1)
    return float(top2)


def _top(env: Envelope) -> float:
    """The highest block maximum, open block included (rank 1)."""
    top1: float = env[3]
    if env[1] and env[2] > top1:
        return float(env[2])
    return top1


def _push(env: Envelope, v: float, p: AnomalyParams) -> None:
    """streams.anomaly.envelope.envelope_push."""
    count = env[1]
    if count == 0 or v > env[2]:
        env[2] = v
    count += 1
    if count < env[0]:
        env[1] = count
    else:
        close_block(env, p.block, p.blocks)


def _seasons(d: list[Any], t: int, x: float, in_use: int, p: AnomalyParams) -> float:
    """Test the deviation from the profile in use; learn both profiles and residuals."""
    best = _NONE
    for which, (period, pos) in enumerate(_PERIODS, start=1):
        prof = d[pos]
        values = prof[4]
        bins = len(values)
        b = (t % period) * bins // period
        if b != prof[1]:
            if prof[3]:  # the visit of the previous bin is over
                profile_fold(values, prof[5], prof[1], prof[2] / prof[3], p.season_rate,
                             _SEASON_CLIP * prof[6])
            elif not prof[0]:
                prof[0] = t
            prof[1], prof[2], prof[3] = b, x, 1
        else:
            prof[2] += x
            prof[3] += 1
        if prof[5][b]:
            r = x - values[b]
            seen = prof[8]
            prof[6] += (abs(r) - prof[6]) / (seen + 1 if seen < p.baseline else p.baseline)
            res = r if seen == 0 else prof[7] + (r - prof[7]) / p.window
            prof[7] = res
            up, down = prof[9], prof[10]
            if which == in_use and seen:
                horizon = p.block * p.blocks
                calib = math.log10(seen / horizon) if seen < horizon else 0.0
                best = _excess(up, down, res, calib, p)
            _push(up, res, p)
            _push(down, -res, p)
            prof[8] = seen + 1
    return best


def _choose_profile(d: list[Any], t: int, base_dev: float, p: AnomalyParams) -> int:
    """The profile that best explains the series, if one explains it well enough.

    A profile qualifies after `season_periods` whole periods, when its residuals' mean
    absolute deviation is below season_gain times the flat baseline's; of two that
    qualify, the one with the smaller residuals wins.
    """
    chosen, chosen_dev = NO_PROFILE, 0.0
    for which, (period, pos) in enumerate(_PERIODS, start=1):
        prof = d[pos]
        dev = prof[6]
        if (prof[8] and t - prof[0] >= p.season_periods * period and dev < p.season_gain * base_dev
                and (chosen == NO_PROFILE or dev < chosen_dev)):
            chosen, chosen_dev = which, dev
    return chosen
