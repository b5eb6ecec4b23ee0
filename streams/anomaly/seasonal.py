"""Time-of-day and time-of-week profiles: what a series usually reads at this time.

Demand-driven metrics (request rates, latency, job submissions, taxi demand, ad
traffic) follow the day and the week: a quiet Sunday night is normal, the same level on
a Tuesday noon is not, and a daily batch job's spike is routine at 02:00 only. A level
that is within the series' usual range can still be far from what this time usually
brings; a profile catches that.

A profile is `bins` values over its period (a day or a week). A visit of a bin is the
run of samples that fall into it before the clock moves on; the profile learns from the
visit's mean when the visit ends (`profile_fold`), so the cost per sample is a sum, and
the value a sample is compared with is what earlier periods said, not the visit in
progress. A bin's value is the mean of its first visits until it has seen 1/rate of
them, then an EW mean across periods with weight `rate`: the first period is learnt
exactly, and the profile keeps adapting. With `clip`, a known bin moves as if the visit
were at most `clip` away (a Huber-like step), so one odd day does not become the usual.
Bins are not interpolated: a square wave (a nightly job switching on) keeps its edges,
which interpolation would blur into residuals twice a day.

The visit's mean is independent of the sampling rate, and a bin answers once it has
seen one visit. Values are kept to 9 significant digits (a double's repr has 17: the
state stays short in JSON); visits are small integers. Times are epoch ms (UTC); the
profile learns local time's offset like any other pattern.
"""

from __future__ import annotations

__all__ = ["DAY_MS", "WEEK_MS", "profile_bin", "profile_fold"]

DAY_MS = 24 * 3600 * 1000
WEEK_MS = 7 * DAY_MS


def profile_bin(ts_ms: int, period_ms: int, bins: int) -> int:
    """The bin of a time."""
    return (ts_ms % period_ms) * bins // period_ms


def profile_fold(values: list[float], visits: list[int], b: int, mean: float, rate: float,
                 clip: float = 0.0) -> None:
    """Learn one finished visit of bin b, whose samples averaged `mean`."""
    seen = visits[b]
    cap = round(1.0 / rate)
    if seen == 0:
        values[b] = float(f"{mean:.9g}")
    else:
        step = mean - values[b]
        if clip > 0.0:
            step = clip if step > clip else -clip if step < -clip else step
        values[b] = float(f"{values[b] + step / (seen + 1 if seen < cap else cap):.9g}")
    if seen < cap:
        visits[b] = seen + 1
