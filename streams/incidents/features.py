"""Features of one host for the fault-probability model, from its host context.

Every feature is a plain float with a fixed name (FEATURES), computed the same way
in the stream (from the context the worker builds) and in training (from contexts
folded out of history by `streams.incidents.context`). Missing series read as 0, so
a host without GPUs or without some metric still gets a score.

Faults of the generic layer (classes `generic_<kind>`, read from a line's own words or a
new template, see docs/logs.md) have a feature of their own, `faults_generic`, so they
neither inflate `faults_other` (which a model was fitted on without them) nor go unused:
the shipped model gives it weight 0 until a model is fitted on data that has them.

Counts and rates that span orders of magnitude are log1p-compressed: a jump from 0
to 5 ECC errors matters more than one from 500 to 505.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from streams.incidents.config import SYMPTOM_FAULTS
from streams.incidents.hints import GENERIC_PREFIX, is_gpu_fault
from streams.incidents.history import THERMAL_HOT_C, iter_series, minute_rows

__all__ = ["FEATURES", "features_from_context"]

log = logging.getLogger(__name__)

FEATURES: tuple[str, ...] = (
    "gpu_temp_max",  # hottest GPU, smoothed (°C)
    "gpu_temp_peak",  # hottest one-minute peak of any GPU (°C)
    "gpu_temp_rise",  # largest rise of a GPU's minute averages over the history (°C)
    "gpu_hot_minutes",  # fraction of minutes some GPU peaked at THERMAL_HOT_C or above
    "gpu_thermal_throttle",  # fraction of minutes some GPU was thermally throttled
    "gpu_power_throttle",  # fraction of minutes some GPU was power capped
    "gpu_power_frac",  # highest smoothed power / power limit (0 when the limit is unknown)
    "gpu_util",  # mean smoothed GPU utilisation (0-1)
    "gpu_util_drop",  # largest fall of a GPU's minute-average utilisation (0-1)
    "gpu_clock_drop",  # largest relative SM clock drop over the history (0-1)
    "gpu_ecc_sbe",  # log1p(new single-bit ECC errors)
    "gpu_ecc_dbe",  # log1p(new double-bit ECC errors)
    "gpu_link_errors",  # log1p(NVLink + PCIe replay errors per minute)
    "cpu_usage",  # smoothed CPU busy fraction
    "mem_usage",  # smoothed memory use fraction
    "mem_rise",  # rise of the minute-average memory use over the history (fraction)
    "cpu_iowait",  # smoothed CPU time waiting for I/O (fraction)
    "net_errors",  # log1p(network errors + drops per minute)
    "faults_gpu",  # log1p(recent GPU fault count)
    "faults_other",  # log1p(recent non-GPU hard fault count, catalogue faults)
    "faults_generic",  # log1p(recent generic/novel fault count: generic_* classes)
)


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _smoothed(summary: dict[str, Any]) -> float | None:
    v = _num(summary.get("ewma"))
    return v if v is not None else _num(summary.get("last"))


def _delta(rows: list[tuple[int, float, float, float]]) -> float:
    """Growth of a counter over the windows: highest value minus the first low."""
    if not rows:
        return 0.0
    return max(0.0, max(r[2] for r in rows) - rows[0][1])


@dataclass
class _Acc:
    """What the series of one context add up to, before it becomes features."""

    temps: list[float] = field(default_factory=list)
    utils: list[float] = field(default_factory=list)
    power: dict[str, float] = field(default_factory=dict)
    limit: dict[str, float] = field(default_factory=dict)
    hot: set[int] = field(default_factory=set)
    throttle_t: set[int] = field(default_factory=set)
    throttle_p: set[int] = field(default_factory=set)
    starts: set[int] = field(default_factory=set)
    sbe: float = 0.0
    dbe: float = 0.0
    link: float = 0.0
    net: float = 0.0
    cpu: float | None = None
    mem: float | None = None


def _fold_gpu(f: dict[str, float], a: _Acc, name: str, gpu: str, sm: float | None,
              rows: list[tuple[int, float, float, float]]) -> None:
    """One GPU series into the features and the accumulator."""
    if name == "gpu.temperature":
        if sm is not None:
            a.temps.append(sm)
        if rows:
            f["gpu_temp_peak"] = max(f["gpu_temp_peak"], max(r[2] for r in rows))
            f["gpu_temp_rise"] = max(f["gpu_temp_rise"], rows[-1][3] - rows[0][3])
            a.hot.update(r[0] for r in rows if r[2] >= THERMAL_HOT_C)
    elif name == "gpu.utilization":
        if sm is not None:
            a.utils.append(sm)
        if rows:
            f["gpu_util_drop"] = max(f["gpu_util_drop"], rows[0][3] - rows[-1][3])
    elif name == "gpu.power_watts" and sm is not None:
        a.power[gpu] = sm
    elif name == "gpu.power_limit_watts" and sm is not None and sm > 0:
        a.limit[gpu] = sm
    elif name == "gpu.throttle.thermal":
        a.throttle_t.update(r[0] for r in rows if r[2] >= 0.5)
    elif name == "gpu.throttle.power":
        a.throttle_p.update(r[0] for r in rows if r[2] >= 0.5)
    elif name == "gpu.sm_clock_mhz" and rows:
        peak = max(r[2] for r in rows)
        if peak > 0:
            f["gpu_clock_drop"] = max(f["gpu_clock_drop"], 1.0 - min(r[1] for r in rows) / peak)
    elif name == "gpu.ecc.sbe_volatile":
        a.sbe += _delta(rows)
    elif name == "gpu.ecc.dbe_volatile":
        a.dbe += _delta(rows)
    elif name == "gpu.ecc.sbe_per_s" and sm is not None:
        a.sbe += 60.0 * sm
    elif name == "gpu.ecc.dbe_per_s" and sm is not None:
        a.dbe += 60.0 * sm
    elif name in ("gpu.nvlink_errors_per_s", "gpu.pcie_replay_per_s") and sm is not None:
        a.link += 60.0 * max(0.0, sm)


def _fold_host(f: dict[str, float], a: _Acc, name: str, sm: float | None,
               rows: list[tuple[int, float, float, float]]) -> None:
    """One host-wide series (network, CPU, memory) into the features and accumulator."""
    if name.startswith("net.") and ("errors" in name or "drops" in name) and sm is not None:
        a.net += 60.0 * max(0.0, sm)
    elif name == "cpu.usage":
        a.cpu = sm
    elif name == "mem.usage":
        a.mem = sm
        if rows:
            f["mem_rise"] = max(0.0, rows[-1][3] - rows[0][3])
    elif name == "cpu.iowait" and sm is not None:
        f["cpu_iowait"] = sm


def _finish(f: dict[str, float], a: _Acc) -> None:
    n = max(1, len(a.starts))
    f["gpu_temp_max"] = max(a.temps, default=0.0)
    f["gpu_hot_minutes"] = len(a.hot) / n
    f["gpu_thermal_throttle"] = len(a.throttle_t) / n
    f["gpu_power_throttle"] = len(a.throttle_p) / n
    f["gpu_power_frac"] = max((min(1.5, w / a.limit[g]) for g, w in a.power.items()
                               if g in a.limit), default=0.0)
    f["gpu_util"] = sum(a.utils) / len(a.utils) if a.utils else 0.0
    f["gpu_ecc_sbe"] = math.log1p(a.sbe)
    f["gpu_ecc_dbe"] = math.log1p(a.dbe)
    f["gpu_link_errors"] = math.log1p(a.link)
    f["net_errors"] = math.log1p(a.net)
    f["cpu_usage"] = a.cpu or 0.0
    f["mem_usage"] = a.mem or 0.0


def _fault_counts(f: dict[str, float], recent: Any) -> None:
    gpu_faults = other = generic = 0.0
    if isinstance(recent, dict):
        for cls, count in recent.items():
            c = _num(count)
            if not isinstance(cls, str) or c is None or c <= 0 or cls in SYMPTOM_FAULTS:
                continue
            if cls.startswith(GENERIC_PREFIX):
                generic += c
            elif is_gpu_fault(cls):
                gpu_faults += c
            else:
                other += c
    f["faults_gpu"] = math.log1p(gpu_faults)
    f["faults_other"] = math.log1p(other)
    f["faults_generic"] = math.log1p(generic)


def features_from_context(context: dict[str, Any] | None) -> dict[str, float]:
    """The model's features of one host (all of FEATURES, every value finite)."""
    f = dict.fromkeys(FEATURES, 0.0)
    if not isinstance(context, dict):
        return f
    a = _Acc()
    for name, labels, s in iter_series(context):
        rows = minute_rows(s)
        if name.startswith("gpu."):
            a.starts.update(r[0] for r in rows)
            _fold_gpu(f, a, name, labels.get("gpu", ""), _smoothed(s), rows)
        else:
            _fold_host(f, a, name, _smoothed(s), rows)
    _finish(f, a)
    _fault_counts(f, context.get("recent_faults"))
    return {k: (v if math.isfinite(v) else 0.0) for k, v in f.items()}
