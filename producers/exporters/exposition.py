"""Prometheus text and OpenMetrics exposition as plain data: families of series.

Parsing is prometheus-client's (`prometheus_client.parser` for the text format 0.0.4,
`prometheus_client.openmetrics.parser` for OpenMetrics 1.0, chosen by the response's
content type); this module only regroups what it returns so the rest of the exporter
code sees one shape whatever the format:

- a counter is one float per series (the `_total` sample; `_created`, when exposed, is
  kept beside it, because a counter whose creation time changed was reset even if it
  has already grown past its old value);
- a histogram is its cumulative buckets (upper bound, count; +Inf last), count and sum;
- a summary is its exposed quantiles, count and sum;
- gauges, untyped and unknown samples are one float; an untyped `*_total` is a counter.

The text format has no `_created` type, so prometheus-client based exporters (vLLM is
one) expose `X_created` as a gauge family of its own; it is folded into X here. Info
and state-set families carry no measurement and are left out; a gauge histogram is
read as a histogram. Values are kept as exposed, NaN included: what to do with a NaN
quantile is the converter's business, not the parser's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExpositionError", "Family", "Histogram", "LabelKey", "Summary", "Value", "parse"]

LabelKey = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: one series


class ExpositionError(ValueError):
    """The body is not valid exposition text."""


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cumulative buckets `(upper bound, count)` in increasing bound order, +Inf last."""

    buckets: tuple[tuple[float, float], ...]
    count: float
    sum: float


@dataclass(frozen=True, slots=True)
class Summary:
    """Quantiles `(q, value)` as the exporter computed them, plus count and sum."""

    quantiles: tuple[tuple[float, float], ...]
    count: float
    sum: float


Value = float | Histogram | Summary


@dataclass(slots=True)
class Family:
    """One metric family: its name as exposed (no `_total`), kind and series."""

    name: str
    kind: str  # counter | gauge | histogram | summary
    series: dict[LabelKey, Value] = field(default_factory=dict)
    created: dict[LabelKey, float] = field(default_factory=dict)


_OPENMETRICS = "application/openmetrics-text"


def parse(text: str, content_type: str = "") -> dict[str, Family]:
    """The families of one scrape, by name. Raises ExpositionError on a malformed body."""
    openmetrics = content_type.split(";")[0].strip().lower() == _OPENMETRICS
    try:
        if openmetrics:
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
            raw = list(text_string_to_metric_families(text))  # type: ignore[no-untyped-call]
        else:
            from prometheus_client.parser import text_string_to_metric_families as text_parse
            raw = list(text_parse(text))
    except (ValueError, TypeError, IndexError, KeyError) as e:
        kind = "OpenMetrics" if openmetrics else "Prometheus text"
        raise ExpositionError(f"not valid {kind} exposition: {e}") from None
    out: dict[str, Family] = {}
    created_gauges: dict[str, Any] = {}
    for metric in raw:
        if metric.type == "gauge" and metric.name.endswith("_created"):
            created_gauges[metric.name[:-len("_created")]] = metric
            continue
        fam = _family(metric)
        if fam is not None:
            out[fam.name] = fam
    for base, metric in created_gauges.items():
        fam = out.get(base)
        if fam is not None and fam.kind in ("counter", "histogram", "summary"):
            for s in metric.samples:
                fam.created[_key(s.labels)] = float(s.value)
        else:  # a gauge that merely ends in _created
            out[metric.name] = Family(metric.name, "gauge",
                                      {_key(s.labels): float(s.value) for s in metric.samples})
    return out


def _key(labels: dict[str, str], drop: str = "") -> LabelKey:
    return tuple(sorted((k, v) for k, v in labels.items() if k != drop))


def _family(metric: Any) -> Family | None:
    kind = metric.type
    name = metric.name
    if kind in ("info", "stateset"):
        return None
    if kind in ("unknown", "untyped"):
        totals = [s for s in metric.samples if s.name.endswith("_total")]
        if totals and len(totals) == len(metric.samples):
            kind, name = "counter", name[:-len("_total")] if name.endswith("_total") else name
        else:
            kind = "gauge"
    if kind == "counter":
        return _counter(name, metric.samples)
    if kind in ("histogram", "gaugehistogram"):
        return _histogram(name, metric.samples)
    if kind == "summary":
        return _summary(name, metric.samples)
    return Family(name, "gauge", {_key(s.labels): float(s.value) for s in metric.samples})


def _counter(name: str, samples: list[Any]) -> Family:
    fam = Family(name, "counter")
    for s in samples:
        if s.name.endswith("_created"):
            fam.created[_key(s.labels)] = float(s.value)
        else:
            fam.series[_key(s.labels)] = float(s.value)
    return fam


def _histogram(name: str, samples: list[Any]) -> Family:
    buckets: dict[LabelKey, list[tuple[float, float]]] = {}
    counts: dict[LabelKey, float] = {}
    sums: dict[LabelKey, float] = {}
    fam = Family(name, "histogram")
    for s in samples:
        suffix = s.name[len(name):]
        if suffix == "_bucket":
            le = _bound(s.labels.get("le", ""))
            if le is not None:
                buckets.setdefault(_key(s.labels, "le"), []).append((le, float(s.value)))
        elif suffix in ("_count", "_gcount"):
            counts[_key(s.labels)] = float(s.value)
        elif suffix in ("_sum", "_gsum"):
            sums[_key(s.labels)] = float(s.value)
        elif suffix == "_created":
            fam.created[_key(s.labels)] = float(s.value)
    for key, bs in buckets.items():
        bs.sort()
        if not bs or bs[-1][0] != math.inf:
            continue  # a histogram without its +Inf bucket is not one
        fam.series[key] = Histogram(tuple(bs), counts.get(key, bs[-1][1]), sums.get(key, math.nan))
    return fam


def _summary(name: str, samples: list[Any]) -> Family:
    quantiles: dict[LabelKey, list[tuple[float, float]]] = {}
    counts: dict[LabelKey, float] = {}
    sums: dict[LabelKey, float] = {}
    fam = Family(name, "summary")
    for s in samples:
        suffix = s.name[len(name):]
        if suffix == "" and "quantile" in s.labels:
            q = _bound(s.labels["quantile"])
            if q is not None:
                quantiles.setdefault(_key(s.labels, "quantile"), []).append((q, float(s.value)))
        elif suffix == "_count":
            counts[_key(s.labels)] = float(s.value)
        elif suffix == "_sum":
            sums[_key(s.labels)] = float(s.value)
        elif suffix == "_created":
            fam.created[_key(s.labels)] = float(s.value)
    for key in set(counts) | set(quantiles):
        fam.series[key] = Summary(tuple(sorted(quantiles.get(key, ()))),
                                  counts.get(key, math.nan), sums.get(key, math.nan))
    return fam


def _bound(text: str) -> float | None:
    try:
        return float(text)  # "+Inf" reads as inf
    except ValueError:
        return None
