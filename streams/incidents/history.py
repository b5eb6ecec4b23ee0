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
    "iter_series",
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
    }
    last = _num(summary.get("last"))
    if last is not None:
        out["last"] = last
    return {k: round(v, 3) for k, v in out.items()}


def _gpu_series(context: dict[str, Any] | None, gpu: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, labels, summary in iter_series(context):
        if name.startswith("gpu.") and labels.get("gpu") == gpu and name not in found:
            found[name] = summary
    return found


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
            usual = sorted(r[3] for r in prow)[len(prow) // 2]
            power_min |= {r[0] for r in prow if usual > 0 and r[2] >= _POWER_SPIKE * usual}

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
