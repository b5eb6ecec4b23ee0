"""The metric path of the core: dedup -> normalise -> smooth -> rules, for one batch.

`MetricsCore.process` takes one host's state and one decoded batch and returns the
new state plus everything to emit: normalised rows for the store, alert state changes,
and per-sample rejections for the dead-letter topic. The faust worker and `replay`
both call exactly this; the worker keeps the state in a changelogged table keyed by
host, replay in a dict.

Host state: streams.core.hoststate.HostState (dedup windows, the smoothing columns of
every series, event-time windows of the windowed metrics, whose columns are named by
the series' positions in the smoothing columns, rule state, recent log faults).

A batch of the shape the host's previous batches had (the usual case) is processed
as columns with numpy (`streams.core.layout` remembers the shape); anything else --
a host's first batch, new series, a rejected sample, a series twice in a batch, a
series that skipped batches -- sample by sample. Both give the same rows, alerts and
state, to the last bit (tests/unit/core/test_equivalence.py holds them to it, and to
a plain reference implementation). The state is the caller's between calls and is
replaced or mutated only by this module: it may be serialised and restored at any
time, but not edited in place.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from schemas.events import Alert, MetricBatch, MetricRow
from streams.core import dedup, series, windows
from streams.core.block import MetricBlock
from streams.core.deadletter import Rejected
from streams.core.hostcontext import FAULT_MEMORY_MS, host_context, note_fault
from streams.core.hoststate import HostState
from streams.core.layout import BatchShape, Layout, Shape, Signature, signature
from streams.core.normalise import canonical_labels, canonical_name, check_value
from streams.core.points import make_point
from streams.core.smoothing import SmoothingParams
from streams.core.windows import WindowSpec
from streams.rules import Point, RuleEngine

__all__ = ["FAULT_MEMORY_MS", "BatchResult", "CoreCounters", "HostState", "MetricsCore",
           "host_context", "make_point", "note_fault", "series_key"]

log = logging.getLogger(__name__)


_VALUE = itemgetter("value")
_LAYOUTS_MAX = 20_000  # hosts whose memo is kept (about 35 KB each; others rebuild it)
_SHAPES_MAX = 10_000  # distinct batch shapes remembered


@dataclass
class CoreCounters:
    """What the core did, for the books (processed + dead-lettered = produced)."""

    batches: int = 0
    duplicates: int = 0
    seq_resets: int = 0
    new_epochs: int = 0
    conflicts: int = 0
    samples: int = 0
    samples_rejected: int = 0
    outliers: int = 0
    alerts: int = 0
    late_samples: int = 0
    windows_closed: int = 0


@dataclass
class BatchResult:
    """Outputs of one batch. The block's lists and label dicts are shared (with later
    batches and with the core's memo): treat them as read-only."""

    block: MetricBlock | None = None  # the normalised rows, as columns
    alerts: list[Alert] = field(default_factory=list)
    rejected: list[tuple[bytes, Rejected]] = field(default_factory=list)
    duplicate: bool = False  # nothing processed: a duplicate, or a conflict (see verdict)
    verdict: dedup.Verdict = dedup.Verdict.NEW

    @property
    def rows(self) -> list[MetricRow]:
        """The block as metric_row/v1 records (built on demand: the worker sends the
        block itself)."""
        return self.block.rows() if self.block is not None else []


def series_key(name: str, labels: dict[str, str] | None) -> str:
    """Identity of a series within a host: name plus sorted series labels."""
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={labels[k]}" for k in sorted(labels)) + "}"


# Metrics whose recent history is kept in event-time windows: what a root-cause hint
# needs ("the GPU ran hot for ten minutes before it fell off the bus"; "the service's
# error log rate went from 0.02 to 1.5 lines/s as its latency rose").
DEFAULT_WINDOWED = ("gpu.*", "cpu.usage", "mem.usage", "serving.server_latency_*",
                    "serving.client_latency_*", "serving.success_ratio", "log.*")


class MetricsCore:
    """Stateless over hosts: all per-host data lives in the state dict passed in (the
    per-host memo of batch shapes is process memory, rebuilt when missing)."""

    def __init__(self, engine: RuleEngine, smoothing: SmoothingParams | None = None,
                 windows: WindowSpec | None = None,
                 windowed: tuple[str, ...] = DEFAULT_WINDOWED) -> None:
        self.engine = engine
        self.smoothing = smoothing or SmoothingParams()
        self.windows = windows or WindowSpec()
        self.windowed = windowed
        self._windowed_cache: dict[str, bool] = {}
        self._shapes: dict[object, Shape] = {}
        self._batch_shapes: dict[Signature | None, BatchShape] = {}
        self._layouts: dict[str, Layout] = {}
        self._rules = engine.rules  # what "watched" was worked out for
        self.counters = CoreCounters()

    # ------------------------------------------------------------------ shapes
    def _is_windowed(self, name: str) -> bool:
        hit = self._windowed_cache.get(name)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(name, g) for g in self.windowed)
            if len(self._windowed_cache) < 100_000:
                self._windowed_cache[name] = hit
        return hit

    def _shape(self, name: str, labels: dict[str, str] | None) -> Shape:
        """Everything about a series that does not change from batch to batch, computed
        once: agents send the same names and labels every interval."""
        ckey = (name, tuple(labels.items())) if labels else name
        shape = self._shapes.get(ckey)
        if shape is not None:
            return shape
        canon = canonical_name(name)
        clabels = canonical_labels(labels) if labels else {}
        shape = (canon, series_key(canon.name, clabels), clabels,
                 self._is_windowed(canon.name), self.engine.watches(canon.name))
        if len(self._shapes) >= 200_000:  # bounded: names come from producers we do not control
            self._shapes.clear()
        self._shapes[ckey] = shape
        return shape

    def _layout(self, host: str, sig: Signature | None, samples: list[Any]) -> Layout:
        if self.engine.rules is not self._rules:  # reloaded: other metrics may be watched
            self._rules = self.engine.rules
            self._shapes.clear()
            self._batch_shapes.clear()
            self._layouts.clear()
        shape = self._batch_shapes.get(sig) if sig is not None else None
        if shape is None:
            shape = BatchShape(sig, [self._shape(s["name"], s.get("labels")) for s in samples])
            if sig is not None:
                if len(self._batch_shapes) >= _SHAPES_MAX:
                    self._batch_shapes.clear()
                self._batch_shapes[sig] = shape
        lay = Layout(shape)
        layouts = self._layouts
        layouts.pop(host, None)
        if len(layouts) >= _LAYOUTS_MAX:
            del layouts[next(iter(layouts))]
        layouts[host] = lay
        return lay

    # ------------------------------------------------------------------ batches
    def process(self, state: HostState | None, batch: MetricBatch) -> tuple[HostState, BatchResult]:
        """Process one decoded batch for its host; returns the new state and the outputs."""
        st = state if state is not None else HostState()
        res = BatchResult()
        c = self.counters
        verdict, st.dedup = dedup.check(st.dedup, batch["seq"], dedup.epoch_of(batch),
                                        batch["ts"])
        res.verdict = verdict
        if verdict is dedup.Verdict.DUPLICATE:
            c.duplicates += 1
            res.duplicate = True
            return st, res
        if verdict is dedup.Verdict.CONFLICT:
            c.conflicts += 1
            res.duplicate = True  # nothing of it is processed; the caller dead-letters it
            return st, res
        if verdict is dedup.Verdict.RESET:
            c.seq_resets += 1
        elif verdict is dedup.Verdict.NEW_EPOCH:
            c.new_epochs += 1
        c.batches += 1
        host = batch["host"]
        ts = batch["ts"]
        samples = batch["samples"]
        sig = signature(samples)
        lay = self._layouts.get(host)
        if lay is None or not lay.matches(sig) or self.engine.rules is not self._rules:
            lay = self._layout(host, sig, samples)
        raw_topo = batch["labels"]
        if raw_topo != lay.raw_topo:
            # A host without a rack has none: no shared "unknown" rack is made up for it
            # (the correlator groups hosts by the place labels they do have).
            topo = canonical_labels(raw_topo)
            lay.raw_topo = dict(raw_topo)
            lay.topo = topo
        topo = lay.topo
        st.topology = topo
        watermark = st.event_ms = max(ts, st.event_ms or ts)
        store = series.ensure_store(st.series, self.smoothing)
        if store is not st.series:
            st.series = store
            st.windows = st.windows_due_ms = None  # its columns named the old store's series
        with np.errstate(all="ignore"):  # overflow to inf is as with Python floats, silent
            points = self._fast(st, store, lay, batch, samples, res, watermark)
        if points is None:
            lay.arrays.clear()
            points = self._one_by_one(st, store, lay, batch, samples, res, watermark)
        if res.block is not None:
            c.samples += len(res.block)
        if st.windows:
            self._close_windows(st, watermark)
        alerts = self.engine.evaluate(st.rules, host, topo, points, ts)
        c.alerts += len(alerts)
        res.alerts = alerts  # type: ignore[assignment]
        return st, res

    def _fast(self, st: HostState, store: series.Store, lay: Layout, batch: MetricBatch,
              samples: list[Any], res: BatchResult, watermark: int) -> list[Point] | None:
        """The batch as columns; None (having changed nothing) when it needs the
        sample-by-sample path."""
        sh = lay.shape
        if not sh.fast or not lay.bind(store.keys):
            return None
        wstate: dict[str, Any] | None = st.windows
        if sh.win_pos and (wstate is None or not lay.bind_windows(wstate["k"])):
            return None
        vals: list[float] = list(map(_VALUE, samples))
        v = np.array(vals)
        if v.dtype != np.float64:
            if v.dtype.kind not in "iu":
                return None  # not numbers: the other path fails on them as the reference does
            v = v.astype(np.float64)
        if sh.scaled:
            v = v * sh.mul / sh.div
            values: list[float] = v.tolist()
        else:
            values = vals
        if sh.bounded and ((v < sh.lo) | (v > sh.hi)).any():
            return None  # some sample is rejected
        arrays = lay.arrays
        ts = batch["ts"]
        p = self.smoothing
        f = series.fold_many(store, lay.idx, ts, v, values, p, arrays)
        if f is None:
            return None
        c = self.counters
        c.outliers += f.outliers
        if sh.win_pos:
            assert wstate is not None
            spec = self.windows
            starts = windows.accepting_starts(spec, ts, watermark)
            if not starts:
                c.late_samples += len(sh.win_pos)
            else:
                if len(sh.win_pos) == sh.n:
                    opened = windows.add_many(wstate, spec, starts, lay.wj, v, values, arrays)
                else:
                    opened = windows.add_many(wstate, spec, starts, lay.wj, v[sh.win_np],
                                              [values[i] for i in sh.win_pos], arrays)
                if opened:
                    st.windows_due_ms = None  # it may close before the windows open so far
        host = batch["host"]
        seq = batch["seq"]
        ewma, wma, ewvar, prev = f.ewma, f.wma, f.ewvar, f.prev_value
        prev_ts = f.prev_ts
        arrays.keep_only(_state_lists(store, wstate))
        cn = sh.canon_names
        cl = sh.clabels
        points = [make_point(cn[i], cl[i], ts, values[i], ewma[i], wma[i], ewvar[i], prev[i],
                             prev_ts) for i in sh.watch_pos]
        res.block = MetricBlock(host, ts, seq, lay.topo, cn, cl, values, vals, ewma, wma,
                                f.outlier)
        return points

    def _one_by_one(self, st: HostState, store: series.Store, lay: Layout,
                    batch: MetricBatch, samples: list[Any], res: BatchResult,
                    watermark: int) -> list[Point]:
        """The batch sample by sample (any batch)."""
        c = self.counters
        host = batch["host"]
        ts = batch["ts"]
        seq = batch["seq"]
        p = self.smoothing
        spec = self.windows
        block = res.block = MetricBlock(host, ts, seq, lay.topo)
        names, slabels_of, values, raws = block.name, block.series_labels, block.value, block.raw
        ewmas, wmas, outliers = block.ewma, block.wma, block.outlier
        points: list[Point] = []
        keys = store.keys
        where = {k: i for i, k in enumerate(keys)}
        wstate: dict[str, Any] | None = st.windows
        wwhere: dict[int, int] | None = None
        starts: list[int] | None = None
        for sample in samples:
            raw = sample["value"]
            slabels = sample.get("labels")
            canon, key, clabels, windowed, watched = self._shape(sample["name"], slabels)
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
            i = where.get(key)
            if i is None:
                i = where[key] = series.add_series(store, key, ts, value)
                ewma = wma = value
                ewvar = 0.0
                outlier = False
                prev_value: float | None = None
                prev_ts: int | None = None
            else:
                ewma, ewvar, wma, outlier, prev_value, prev_ts = series.fold_one(
                    store, i, ts, value, p)
                if outlier:
                    c.outliers += 1
            if windowed:
                if wstate is None:
                    wstate = st.windows = windows.new_state()
                if wwhere is None:
                    wwhere = {k: j for j, k in enumerate(wstate["k"])}
                j = wwhere.get(i)
                if j is None:
                    j = wwhere[i] = len(wstate["k"])
                    wstate["k"].append(i)
                if starts is None:
                    starts = windows.accepting_starts(spec, ts, watermark)
                if starts:
                    if windows.add_one(wstate, spec, starts, j, value):
                        st.windows_due_ms = None  # it may close before those open so far
                else:
                    c.late_samples += 1
            if watched:
                points.append(make_point(canon.name, clabels, ts, value, ewma, wma, ewvar,
                                         prev_value, prev_ts))
            names.append(canon.name)
            slabels_of.append(clabels)
            values.append(value)
            raws.append(raw)
            ewmas.append(ewma)
            wmas.append(wma)
            outliers.append(outlier)
        return points

    def _close_windows(self, st: HostState, watermark: int) -> None:
        due = st.windows_due_ms
        if due is not None and watermark < due:
            return  # nothing can close yet: the cheap common case
        ws = st.windows
        assert ws is not None
        with np.errstate(all="ignore"):
            self.counters.windows_closed += windows.close_due(ws, self.windows, watermark)
        st.windows_due_ms = windows.next_due(ws, self.windows)

    def tick(self, state: HostState, host: str, now_ms: int) -> list[Alert]:
        """Time-driven work for one host: close due windows, rules (absence, timers...)."""
        if state.windows:
            self._close_windows(state, now_ms)
        alerts = self.engine.tick(state.rules, host, state.topology, now_ms)
        self.counters.alerts += len(alerts)
        return alerts  # type: ignore[return-value]


def _state_lists(store: series.Store, wstate: dict[str, Any] | None) -> list[list[Any]]:
    """The lists of a host state that the fast path reads as arrays."""
    lists: list[list[Any]] = [store.ewma, store.ewvar, store.ewmad, store.count,
                              *store.last_values]
    if wstate:
        for cols in wstate["o"].values():
            lists.extend(cols[:4])
    return lists
