"""What happened between two scrapes: counter increases, histogram deltas, quantiles.

An exporter's counters, histogram buckets and summary counts are cumulative since the
exporter started; rackwatch publishes what happened *in the interval*: a rate per
second, and for a histogram the quantiles and mean of the observations that fell in
the interval (not since start, which would bury a slow minute under a day of fast
ones).

Resets. An exporter's counters are float64 and never wrap, so, unlike kernel counters
(producers.rates), any decrease is a restart of the exporter or of that series, and so
is a changed `_created` time (a counter that restarted and has already grown past its
old value looks like a normal increase without it). A reset interval yields nothing
for that series: a missing point, never a spike and never a negative rate. A series
seen for the first time in a target already known is a baseline and contributes no
increase to the interval.

Quantiles follow Prometheus' `histogram_quantile`: find the bucket where the rank
q * count falls, interpolate linearly inside it (the lowest bucket starts at 0 when its
bound is positive), and when the rank falls in the +Inf bucket answer the highest
finite bound. Pure functions over `producers.exporters.exposition` values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from producers.exporters.exposition import Family, Histogram, LabelKey, Summary

__all__ = [
    "Delta",
    "Interval",
    "bucket_quantile",
    "counter_increase",
    "histogram_delta",
    "merge_deltas",
]


def counter_increase(prev: float, cur: float, prev_created: float | None = None,
                     cur_created: float | None = None) -> float | None:
    """How much a counter grew from `prev` to `cur`; None when it was reset in between."""
    if prev_created is not None and cur_created is not None and cur_created != prev_created:
        return None
    if not (cur >= prev):  # a decrease, or NaN on either side
        return None
    return cur - prev


def histogram_delta(prev: Histogram, cur: Histogram) -> Histogram | None:
    """The observations of the interval as a histogram of its own; None on a reset or
    when the bucket layout changed (an exporter restarted with other buckets)."""
    if len(prev.buckets) != len(cur.buckets):
        return None
    out = []
    for (le_p, n_p), (le_c, n_c) in zip(prev.buckets, cur.buckets, strict=True):
        if le_p != le_c or not (n_c >= n_p):
            return None
        out.append((le_c, n_c - n_p))
    count = cur.count - prev.count
    if not (count >= 0):
        return None
    return Histogram(tuple(out), count, cur.sum - prev.sum)


def bucket_quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """The q-quantile (0 <= q <= 1) of cumulative `buckets`, as histogram_quantile
    computes it; None when the buckets hold no observation."""
    if not buckets or buckets[-1][0] != math.inf:
        return None
    total = buckets[-1][1]
    if not (total > 0):
        return None
    rank = q * total
    below = 0.0
    lower = 0.0
    for i, (upper, cumulative) in enumerate(buckets):
        if cumulative >= rank and cumulative > below:
            if upper == math.inf:
                return buckets[i - 1][0] if i > 0 else None
            if i == 0 and upper <= 0:
                return upper
            return lower + (upper - lower) * (rank - below) / (cumulative - below)
        below = max(below, cumulative)
        lower = upper
    return buckets[-2][0] if len(buckets) > 1 else None


@dataclass(frozen=True, slots=True)
class Delta:
    """One series' interval: counter increase, or a histogram of the interval's
    observations, or a summary's count/sum increase with its latest quantiles."""

    increase: float | None = None
    histogram: Histogram | None = None
    summary_count: float | None = None
    summary_sum: float | None = None
    quantiles: tuple[tuple[float, float], ...] = ()


def merge_deltas(deltas: Iterable[Delta]) -> Delta | None:
    """Several series' deltas as one (labels aggregated away): increases and histogram
    buckets add; summaries add counts and sums, and keep the largest of each exposed
    quantile (quantiles cannot be merged; the worst replica is the honest one).
    None when the histograms' bucket layouts differ."""
    items = list(deltas)
    if len(items) == 1:
        return items[0]
    inc = _sum(d.increase for d in items)
    hist = None
    hists = [d.histogram for d in items if d.histogram is not None]
    if hists:
        layout = [le for le, _ in hists[0].buckets]
        if any([le for le, _ in h.buckets] != layout for h in hists):
            return None
        buckets = tuple((le, sum(h.buckets[i][1] for h in hists)) for i, le in enumerate(layout))
        hist = Histogram(buckets, sum(h.count for h in hists), sum(h.sum for h in hists))
    worst: dict[float, float] = {}
    for d in items:
        for q, v in d.quantiles:
            worst[q] = max(worst.get(q, v), v)
    return Delta(inc, hist, _sum(d.summary_count for d in items),
                 _sum(d.summary_sum for d in items), tuple(sorted(worst.items())))


def _sum(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


class Interval:
    """Two consecutive scrapes of one target, `dt` seconds apart, asked per family.

    `deltas(name)` gives each series' Delta, leaving out series that were reset;
    `gauges(name)` the current values. Families absent from the current scrape give
    nothing.
    """

    def __init__(self, prev: dict[str, Family], cur: dict[str, Family], dt: float) -> None:
        self.prev = prev
        self.cur = cur
        self.dt = dt

    def kind(self, name: str) -> str | None:
        fam = self.cur.get(name)
        return fam.kind if fam is not None else None

    def gauges(self, name: str) -> dict[LabelKey, float]:
        """Current values of a gauge (or the current totals of a counter)."""
        fam = self.cur.get(name)
        if fam is None:
            return {}
        return {k: v for k, v in fam.series.items() if isinstance(v, float)}

    def deltas(self, name: str) -> dict[LabelKey, Delta]:
        """Each series' interval; reset series are left out, new ones count from now."""
        fam = self.cur.get(name)
        if fam is None or fam.kind == "gauge":
            return {}
        old = self.prev.get(name)
        out: dict[LabelKey, Delta] = {}
        for key, value in fam.series.items():
            before = old.series.get(key) if old is not None and old.kind == fam.kind else None
            created = (old.created.get(key) if old is not None else None, fam.created.get(key))
            d = _delta(before, value, created)
            if d is not None:
                out[key] = d
        return out


def _delta(before: object, value: object, created: tuple[float | None, float | None]
           ) -> Delta | None:
    reset = None not in created and created[0] != created[1]
    if isinstance(value, float):
        if before is None:
            return Delta(increase=0.0)
        inc = counter_increase(before, value) if isinstance(before, float) and not reset \
            else None
        return None if inc is None else Delta(increase=inc)
    if isinstance(value, Histogram):
        if before is None:
            return Delta(histogram=Histogram(tuple((le, 0.0) for le, _ in value.buckets),
                                             0.0, 0.0))
        h = histogram_delta(before, value) if isinstance(before, Histogram) and not reset \
            else None
        return None if h is None else Delta(histogram=h)
    if isinstance(value, Summary):
        quantiles = tuple((q, v) for q, v in value.quantiles if math.isfinite(v))
        if before is None:
            return Delta(summary_count=0.0, summary_sum=0.0, quantiles=quantiles)
        if not isinstance(before, Summary) or reset:
            return None
        dc = counter_increase(before.count, value.count)
        if dc is None:
            return None
        ds = value.sum - before.sum
        return Delta(summary_count=dc, summary_sum=ds if math.isfinite(ds) else None,
                     quantiles=quantiles)
    return None
