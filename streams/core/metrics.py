"""The metric path of the core: dedup -> normalise -> smooth -> rules, for one batch.

`MetricsCore.process` takes one host's state and one decoded batch and returns the
new state plus everything to emit: normalised rows for the store, alert state changes,
and per-sample rejections for the dead-letter topic. The faust worker and `replay`
both call exactly this; the worker keeps the state in a changelogged table keyed by
host, replay in a dict.

Host state (plain JSON data, one dict per host):
  "d": dedup state, "s": {series key: smoothing state}, "r": rule engine state,
  "t": newest event time seen, "l": topology labels of the newest batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.events import Alert, MetricBatch, MetricRow
from schemas.ids import METRIC_ROW
from streams.core import dedup
from streams.core.deadletter import Rejected
from streams.core.normalise import canonical_labels, canonical_name, check_value
from streams.core.smoothing import SmoothingParams, update_series
from streams.rules import Point, RuleEngine

__all__ = ["BatchResult", "CoreCounters", "MetricsCore", "series_key"]

log = logging.getLogger(__name__)

HostState = dict[str, Any]


@dataclass
class CoreCounters:
    """What the core did, for the books (processed + dead-lettered = produced)."""

    batches: int = 0
    duplicates: int = 0
    seq_resets: int = 0
    samples: int = 0
    samples_rejected: int = 0
    outliers: int = 0
    alerts: int = 0


@dataclass
class BatchResult:
    rows: list[MetricRow] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    rejected: list[tuple[bytes, Rejected]] = field(default_factory=list)
    duplicate: bool = False


def series_key(name: str, labels: dict[str, str] | None) -> str:
    """Identity of a series within a host: name plus sorted series labels."""
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={labels[k]}" for k in sorted(labels)) + "}"


class MetricsCore:
    """Stateless over hosts: all per-host data lives in the state dict passed in."""

    def __init__(self, engine: RuleEngine, smoothing: SmoothingParams | None = None) -> None:
        self.engine = engine
        self.smoothing = smoothing or SmoothingParams()
        self.counters = CoreCounters()

    def process(self, state: HostState | None, batch: MetricBatch) -> tuple[HostState, BatchResult]:
        """Process one decoded batch for its host; returns the new state and the outputs."""
        st: HostState = state if state is not None else {"d": None, "s": {}, "r": {}}
        res = BatchResult()
        c = self.counters
        verdict, st["d"] = dedup.check(st.get("d"), batch["seq"])
        if verdict is dedup.Verdict.DUPLICATE:
            c.duplicates += 1
            res.duplicate = True
            return st, res
        if verdict is dedup.Verdict.RESET:
            c.seq_resets += 1
            log.warning("host %s restarted its seq numbering at %d", batch["host"], batch["seq"])
        c.batches += 1
        host = batch["host"]
        ts = batch["ts"]
        topo = canonical_labels(batch["labels"])
        topo.setdefault("rack", "unknown")
        st["l"] = topo
        st["t"] = max(ts, st.get("t") or ts)
        series = st["s"]
        params = self.smoothing
        rows = res.rows
        points: list[Point] = []
        seq = batch["seq"]
        for sample in batch["samples"]:
            raw = sample["value"]
            canon = canonical_name(sample["name"])
            try:
                value = check_value(canon, raw)
            except Rejected as e:
                c.samples_rejected += 1
                res.rejected.append((orjson.dumps({"host": host, "ts": ts, "seq": seq,
                                                   "sample": sample}), e))
                continue
            slabels = sample.get("labels")
            if slabels:
                slabels = canonical_labels(slabels)
            key = series_key(canon.name, slabels)
            new_state, sm = update_series(series.get(key), ts, value, params)
            series[key] = new_state
            if sm.outlier:
                c.outliers += 1
            points.append(Point(canon.name, slabels or {}, ts, value, sm.ewma, sm.wma,
                                sm.ewvar, sm.prev_value, sm.prev_ts))
            rows.append({
                "schema": METRIC_ROW, "host": host, "ts": ts, "seq": seq,
                "name": canon.name, "labels": {**topo, **slabels} if slabels else topo,
                "value": value, "raw": raw, "ewma": sm.ewma, "wma": sm.wma,
                "outlier": sm.outlier,
            })
        c.samples += len(rows)
        alerts = self.engine.evaluate(st["r"], host, topo, points, ts)
        c.alerts += len(alerts)
        res.alerts = alerts  # type: ignore[assignment]
        return st, res

    def tick(self, state: HostState, host: str, now_ms: int) -> list[Alert]:
        """Time-driven rule work for one host (absence, `for` timers, re-sends)."""
        alerts = self.engine.tick(state.setdefault("r", {}), host, state.get("l") or {}, now_ms)
        self.counters.alerts += len(alerts)
        return alerts  # type: ignore[return-value]
