"""The metric path of the core: dedup -> normalise -> smooth -> rules, for one batch.

`MetricsCore.process` takes one host's state and one decoded batch and returns the
new state plus everything to emit: normalised rows for the store, alert state changes,
and per-sample rejections for the dead-letter topic. The faust worker and `replay`
both call exactly this; the worker keeps the state in a changelogged table keyed by
host, replay in a dict.

Host state (plain JSON data, one dict per host):
  "d": dedup state, "s": {series key: smoothing state}, "r": rule engine state,
  "t": newest event time seen, "l": topology labels of the newest batch,
  "w": {series key: window state} for the windowed metrics, "f": recent log faults.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.events import Alert, MetricBatch, MetricRow
from schemas.ids import METRIC_ROW
from streams.core import dedup
from streams.core.deadletter import Rejected
from streams.core.normalise import Canonical, canonical_labels, canonical_name, check_value
from streams.core.smoothing import BUF, EWMA, LAST, SmoothingParams, fold, new_series
from streams.core.windows import WindowSpec, add, close_due
from streams.core.windows import new_state as new_window
from streams.rules import Point, RuleEngine

__all__ = ["BatchResult", "CoreCounters", "MetricsCore", "host_context", "note_fault", "series_key"]

log = logging.getLogger(__name__)

HostState = dict[str, Any]
# canonical name/scale/bounds, series key, canonical series labels, windowed?, watched?
_Shape = tuple[Canonical, str, dict[str, str], bool, bool]


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
    late_samples: int = 0
    windows_closed: int = 0


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


# Metrics whose recent history is kept in event-time windows: what a root-cause hint
# needs ("the GPU ran hot for ten minutes before it fell off the bus").
DEFAULT_WINDOWED = ("gpu.*", "cpu.usage", "mem.usage")
FAULT_MEMORY_MS = 600_000


class MetricsCore:
    """Stateless over hosts: all per-host data lives in the state dict passed in."""

    def __init__(self, engine: RuleEngine, smoothing: SmoothingParams | None = None,
                 windows: WindowSpec | None = None,
                 windowed: tuple[str, ...] = DEFAULT_WINDOWED) -> None:
        self.engine = engine
        self.smoothing = smoothing or SmoothingParams()
        self.windows = windows or WindowSpec()
        self.windowed = windowed
        self._windowed_cache: dict[str, bool] = {}
        self._shapes: dict[object, _Shape] = {}
        self.counters = CoreCounters()

    def _is_windowed(self, name: str) -> bool:
        hit = self._windowed_cache.get(name)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(name, g) for g in self.windowed)
            if len(self._windowed_cache) < 100_000:
                self._windowed_cache[name] = hit
        return hit

    def _shape(self, name: str, labels: dict[str, str] | None) -> _Shape:
        """Everything about a series that does not change from batch to batch, computed
        once: agents send the same names and labels every interval."""
        canon = canonical_name(name)
        clabels = canonical_labels(labels) if labels else {}
        shape: _Shape = (canon, series_key(canon.name, clabels), clabels,
                         self._is_windowed(canon.name), self.engine.watches(canon.name))
        if len(self._shapes) >= 200_000:  # bounded: names come from producers we do not control
            self._shapes.clear()
        self._shapes[(name, tuple(labels.items())) if labels else name] = shape
        return shape

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
        watermark: int = st["t"]
        wins: dict[str, Any] | None = st.get("w")
        spec = self.windows
        shapes = self._shapes
        shape_of = self._shape
        for sample in batch["samples"]:
            raw = sample["value"]
            slabels = sample.get("labels")
            name = sample["name"]
            shape = shapes.get((name, tuple(slabels.items())) if slabels else name)
            if shape is None:
                shape = shape_of(name, slabels)
            canon, key, clabels, windowed, watched = shape
            if canon.scale == 1.0 and canon.lo <= raw <= canon.hi:
                value = raw
            else:
                try:
                    value = check_value(canon, raw)
                except Rejected as e:
                    c.samples_rejected += 1
                    res.rejected.append((orjson.dumps({"host": host, "ts": ts, "seq": seq,
                                                       "sample": sample}), e))
                    continue
            sst = series.get(key)
            if sst is None:
                series[key] = new_series(ts, value)
                ewma = wma = value
                ewvar = 0.0
                outlier = False
                prev_value = prev_ts = None
            else:
                prev_value = sst[1]
                prev_ts = sst[0]
                ewma, ewvar, wma, outlier = fold(sst, ts, value, params)
                if outlier:
                    c.outliers += 1
            if windowed:
                if wins is None:
                    wins = st["w"] = {}
                ws = wins.get(key)
                if ws is None:
                    ws = wins[key] = new_window()
                if not add(ws, spec, ts, value, watermark):
                    c.late_samples += 1
            if watched:
                points.append(Point(canon.name, clabels, ts, value, ewma, wma, ewvar,
                                    prev_value, prev_ts))
            rows.append({
                "schema": METRIC_ROW, "host": host, "ts": ts, "seq": seq,
                "name": canon.name, "labels": {**topo, **clabels} if clabels else topo,
                "value": value, "raw": raw, "ewma": ewma, "wma": wma, "outlier": outlier,
            })
        c.samples += len(rows)
        if wins:
            self._close_windows(st, watermark)
        alerts = self.engine.evaluate(st["r"], host, topo, points, ts)
        c.alerts += len(alerts)
        res.alerts = alerts  # type: ignore[assignment]
        return st, res

    def _close_windows(self, st: HostState, watermark: int) -> None:
        due = st.get("wc")
        if due is not None and watermark < due:
            return  # nothing can close yet: the cheap common case
        spec = self.windows
        nxt: int | None = None
        for ws in st["w"].values():
            self.counters.windows_closed += len(close_due(ws, spec, watermark))
            for k in ws["o"]:
                end = int(k) + spec.size_ms + spec.lateness_ms
                if nxt is None or end < nxt:
                    nxt = end
        st["wc"] = nxt

    def tick(self, state: HostState, host: str, now_ms: int) -> list[Alert]:
        """Time-driven work for one host: close due windows, rules (absence, timers...)."""
        if state.get("w"):
            self._close_windows(state, now_ms)
        alerts = self.engine.tick(state.setdefault("r", {}), host, state.get("l") or {}, now_ms)
        self.counters.alerts += len(alerts)
        return alerts  # type: ignore[return-value]


def note_fault(state: HostState, fault_class: str, ts: int) -> None:
    """Remember a classified log fault for the host context (last ten minutes)."""
    faults: dict[str, list[int]] = state.setdefault("f", {})
    times = faults.setdefault(fault_class, [])
    times.append(ts)
    cutoff = ts - FAULT_MEMORY_MS
    for fc in list(faults):
        kept = [t for t in faults[fc] if t >= cutoff][-50:]
        if kept:
            faults[fc] = kept
        else:
            del faults[fc]


def host_context(state: HostState) -> dict[str, Any]:
    """What the correlator needs to explain a fault: recent history of the key series."""
    series_state = state.get("s") or {}
    out: dict[str, Any] = {}
    for key, ws in (state.get("w") or {}).items():
        sm = series_state.get(key)
        entry: dict[str, Any] = {"minutes": [list(w) for w in ws["c"]]}
        if sm is not None:
            entry["last"] = sm[LAST]
            entry["ewma"] = sm[EWMA]
            entry["recent"] = sm[BUF:]
        out[key] = entry
    faults = {fc: len(ts) for fc, ts in (state.get("f") or {}).items()}
    return {"series": out, "recent_faults": faults}
