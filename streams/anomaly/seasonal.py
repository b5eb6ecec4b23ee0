"""Time-of-day and time-of-week profiles: what a series usually reads at this time.

Demand-driven metrics (request rates, latency, job submissions, taxi demand, ad
traffic) follow the day and the week: a quiet Sunday night is normal, the same level on
a Tuesday noon is not, and a daily batch job's spike is routine at 02:00 only. A level
that is within the series' usual range can still be far from what this time usually
brings; a profile catches that.

A profile is `bins` values over its period (a day or a week), each the weighted mean of
the samples that fell into that bin: a sample weighs its share of a bin width (the time
since the previous sample, at most one bin), so one visit of a bin weighs 1 whatever
the sampling rate. Each bin is the mean of its visits until they weigh 1/rate, then an
EW mean across periods with weight `rate` per visit: the first period is learnt
exactly, and the profile keeps adapting. A bin answers once it has seen a quarter of a
visit. Bins are not interpolated: a square wave (a nightly job switching on) keeps its
edges, which interpolation would blur into residuals twice a day.

A profile is plain data: values (None until visited, JSON null) and weights (visits
seen, capped at 1/rate, rounded to 1e-6 so that the state stays short in JSON). When
the clock leaves a bin its value is settled to 9 significant digits (`profile_settle`),
which keeps the state short too (a double's repr has 17). Times
are epoch ms (UTC); the profile learns local time's offset like any other pattern.
"""

from __future__ import annotations

__all__ = ["DAY_MS", "WEEK_MS", "profile_at", "profile_bin", "profile_learn", "profile_settle"]

DAY_MS = 24 * 3600 * 1000
WEEK_MS = 7 * DAY_MS
MIN_WEIGHT = 0.25  # a bin answers once a quarter of a visit has been seen


def profile_bin(ts_ms: int, period_ms: int, bins: int) -> int:
    """The bin of a time."""
    return (ts_ms % period_ms) * bins // period_ms


def profile_at(values: list[float | None], weights: list[float], b: int) -> float | None:
    """The profile's value in bin b, or None while the bin is barely known."""
    v = values[b]
    if v is None or weights[b] < MIN_WEIGHT:
        return None
    return v


def profile_learn(values: list[float | None], weights: list[float], b: int, value: float,
                  dt_ms: int, period_ms: int, rate: float, clip: float = 0.0) -> None:
    """Fold one sample into bin b; `dt_ms` is the time since the previous sample.

    With `clip` > 0 a known bin moves as if the sample were at most `clip` away from it
    (a Huber-like step): one odd day does not become what this time usually brings.
    """
    span = dt_ms * len(values) / period_ms  # this sample's time, in bin widths
    if span > 1.0:
        span = 1.0
    old = values[b]
    if old is None:
        values[b] = value
    if span <= 0.0:
        return
    total = weights[b] + span
    cap = 1.0 / rate
    if total > cap:
        total = cap
    if old is not None:
        step = value - old
        if clip > 0.0:
            step = clip if step > clip else -clip if step < -clip else step
        values[b] = old + (span / total) * step
    weights[b] = round(total, 6)


def profile_settle(values: list[float | None], b: int) -> None:
    """Round bin b's value to 9 significant digits (the clock has left the bin)."""
    v = values[b]
    if v is not None:
        values[b] = float(f"{v:.9g}")
