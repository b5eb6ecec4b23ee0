"""Pipeline health from the processes' own metrics: rates, lag and dead letters.

The console scrapes a configurable list of endpoints (console.scrape does the I/O):
Prometheus text (`/metrics` of a worker, and of any role that serves one) and the
sink's JSON `/ping`, whose `status.stats` counters are read as `rackwatch_sink_<name>`.
Two successive scrapes of an endpoint give rates; an endpoint that is absent, down or
answers garbage is reported as such and left out of the sums, so a partial pipeline
still shows what it has. A counter that went down (the process restarted) gives no
rate for that interval rather than a negative one. Everything here is plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["RATES", "Sample", "Scrape", "parse_prometheus", "parse_sink_ping", "summarise"]

# rate name in the summary -> the counter it is computed from
RATES: dict[str, str] = {
    "events_in": "rackwatch_worker_input_messages_total",
    "samples_in": "rackwatch_worker_samples_total",
    "log_records_in": "rackwatch_worker_log_records_total",
    "alerts_out": "rackwatch_worker_alert_transitions_total",
    "sink_messages": "rackwatch_sink_messages_total",
    "sink_rows": "rackwatch_sink_rows_inserted_total",
    "sink_inserts": "rackwatch_sink_inserts_total",
}
_LAG = "rackwatch_worker_partition_lag"
_ASSIGNED = "rackwatch_worker_assigned_partitions"
_DEAD = {"rackwatch_worker_dead_letters_total": "worker",
         "rackwatch_sink_dead_letters_total": "sink"}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass
class Scrape:
    """One endpoint's answer at one moment (`error` set when there was none)."""

    url: str
    at_ms: int
    samples: list[Sample] = field(default_factory=list)
    kind: str = ""  # "prometheus" | "sink" | ""
    error: str = ""
    ready: bool | None = None
    ready_reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def total(self, name: str) -> float | None:
        """The sum of a metric's samples, None when the endpoint has no such metric."""
        values = [s.value for s in self.samples if s.name == name]
        return sum(values) if values else None


def parse_prometheus(text: str) -> list[Sample]:
    """Samples of a Prometheus text exposition (ValueError if it is not one)."""
    return [Sample(s.name, dict(s.labels), float(s.value))
            for fam in text_string_to_metric_families(text) for s in fam.samples]


def parse_sink_ping(doc: Mapping[str, Any]) -> list[Sample]:
    """The sink's /ping status counters as `rackwatch_sink_<name>` samples."""
    status = doc.get("status")
    stats = status.get("stats") if isinstance(status, Mapping) else None
    if not isinstance(stats, Mapping):
        return []
    out = []
    for name, value in stats.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append(Sample(f"rackwatch_sink_{name}", {}, float(value)))
    return out


def _rate(prev: Scrape | None, cur: Scrape, name: str) -> float | None:
    if prev is None or not prev.ok or not cur.ok or cur.at_ms <= prev.at_ms:
        return None
    a, b = prev.total(name), cur.total(name)
    if a is None or b is None or b < a:
        return None
    return (b - a) * 1000.0 / (cur.at_ms - prev.at_ms)


def _endpoint(s: Scrape) -> dict[str, Any]:
    return {"url": s.url, "kind": s.kind, "up": s.ok, "error": s.error or None,
            "ready": s.ready, "ready_reason": s.ready_reason or None, "scraped_ms": s.at_ms,
            "assigned_partitions": None if s.total(_ASSIGNED) is None
            else int(s.total(_ASSIGNED) or 0)}


def _dead_letters(s: Scrape) -> dict[tuple[str, str], float]:
    """(source, reason) -> dead letters counted so far by this endpoint."""
    out: dict[tuple[str, str], float] = {}
    for smp in s.samples:
        source = _DEAD.get(smp.name)
        if source is not None:
            key = (source, smp.labels.get("reason", "") or "(any)")
            out[key] = out.get(key, 0.0) + smp.value
    return out


def summarise(prev: Mapping[str, Scrape], cur: Iterable[Scrape]) -> dict[str, Any]:
    """The health panel: endpoints, rates (per second, None when unknown), lag per
    partition, dead letters by reason, from the latest scrapes and the ones before."""
    current = list(cur)
    rates: dict[str, float | None] = {}
    for key, metric in RATES.items():
        parts = [_rate(prev.get(s.url), s, metric) for s in current]
        known = [p for p in parts if p is not None]
        rates[key] = round(sum(known), 3) if known else None
    lag: list[dict[str, Any]] = []
    dead: dict[tuple[str, str], dict[str, Any]] = {}
    for s in current:
        if not s.ok:
            continue
        lag.extend({"topic": x.labels.get("topic", ""),
                    "partition": int(x.labels.get("partition", "0") or 0),
                    "lag": int(x.value), "endpoint": s.url}
                   for x in s.samples if x.name == _LAG)
        p = prev.get(s.url)
        before = _dead_letters(p) if p is not None and p.ok and p.at_ms < s.at_ms else None
        for (source, reason), n in _dead_letters(s).items():
            d = dead.setdefault((source, reason), {"source": source, "reason": reason,
                                                   "count": 0, "per_s": None})
            d["count"] += int(n)
            if before is not None and n >= before.get((source, reason), 0.0):
                assert p is not None
                per_s = (n - before.get((source, reason), 0.0)) * 1000.0 / (s.at_ms - p.at_ms)
                d["per_s"] = round((d["per_s"] or 0.0) + per_s, 3)
    lag.sort(key=lambda x: (x["topic"], x["partition"], x["endpoint"]))
    return {"endpoints": [_endpoint(s) for s in current], "rates": rates, "lag": lag,
            "lag_total": sum(x["lag"] for x in lag),
            "dead_letters": sorted(dead.values(), key=lambda d: (d["source"], d["reason"]))}
