"""A plain, sample-by-sample implementation of the metric core, to test the real one against.

It keeps one state per series (`streams.core.smoothing.update_series`, the definition of
the smoothing) and one window state per series, and builds rows, points and contexts
the obvious way. It is what the core computed before it worked in columns; the core
must give the same rows, alerts, rejections and host contexts for any input.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import orjson

from schemas.ids import METRIC_ROW
from streams.core import dedup
from streams.core.deadletter import Rejected
from streams.core.metrics import DEFAULT_WINDOWED, series_key
from streams.core.normalise import canonical_labels, canonical_name, check_value
from streams.core.smoothing import SmoothingParams, update_series
from streams.core.windows import WindowSpec, percentile
from streams.rules import Point, RuleEngine

__all__ = ["ReferenceCore", "reference_context"]


def _starts(ts: int, spec: WindowSpec) -> range:
    hop = spec.hop
    last = ts - ts % hop
    first = last - (spec.size_ms - hop)
    first = max(first, ts - spec.size_ms + 1)
    first += (-first) % hop
    return range(first, last + 1, hop)


def _window_add(ws: dict[str, Any], spec: WindowSpec, ts: int, value: float,
                watermark: int) -> bool:
    accepted = False
    for start in _starts(ts, spec):
        if start + spec.size_ms + spec.lateness_ms <= watermark:
            continue
        w = ws["o"].get(start)
        if w is None:
            ws["o"][start] = [value, value, value, 1, [value]]
        else:
            if value < w[0]:
                w[0] = value
            if value > w[1]:
                w[1] = value
            w[2] += value
            w[3] += 1
            if len(w[4]) < spec.max_values:
                w[4].append(value)
        accepted = True
    return accepted


def _window_close(ws: dict[str, Any], spec: WindowSpec, watermark: int) -> int:
    due = sorted(s for s in ws["o"] if s + spec.size_ms + spec.lateness_ms <= watermark)
    for start in due:
        mn, mx, total, n, vals = ws["o"].pop(start)
        summary = [start, mn, mx, total / n, n]
        if spec.percentile is not None:
            summary.append(percentile(vals, spec.percentile))
        ws["c"].append(summary)
    del ws["c"][: max(0, len(ws["c"]) - spec.keep)]
    return len(due)


class ReferenceCore:
    """Same constructor and `process`/`tick` results as MetricsCore, in plain Python."""

    def __init__(self, engine: RuleEngine, smoothing: SmoothingParams | None = None,
                 windows: WindowSpec | None = None,
                 windowed: tuple[str, ...] = DEFAULT_WINDOWED) -> None:
        self.engine = engine
        self.p = smoothing or SmoothingParams()
        self.spec = windows or WindowSpec()
        self.windowed = windowed
        self.counters: dict[str, int] = dict.fromkeys(
            ("batches", "duplicates", "seq_resets", "new_epochs", "conflicts", "samples",
             "samples_rejected", "outliers", "alerts", "late_samples", "windows_closed"), 0)

    def process(self, st: dict[str, Any] | None, batch: dict[str, Any]
                ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(state, {"rows", "alerts", "rejected", "duplicate"})"""
        st = st if st is not None else {"d": None, "s": {}, "w": {}, "r": {}}
        c = self.counters
        out: dict[str, Any] = {"rows": [], "alerts": [], "rejected": [], "duplicate": False}
        verdict, st["d"] = dedup.check(st["d"], batch["seq"], batch.get("epoch", ""),
                                       batch["ts"])
        if verdict in (dedup.Verdict.DUPLICATE, dedup.Verdict.CONFLICT):
            c["duplicates" if verdict is dedup.Verdict.DUPLICATE else "conflicts"] += 1
            out["duplicate"] = True
            return st, out
        c["seq_resets"] += verdict is dedup.Verdict.RESET
        c["new_epochs"] += verdict is dedup.Verdict.NEW_EPOCH
        c["batches"] += 1
        host, ts, seq = batch["host"], batch["ts"], batch["seq"]
        topo = canonical_labels(batch["labels"])
        st["l"] = topo
        st["t"] = max(ts, st.get("t") or ts)
        points = []
        for sample in batch["samples"]:
            raw = sample["value"]
            canon = canonical_name(sample["name"])
            clabels = canonical_labels(sample.get("labels") or {})
            try:
                value = check_value(canon, raw)
            except Rejected as e:
                c["samples_rejected"] += 1
                out["rejected"].append((orjson.dumps({"host": host, "ts": ts, "seq": seq,
                                                      "sample": sample}), e.code, str(e)))
                continue
            key = series_key(canon.name, clabels)
            prev = st["s"].get(key)
            st["s"][key], sm = update_series(prev, ts, value, self.p)
            c["outliers"] += sm.outlier
            if any(fnmatch.fnmatchcase(canon.name, g) for g in self.windowed):
                ws = st["w"].setdefault(key, {"o": {}, "c": []})
                if not _window_add(ws, self.spec, ts, value, st["t"]):
                    c["late_samples"] += 1
            if self.engine.watches(canon.name):
                points.append(Point(canon.name, clabels, ts, value, sm.ewma, sm.wma, sm.ewvar,
                                    sm.prev_value, sm.prev_ts))
            out["rows"].append({
                "schema": METRIC_ROW, "host": host, "ts": ts, "seq": seq, "name": canon.name,
                "labels": {**topo, **clabels}, "value": value, "raw": raw, "ewma": sm.ewma,
                "wma": sm.wma, "outlier": sm.outlier})
        c["samples"] += len(out["rows"])
        for ws in st["w"].values():
            c["windows_closed"] += _window_close(ws, self.spec, st["t"])
        out["alerts"] = self.engine.evaluate(st["r"], host, topo, points, ts)
        c["alerts"] += len(out["alerts"])
        return st, out

    def tick(self, st: dict[str, Any], host: str, now_ms: int) -> list[dict[str, Any]]:
        for ws in st["w"].values():
            self.counters["windows_closed"] += _window_close(ws, self.spec, now_ms)
        alerts = self.engine.tick(st["r"], host, st.get("l") or {}, now_ms)
        self.counters["alerts"] += len(alerts)
        return alerts


def reference_context(st: dict[str, Any]) -> dict[str, Any]:
    """host_context of a reference state."""
    series: dict[str, Any] = {}
    for key, ws in st["w"].items():
        sm = st["s"].get(key)
        entry: dict[str, Any] = {"minutes": [list(w) for w in ws["c"]]}
        if sm is not None:
            entry["last"] = sm[1]
            entry["ewma"] = sm[2]
            entry["recent"] = sm[6:]
        series[key] = entry
    return {"series": series, "recent_faults": {}}
