"""Smoothing per series: weighted moving average, EWMA with EW variance, outlier flag.

Samples arrive at irregular intervals (agents drift, batches are lost and resent), so
the EWMA uses a time constant: alpha = 1 - exp(-dt / tau). The EW variance is kept
beside it (West's incremental form) for anomaly scores, and an EW mean absolute
deviation gives a robust outlier test that needs no window of past values.

`update_series` is the definition, for one series whose state is a flat list
`[last_ts, last_value, ewma, ewvar, ewmad, count, w_0, ..., w_(n-1)]` (the w's are the
last n values, oldest first; fewer while the series is young). The pipeline keeps the
same quantities for all series of a host in columns and folds a batch at once
(streams.core.series), with exactly this arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Smoothed", "SmoothingParams", "alpha_for", "update_series", "wma"]

# Slots of the per-series state list.
TS, LAST, EWMA, EWVAR, EWMAD, COUNT, BUF = 0, 1, 2, 3, 4, 5, 6


@dataclass(frozen=True, slots=True)
class SmoothingParams:
    tau_ms: float = 60_000.0  # EWMA time constant
    wma_n: int = 5  # WMA window length
    outlier_k: float = 8.0  # |x - ewma| > k * ewmad is an outlier (k=8 is about 6.4 sigma)
    outlier_min_count: int = 10  # never flag a series younger than this

    @classmethod
    def of(cls, ewma_tau_s: float, wma_window: int) -> SmoothingParams:
        """From the worker's settings (`[worker] ewma_tau_s`, `wma_window`): the one place
        the live worker and `replay` both take them from."""
        return cls(tau_ms=ewma_tau_s * 1000.0, wma_n=max(1, wma_window))


@dataclass(frozen=True, slots=True)
class Smoothed:
    """What the rules and the store see of one sample after smoothing."""

    ewma: float
    ewvar: float  # EW variance *before* this sample was folded in (what it deviates from)
    wma: float
    outlier: bool
    prev_value: float | None
    prev_ts: int | None


def alpha_for(dt_ms: float, tau_ms: float) -> float:
    """EWMA weight of a sample that arrives dt after the previous one."""
    if dt_ms <= 0:
        return 0.0
    return 1.0 - math.exp(-dt_ms / tau_ms)


def wma(values: list[float]) -> float:
    """Linearly weighted moving average, newest weighted highest: sum(w_i x_i) / sum(w_i)."""
    n = len(values)
    num = 0.0
    for i, x in enumerate(values, 1):
        num += i * x
    return num / (n * (n + 1) / 2)


def update_series(state: list[float] | None, ts: int, value: float,
                  p: SmoothingParams) -> tuple[list[float], Smoothed]:
    """Fold one sample into a series' state; returns the new state and the smoothed view."""
    if state is None:
        st: list[float] = [ts, value, value, 0.0, 0.0, 1, value]
        return st, Smoothed(value, 0.0, value, False, None, None)
    prev_ts = int(state[TS])
    prev_value = state[LAST]
    mean = state[EWMA]
    var = state[EWVAR]
    mad = state[EWMAD]
    count = int(state[COUNT])
    a = alpha_for(ts - prev_ts, p.tau_ms)
    diff = value - mean
    outlier = count >= p.outlier_min_count and abs(diff) > p.outlier_k * mad and mad > 0
    if a > 0.0:
        incr = a * diff
        mean += incr
        new_var = (1.0 - a) * (var + diff * incr)
        mad = (1.0 - a) * mad + a * abs(diff)
    else:  # same instant or late: keep the smoothed values, do not move time back
        new_var = var
    buf = state[BUF:]
    buf.append(value)
    if len(buf) > p.wma_n:
        del buf[0]
    new_state = [max(ts, prev_ts), value, mean, new_var, mad, count + 1, *buf]
    return new_state, Smoothed(mean, var, wma(buf), outlier, prev_value, prev_ts)
