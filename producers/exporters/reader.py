"""One scrape target's families in, catalogue samples out; the previous scrape kept.

`TargetReader.read(families, now)` is the whole conversion of one scrape: the
recognised exporters' families become catalogue series (producers.exporters.known),
node_exporter's become the host samples psutil would give (producers.exporters.node),
and everything else passes through under its own name, bounded in count. Pure: the
scrape's families and its time come in, samples come out; no I/O, no clock.

Interval figures (rates, histogram quantiles and means, ratios) need the previous
scrape, so a target's first scrape publishes only what is read as it stands (gauges,
counter totals). An exporter that restarted (its `process_start_time_seconds` changed)
is a first scrape again. Values that are not finite are never published (a summary's
NaN quantile, a rate over no time): one such value would have the whole batch
dead-lettered downstream.

Pass-through names: a gauge keeps its name, a counter becomes `NAME_per_s` (its rate),
a histogram or summary `NAME.p50|p90|p99|mean` and `NAME.count_per_s`; Prometheus
names have no dots, so these never collide with catalogue names. The first
`max_series` pass-through series a target shows are admitted and kept; later new ones
are left out and counted (`dropped`), so a label that explodes cannot flood the store.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from producers.events import sample
from producers.exporters.exposition import Family, LabelKey
from producers.exporters.intervals import Delta, Interval, bucket_quantile, merge_deltas
from producers.exporters.known import (
    DCGM,
    DCGM_THROTTLE,
    DCGM_XID,
    GAUGE,
    LATENCY,
    RATE,
    SUM_RATE,
    TOTAL,
    Exporter,
    Ratio,
    Rule,
    recognise,
)
from producers.exporters.node import NODE_FAMILIES, node_snapshot
from producers.gpu import (
    THROTTLE_HW_POWER_BRAKE,
    THROTTLE_HW_THERMAL,
    THROTTLE_SW_POWER_CAP,
    THROTTLE_SW_THERMAL,
)
from producers.hostmetrics import HostMetrics, HostMetricsOptions
from schemas.events import Sample

__all__ = ["QUANTILES", "ReaderOptions", "Reading", "TargetReader"]

QUANTILES = ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"))
_MAX_ABS = 1e100  # the largest magnitude the pipeline accepts (streams.core.decode)
_THERMAL = THROTTLE_SW_THERMAL | THROTTLE_HW_THERMAL
_POWER = THROTTLE_SW_POWER_CAP | THROTTLE_HW_POWER_BRAKE
_RESTART = "process_start_time_seconds"

Key = tuple[str, LabelKey]  # (sample name, labels)


@dataclass(frozen=True)
class ReaderOptions:
    """How one target's samples are labelled and bounded."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    max_series: int = 200
    host: HostMetricsOptions = field(default_factory=HostMetricsOptions)


@dataclass
class Reading:
    """What one scrape published."""

    samples: list[Sample]
    dropped: int = 0
    exporters: list[str] = field(default_factory=list)


class TargetReader:
    """The per-target state between scrapes: the last families, the admitted
    pass-through series, and the host converter for node_exporter."""

    def __init__(self, options: ReaderOptions) -> None:
        self.options = options
        self._prev: dict[str, Family] | None = None
        self._prev_t = 0.0
        self._start: float | None = None
        self._admitted: set[Key] = set()
        self._host = HostMetrics(options.host)

    def read(self, families: dict[str, Family], now: float) -> Reading:
        """Samples of one scrape taken at `now` (seconds)."""
        start = _first(families.get(_RESTART))
        if self._start is not None and start is not None and start != self._start:
            self._prev = None  # the exporter restarted: every counter starts again
        self._start = start if start is not None else self._start
        dt = now - self._prev_t
        iv = Interval(self._prev, families, dt) if self._prev is not None and dt > 0 else None
        self._prev, self._prev_t = families, now
        found = recognise(families.keys())
        values: dict[Key, float] = {}
        claimed: set[str] = set(NODE_FAMILIES)
        for exp in found:
            _exporter(exp, families, iv, values)
            claimed.update(r.family for r in exp.rules)
            claimed.update(n for r in exp.ratios for n in (*r.numerators, *r.denominators))
        if DCGM in found:
            claimed.update((DCGM_XID, *DCGM_THROTTLE))
            _dcgm_edges(families, iv, values)
        _derived(values)
        out = self._label(values)
        snap = node_snapshot(families, now, self.options.host)
        if snap is not None:
            out.extend(self._host.samples(snap))
        passed, dropped = self._passthrough(families, claimed, iv)
        out.extend(passed)
        titles = [e.title for e in found] + (["node_exporter"] if snap is not None else [])
        return Reading([s for s in out if _publishable(s["value"])], dropped, titles)

    def _label(self, values: dict[Key, float]) -> list[Sample]:
        extra = self.options.labels
        out: list[Sample] = []
        for (name, key), v in sorted(values.items()):
            labels = dict(key)
            if name.startswith("serving.") and "replica" not in labels:
                labels["replica"] = self.options.name
            labels.update(extra)
            out.append(sample(name, v, labels or None))
        return out

    def _passthrough(self, families: dict[str, Family], claimed: set[str],
                     iv: Interval | None) -> tuple[list[Sample], int]:
        opts = self.options
        values: dict[Key, float] = {}
        for name, fam in families.items():
            if name in claimed or name == _RESTART or not _wanted(name, opts):
                continue
            _generic(fam, iv, values)
        out: list[Sample] = []
        dropped = 0
        for k, v in sorted(values.items()):
            if k not in self._admitted:
                if len(self._admitted) >= opts.max_series:
                    dropped += 1
                    continue
                self._admitted.add(k)
            labels = {**dict(k[1]), **opts.labels}
            out.append(sample(k[0], v, labels or None))
        return out, dropped


def _wanted(name: str, opts: ReaderOptions) -> bool:
    return (any(fnmatch.fnmatchcase(name, g) for g in opts.include)
            and not any(fnmatch.fnmatchcase(name, g) for g in opts.exclude))


def _first(fam: Family | None) -> float | None:
    if fam is None:
        return None
    for v in fam.series.values():
        if isinstance(v, float):
            return v
    return None


def _publishable(v: float) -> bool:
    return math.isfinite(v) and -_MAX_ABS < v < _MAX_ABS


def _projector(exp: Exporter) -> Callable[[LabelKey], LabelKey]:
    mapping = dict(exp.labels)

    def project(key: LabelKey) -> LabelKey:
        return tuple(sorted((mapping[k], v) for k, v in key if k in mapping and v))
    return project


def _groups(keys: object, project: Callable[[LabelKey], LabelKey]
            ) -> dict[LabelKey, list[LabelKey]]:
    out: dict[LabelKey, list[LabelKey]] = {}
    for k in keys:  # type: ignore[attr-defined]
        out.setdefault(project(k), []).append(k)
    return out


def _add(values: dict[Key, float], key: Key, v: float) -> None:
    values[key] = values.get(key, 0.0) + v


def _exporter(exp: Exporter, families: dict[str, Family], iv: Interval | None,
              values: dict[Key, float]) -> None:
    """Add one exporter's series to `values`."""
    project = _projector(exp)
    latency: dict[Key, tuple[float, list[Delta]]] = {}
    for rule in exp.rules:
        fam = families.get(rule.family)
        if fam is not None:
            _rule(rule, fam, iv, project, values, latency)
    for key, (scale, deltas) in latency.items():
        merged = merge_deltas(deltas)
        if merged is not None:
            _latency(key, merged, scale, values)
    if iv is not None:
        for ratio in exp.ratios:
            _ratio(ratio, iv, project, values)


def _rule(rule: Rule, fam: Family, iv: Interval | None,
          project: Callable[[LabelKey], LabelKey], values: dict[Key, float],
          latency: dict[Key, tuple[float, list[Delta]]]) -> None:
    if rule.how in (GAUGE, TOTAL):
        for out, members in _groups(fam.series, project).items():
            vals = [v for k in members if isinstance(v := fam.series[k], float)]
            if vals:
                agg = max(vals) if rule.agg == "max" else sum(vals)
                _add(values, (rule.name, out), agg * rule.scale)
        return
    if iv is None:
        return
    deltas = iv.deltas(rule.family)
    for out, members in _groups(fam.series, project).items():
        if any(k not in deltas for k in members):
            continue  # a reset member: the group has no figure for this interval
        ds = [deltas[k] for k in members]
        if rule.how == LATENCY:
            latency.setdefault((rule.name, out), (rule.scale, []))[1].extend(ds)
        elif rule.how == RATE:
            inc = sum(_count(d) for d in ds)
            _add(values, (rule.name, out), inc / iv.dt * rule.scale)
        elif rule.how == SUM_RATE:
            total = sum(_total(d) for d in ds)
            _add(values, (rule.name, out), total / iv.dt * rule.scale)


def _count(d: Delta) -> float:
    if d.increase is not None:
        return d.increase
    if d.histogram is not None:
        return d.histogram.count
    return d.summary_count or 0.0


def _total(d: Delta) -> float:
    if d.histogram is not None:
        return d.histogram.sum
    return d.summary_sum or 0.0


def _latency(key: Key, d: Delta, scale: float, values: dict[Key, float]) -> None:
    """NAME.p50/p90/p99 and NAME.mean of one merged interval, in the catalogue's unit."""
    stem, labels = key
    count = d.histogram.count if d.histogram is not None else d.summary_count
    total = d.histogram.sum if d.histogram is not None else d.summary_sum
    for q, suffix in QUANTILES:
        if d.histogram is not None:
            v = bucket_quantile(q, d.histogram.buckets)
        else:
            v = next((x for qq, x in d.quantiles if abs(qq - q) < 1e-9), None)
        if v is not None:
            values[(f"{stem}.{suffix}", labels)] = v * scale
    if count and total is not None and count > 0:
        values[(f"{stem}.mean", labels)] = total / count * scale


def _ratio(ratio: Ratio, iv: Interval, project: Callable[[LabelKey], LabelKey],
           values: dict[Key, float]) -> None:
    sums: list[dict[LabelKey, float | None]] = []
    for names in (ratio.numerators, ratio.denominators):
        acc: dict[LabelKey, float | None] = {}
        for name in names:
            fam = iv.cur.get(name)
            if fam is None:
                continue
            deltas = iv.deltas(name)
            for k in fam.series:
                out = project(k)
                delta = deltas.get(k)
                prev = acc.get(out, 0.0)
                acc[out] = None if delta is None or prev is None else prev + _count(delta)
        sums.append(acc)
    num, den = sums
    for out, n in num.items():
        d_ = den.get(out)
        if n is not None and d_ is not None and d_ > 0:
            values[(ratio.name, out)] = n / d_ * ratio.scale


def _dcgm_edges(families: dict[str, Family], iv: Interval | None,
                values: dict[Key, float]) -> None:
    """DCGM's XID field holds the last XID seen, for ever: a `gpu.xid` sample is
    published when it changes to a new non-zero code (as NVML's event would), never
    from a first scrape. The clocks-event bitmask gives the throttle flags NVML's does."""
    project = _projector(DCGM)
    fam = families.get(DCGM_XID)
    old = iv.prev.get(DCGM_XID) if iv is not None else None
    if fam is not None and old is not None:
        for k, v in fam.series.items():
            was = old.series.get(k)
            if isinstance(v, float) and isinstance(was, float) and v != was and v > 0:
                values[("gpu.xid", project(k))] = v
    for name in DCGM_THROTTLE:
        fam = families.get(name)
        if fam is None:
            continue
        for k, v in fam.series.items():
            if isinstance(v, float) and math.isfinite(v) and v >= 0:
                bits, out = int(v), project(k)
                values[("gpu.throttle_reasons", out)] = float(bits)
                values[("gpu.throttle.thermal", out)] = 1.0 if bits & _THERMAL else 0.0
                values[("gpu.throttle.power", out)] = 1.0 if bits & _POWER else 0.0
        break


def _derived(values: dict[Key, float]) -> None:
    """Figures computed from two published ones: `gpu.mem.usage` (used / total, as NVML's
    path gives it) and `serving.error_ratio` (failed / completed requests)."""
    for (name, labels), v in list(values.items()):
        if name == "gpu.mem.used_bytes":
            total = values.get(("gpu.mem.total_bytes", labels))
            if total:
                values[("gpu.mem.usage", labels)] = round(v / total, 5)
        elif name == "serving.errors_per_s":
            done = values.get(("serving.requests_per_s", labels))
            if done:
                values[("serving.error_ratio", labels)] = min(v / done, 1.0)


def _generic(fam: Family, iv: Interval | None, values: dict[Key, float]) -> None:
    """An unrecognised family under its own name (see the module docstring)."""
    name = fam.name
    if fam.kind == "gauge":
        for k, v in fam.series.items():
            if isinstance(v, float):
                values[(name, k)] = v
        return
    if iv is None:
        return
    for k, d in iv.deltas(name).items():
        if fam.kind == "counter":
            values[(f"{name}_per_s", k)] = _count(d) / iv.dt
            continue
        values[(f"{name}.count_per_s", k)] = _count(d) / iv.dt
        _latency((name, k), d, 1.0, values)
