"""Event-time tumbling and hopping windows with allowed lateness.

A window [start, start + size) stays open until the watermark passes its end plus the
allowed lateness; then it closes into a summary (min, max, avg, count, p95) and a
bounded history of closed windows is kept per series. An event arriving for a window
that has already closed is counted as too late, never silently mixed into another.

The watermark comes from the caller: the host's newest event time on the data path,
and the worker's stream clock on ticks, so the windows of a host that went silent
still close (a gap in faust's and Quix Streams' windowing, where windows close only
when the next event for that key arrives).

State per series (plain JSON): {"o": {start: [min, max, sum, count, [values]]},
"c": [[start, min, max, avg, count, p95], ...] oldest first, "late": n}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["WindowSpec", "add", "close_due", "new_state", "percentile"]

WindowState = dict[str, Any]


@dataclass(frozen=True, slots=True)
class WindowSpec:
    size_ms: int = 60_000
    hop_ms: int = 0  # 0: tumbling (hop = size)
    lateness_ms: int = 5_000
    keep: int = 10  # closed windows kept per series
    max_values: int = 240  # values kept per open window for the percentile

    @property
    def hop(self) -> int:
        return self.hop_ms or self.size_ms


def new_state() -> WindowState:
    return {"o": {}, "c": [], "late": 0}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))
    return s[k]


def _starts(ts: int, spec: WindowSpec) -> range:
    hop = spec.hop
    last = ts - ts % hop
    first = last - (spec.size_ms - hop)
    first = max(first, ts - spec.size_ms + 1)
    first += (-first) % hop
    return range(first, last + 1, hop)


def add(state: WindowState, spec: WindowSpec, ts: int, value: float, watermark: int) -> bool:
    """Put one value in its window(s); False (and counted) when all of them have closed."""
    opened = state["o"]
    accepted = False
    for start in _starts(ts, spec):
        if start + spec.size_ms + spec.lateness_ms <= watermark:
            continue  # that window has closed
        key = str(start)
        w = opened.get(key)
        if w is None:
            opened[key] = [value, value, value, 1, [value]]
        else:
            if value < w[0]:
                w[0] = value
            if value > w[1]:
                w[1] = value
            w[2] += value
            w[3] += 1
            vals = w[4]
            if len(vals) < spec.max_values:
                vals.append(value)
        accepted = True
    if not accepted:
        state["late"] = state.get("late", 0) + 1
    return accepted


def close_due(state: WindowState, spec: WindowSpec, watermark: int) -> list[list[float]]:
    """Close every open window whose end plus lateness the watermark has passed."""
    opened = state["o"]
    due = sorted(int(k) for k in opened if int(k) + spec.size_ms + spec.lateness_ms <= watermark)
    closed: list[list[float]] = []
    for start in due:
        mn, mx, total, n, vals = opened.pop(str(start))
        closed.append([start, mn, mx, total / n, n, percentile(vals, 0.95)])
    if closed:
        hist = state["c"]
        hist.extend(closed)
        del hist[: max(0, len(hist) - spec.keep)]
    return closed
