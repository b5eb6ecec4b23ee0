"""Reading a host context: series keys, and the recent history of one GPU.

The host context (built by the worker from a host's state) holds, per series, the
last value, the EWMA and the last few closed one-minute windows. A root-cause hint
needs that history condensed: "what did this GPU do in the minutes before it failed?"
This module answers with a plain dict that is both put in the incident's evidence
and turned into a sentence by `streams.incidents.hints`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from math import isfinite
from typing import Any

__all__ = [
    "POWER_NEAR_LIMIT",
    "THERMAL_HOT_C",
    "gpu_history",
    "gpu_with_xid",
    "iter_series",
    "likely_gpu",
    "minute_rows",
    "parse_series_key",
]

log = logging.getLogger(__name__)

THERMAL_HOT_C = 85.0  # most data-centre GPUs start slowing down in the high 80s
POWER_NEAR_LIMIT = 0.98  # a minute peaking this close to the enforced limit was power-capped
_POWER_SPIKE = 1.25  # without a known limit: a minute peaking this far above the usual draw
_CLOCK_DROP = 0.8  # SM clock below this fraction of its recent peak: the GPU slowed down


def parse_series_key(key: str) -> tuple[str, dict[str, str]]:
    """`name{k=v,...}` -> (name, labels); a bare name has no labels."""
    brace = key.find("{")
    if brace < 0 or not key.endswith("}"):
        return key, {}
    labels: dict[str, str] = {}
    for part in key[brace + 1:-1].split(","):
        k, sep, v = part.partition("=")
        if sep:
            labels[k.strip()] = v.strip()
    return key[:brace], labels


def iter_series(context: dict[str, Any] | None
                ) -> Iterator[tuple[str, dict[str, str], dict[str, Any]]]:
    """(name, labels, summary) of every series in a context, skipping malformed entries."""
    series = (context or {}).get("series")
    if not isinstance(series, dict):
        return
    for key in sorted(series):
        summary = series[key]
        if isinstance(key, str) and isinstance(summary, dict):
            name, labels = parse_series_key(key)
            yield name, labels, summary


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    f = float(x)
    return f if f == f and abs(f) != float("inf") else None


def minute_rows(summary: dict[str, Any]) -> list[tuple[int, float, float, float]]:
    """Valid one-minute windows of a series as (start_ms, min, max, avg), oldest first.

    A series without closed windows yet still has a last value: it stands in as one
    window, so a young series is not mistaken for an empty one.
    """
    rows: list[tuple[int, float, float, float]] = []
    minutes = summary.get("minutes")
    if isinstance(minutes, list):
        for m in minutes:
            if not isinstance(m, list | tuple) or len(m) < 4:
                continue
            try:  # the hot path of feature extraction: convert first, check after
                row = (int(m[0]), float(m[1]), float(m[2]), float(m[3]))
            except (TypeError, ValueError, OverflowError):
                continue
            if isfinite(row[1]) and isfinite(row[2]) and isfinite(row[3]):
                rows.append(row)
    if any(rows[i][0] > rows[i + 1][0] for i in range(len(rows) - 1)):
        rows.sort(key=lambda r: r[0])
    if not rows:
        last = _num(summary.get("last"))
        if last is not None:
            rows.append((0, last, last, last))
    return rows


def _stats(summary: dict[str, Any] | None) -> dict[str, float] | None:
    if summary is None:
        return None
    rows = minute_rows(summary)
    if not rows:
        return None
    out = {
        "min": min(r[1] for r in rows),
        "max": max(r[2] for r in rows),
        "avg": sum(r[3] for r in rows) / len(rows),
        "first_avg": rows[0][3],
        "last_avg": rows[-1][3],
        "low_avg": min(r[3] for r in rows),
    }
    last = _num(summary.get("last"))
    if last is not None:
        out["last"] = last
    return {k: round(v, 3) for k, v in out.items()}


def gpu_with_xid(context: dict[str, Any] | None, xid: str) -> str | None:
    """The GPU whose `gpu.xid` series shows this XID code (agents report the code of an
    XID as a sample of that GPU), or None. Lets a log line that names only a PCI address
    be tied to a GPU index."""
    try:
        code = float(xid)
    except ValueError:
        return None
    found = []
    for name, labels, summary in iter_series(context):
        if name != "gpu.xid" or "gpu" not in labels:
            continue
        values = [r[2] for r in minute_rows(summary)] + [r[1] for r in minute_rows(summary)]
        last = _num(summary.get("last"))
        if last is not None:
            values.append(last)
        recent = summary.get("recent")
        if isinstance(recent, list):
            values += [v for v in (_num(x) for x in recent) if v is not None]
        if code in values:
            found.append(labels["gpu"])
    return found[0] if len(found) == 1 else None


# What points at the GPU behind a fault class, strongest evidence first:
# (series, "level" = highest value seen | "delta" = growth over the history, reason).
_EVIDENCE: dict[str, list[tuple[str, str, str]]] = {
    "79": [("gpu.pcie_replay_per_s", "level", "PCIe replay errors")],
    "74": [("gpu.nvlink_errors_per_s", "level", "NVLink errors")],
    "nvlink_error": [("gpu.nvlink_errors_per_s", "level", "NVLink errors")],
    "48": [("gpu.ecc.dbe_volatile", "delta", "new double-bit ECC errors"),
           ("gpu.ecc.dbe_per_s", "level", "double-bit ECC errors")],
    "63": [("gpu.remapped_rows", "delta", "remapped memory rows"),
           ("gpu.ecc.sbe_volatile", "delta", "new single-bit ECC errors")],
}
for _code in ("94", "95", "gpu_ecc_dbe"):
    _EVIDENCE[_code] = _EVIDENCE["48"]
_EVIDENCE["64"] = _EVIDENCE["gpu_row_remap_failure"] = [
    ("gpu.remap_failure", "level", "a row-remapping failure"), *_EVIDENCE["63"]]
_THERMAL = [("gpu.throttle.thermal", "level", "thermal throttling"),
            ("gpu.temperature", "hot", "its temperature"),
            ("gpu.temperature", "rise", "its temperature rise")]
_RISE_C = 2.0  # a GPU warming this much more than it started, alone among its peers


def likely_gpu(context: dict[str, Any] | None, fault_class: str) -> tuple[str, str] | None:
    """(gpu, why) when the metrics single out one GPU for this fault, else None.

    For a log line that names no GPU index: the one GPU whose metrics show the fault's
    own precursor (PCIe replays before XID 79, NVLink errors before XID 74, new ECC
    errors for XID 48...), or failing that the one GPU that ran hot. Never a guess
    between equals: two GPUs with the same evidence give None.
    """
    key = fault_class[len("gpu_xid_"):] if fault_class.startswith("gpu_xid_") else fault_class
    for series_name, how, why in [*_EVIDENCE.get(key, []), *_THERMAL]:
        scores: dict[str, float] = {}
        for name, labels, summary in iter_series(context):
            gpu = labels.get("gpu")
            if name != series_name or gpu is None:
                continue
            rows = minute_rows(summary)
            if not rows:
                continue
            if how == "delta":
                value = max(r[2] for r in rows) - rows[0][1]
            elif how == "hot":
                value = max(r[2] for r in rows) - THERMAL_HOT_C
            elif how == "rise":  # from its coolest minute: a stalled job cools them all
                value = rows[-1][3] - min(r[3] for r in rows) - _RISE_C
            else:
                value = max(r[2] for r in rows)
            scores[gpu] = max(scores.get(gpu, value), value)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        if ranked and ranked[0][1] > 0 and (len(ranked) == 1 or ranked[1][1] < ranked[0][1]):
            return ranked[0][0], why
    return None


def _gpu_series(context: dict[str, Any] | None, gpu: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, labels, summary in iter_series(context):
        if name.startswith("gpu.") and labels.get("gpu") == gpu and name not in found:
            found[name] = summary
    return found


def _peer_peaks(context: dict[str, Any] | None, name: str, gpu: str) -> dict[int, float]:
    """Per minute, the median of the other GPUs' peaks of a series."""
    peaks: dict[int, list[float]] = {}
    for n, labels, summary in iter_series(context):
        if n == name and labels.get("gpu") not in (None, gpu):
            for start, _lo, hi, _avg in minute_rows(summary):
                peaks.setdefault(start, []).append(hi)
    return {start: sorted(v)[len(v) // 2] for start, v in peaks.items()}


def _flag_minutes(summary: dict[str, Any] | None) -> set[int]:
    """Start times of the minutes in which a 0/1 flag series was ever set."""
    if summary is None:
        return set()
    return {start for start, _lo, hi, _avg in minute_rows(summary) if hi >= 0.5}


def gpu_history(context: dict[str, Any] | None, gpu: str) -> dict[str, Any] | None:
    """What GPU `gpu` did over the minutes in the context, or None when nothing is known.

    A minute is a *thermal excursion* when the GPU was thermally throttled in it or its
    temperature peaked at THERMAL_HOT_C or above; a *power excursion* when it was power
    capped, peaked within 2 % of its power limit, or (limit unknown) peaked 25 % above
    its usual draw.
    """
    series = _gpu_series(context, gpu)
    if not series:
        return None
    temp = series.get("gpu.temperature")
    power = series.get("gpu.power_watts")
    limit = series.get("gpu.power_limit_watts")
    clock = series.get("gpu.sm_clock_mhz")
    all_starts: set[int] = set()
    for s in series.values():
        all_starts.update(r[0] for r in minute_rows(s))
    out: dict[str, Any] = {"gpu": gpu, "minutes": len(all_starts)}

    throttled = _flag_minutes(series.get("gpu.throttle.thermal"))
    thermal = set(throttled)
    if temp is not None:
        thermal |= {r[0] for r in minute_rows(temp) if r[2] >= THERMAL_HOT_C}
    power_min = _flag_minutes(series.get("gpu.throttle.power"))
    if power is not None:
        prow = minute_rows(power)
        lrow = minute_rows(limit) if limit is not None else []
        if lrow:
            cap = min(r[1] for r in lrow)
            power_min |= {r[0] for r in prow if cap > 0 and r[2] >= POWER_NEAR_LIMIT * cap}
        elif len(prow) >= 3:
            # Limit unknown: a spike above both its own usual draw and what its peers drew
            # in the same minute (a job stopping or starting moves them all together).
            usual = sorted(r[3] for r in prow)[len(prow) // 2]
            peers = _peer_peaks(context, "gpu.power_watts", gpu)
            power_min |= {r[0] for r in prow if usual > 0 and r[2] >= _POWER_SPIKE * usual
                          and (r[0] not in peers or r[2] >= _POWER_SPIKE * peers[r[0]])}

    for key, name in (("temperature_c", "gpu.temperature"), ("power_w", "gpu.power_watts"),
                      ("sm_clock_mhz", "gpu.sm_clock_mhz"),
                      ("utilization", "gpu.utilization")):
        st = _stats(series.get(name))
        if st is not None:
            out[key] = st
    if limit is not None and (ls := _stats(limit)) is not None:
        out["power_limit_w"] = ls["min"]
    for key, name in (("ecc_dbe_delta", "gpu.ecc.dbe_volatile"),
                      ("ecc_sbe_delta", "gpu.ecc.sbe_volatile")):
        rows = minute_rows(series[name]) if name in series else []
        if rows:
            out[key] = round(max(0.0, max(r[2] for r in rows) - rows[0][1]), 3)
    if clock is not None and (cs := _stats(clock)) is not None and cs["max"] > 0:
        out["clock_drop"] = cs["min"] < _CLOCK_DROP * cs["max"]
    out["thermal_throttle_minutes"] = len(throttled)
    out["thermal_excursion_minutes"] = len(thermal)
    out["power_excursion_minutes"] = len(power_min)
    out["thermal_excursion"] = bool(thermal)
    out["power_excursion"] = bool(power_min)
    return out
