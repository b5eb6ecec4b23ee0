"""An hour-of-week profile: what a series usually reads at this time of the week.

Demand-driven metrics (request rates, latency, job submissions, the taxi demand of
NAB's nyc_taxi) follow the week: a quiet Sunday night is normal, the same level on a
Tuesday noon is not. A flat baseline cannot tell them apart, a profile can.

The profile is `bins` values over the week, linearly interpolated between bin
centres, so it is smooth and its size does not depend on the sampling rate. A
sample weighs in each of its two neighbouring bins by its share of the time since
the previous sample (at most one bin width), so one week's visit of a bin weighs 1
whatever the sampling rate. Each bin is the weighted mean of its visits until they
weigh 1/rate, then an EW mean across weeks with weight `rate` per visit: the first
week is learnt exactly, and the profile keeps adapting afterwards.

`values` holds the bins (None until visited, JSON null), `weights` the visits
seen, capped at 1/rate (rounded to 1e-6 so that the state stays short in JSON).
Times are epoch ms (UTC): the profile learns local time's offset like any pattern.
"""

from __future__ import annotations

__all__ = ["WEEK_MS", "profile_at", "profile_learn"]

WEEK_MS = 7 * 24 * 3600 * 1000
_MIN_WEIGHT = 0.25  # a bin answers once a quarter of a visit has been seen


def _position(ts_ms: int, bins: int) -> tuple[int, int, float]:
    """The two bins around ts (by their centres) and the weight of the second."""
    pos = (ts_ms % WEEK_MS) * bins / WEEK_MS - 0.5
    i0 = int(pos // 1)
    f = pos - i0
    i0 %= bins
    return i0, (i0 + 1) % bins, f


def profile_at(values: list[float | None], weights: list[float], ts_ms: int) -> float | None:
    """The profile's value at ts, or None while either neighbouring bin is barely known."""
    i0, i1, f = _position(ts_ms, len(values))
    a, b = values[i0], values[i1]
    if a is None or b is None or weights[i0] < _MIN_WEIGHT or weights[i1] < _MIN_WEIGHT:
        return None
    return a + f * (b - a)


def profile_learn(values: list[float | None], weights: list[float], ts_ms: int, value: float,
                  dt_ms: int, rate: float, clip: float = 0.0) -> None:
    """Fold one sample into the two bins around ts.

    With `clip` > 0, a bin that has seen a whole visit moves as if the sample were at
    most `clip` away from it (a Huber-like step), so that one anomalous day does not
    leave its mark on the same hour of the following weeks.
    """
    bins = len(values)
    i0, i1, f = _position(ts_ms, bins)
    span = dt_ms * bins / WEEK_MS  # this sample's time, in bin widths
    if span > 1.0:
        span = 1.0
    cap = 1.0 / rate
    for i, share in ((i0, 1.0 - f), (i1, f)):
        w = share * span
        total = weights[i] + w
        if total > cap:
            total = cap
        old = values[i]
        if old is None:
            values[i] = value
        elif w > 0.0:  # total >= w > 0: the first weighted sample replaces a placeholder
            d = value - old
            if clip > 0.0 and weights[i] >= 1.0:
                d = clip if d > clip else -clip if d < -clip else d
            values[i] = old + (w / total) * d
        weights[i] = round(total, 6)
