"""Event-time tumbling and hopping windows with allowed lateness, one table per host.

A window [start, start + size) stays open until the watermark passes its end plus the
allowed lateness; then it closes into a summary (min, max, avg, count, and a percentile
if one is asked for) and a bounded history of closed windows is kept per series. An
event arriving for a window that has already closed is counted as too late, never
silently mixed into another.

The watermark comes from the caller: the host's newest event time on the data path,
and the worker's stream clock on ticks, so the windows of a host that went silent
still close (a gap in faust's and Quix Streams' windowing, where windows close only
when the next event for that key arrives).

All samples of a batch share its timestamp, so they fall in the same windows, and
windows open and close for all of a host's series at once. The state is therefore
kept per host, in columns (one per windowed series), which makes a batch a handful of
array operations and keeps window starts out of every series' history:

    {"k": [series key, ...],                       -- column j is series k[j]
     "o": {"<start>": [mins, maxs, sums, counts]},  -- open windows; count 0: no data
     "c": [[start, mins, maxs, avgs, counts], ...], -- the newest `keep` closed windows
     "x": {"<j>": [[start, min, max, avg, count], ...]}}  -- see below; absent if empty

With a percentile asked for, open windows also keep each series' values (at most
`max_values`) and closed windows a sixth column with the percentile. By default none
is: the store's rollups compute quantiles, and value lists would be most of the state.

A series keeps the newest `keep` closed windows in which it had data. For a series
with data in every window those are the columns of "c". A series that skips windows
would lose older ones when they leave "c": those move to "x" under the series' column,
trimmed so that "x" and "c" together hold `keep` of its windows.

Columns may be shorter than "k" (a series that appeared after the window opened): the
missing entries read as count 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["WindowSpec", "accepting_starts", "add_many", "add_one", "close_due", "minutes",
           "new_state", "next_due", "percentile"]

WindowState = dict[str, Any]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
# list -> array, remembering arrays of lists already converted (see streams.core.layout)
AsArray = Callable[[list[Any]], npt.NDArray[Any]]


@dataclass(frozen=True, slots=True)
class WindowSpec:
    size_ms: int = 60_000
    hop_ms: int = 0  # 0: tumbling (hop = size)
    lateness_ms: int = 5_000
    keep: int = 10  # closed windows kept per series
    percentile: float | None = None  # e.g. 0.95 to keep values and summarise a percentile
    max_values: int = 240  # values kept per open window for the percentile

    @property
    def hop(self) -> int:
        return self.hop_ms or self.size_ms


def new_state() -> WindowState:
    return {"k": [], "o": {}, "c": []}


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


def accepting_starts(spec: WindowSpec, ts: int, watermark: int) -> list[int]:
    """Starts of the windows an event at `ts` belongs to that are still open; an event
    with none is too late."""
    span = spec.size_ms + spec.lateness_ms
    return [s for s in _starts(ts, spec) if s + span > watermark]


def _pad(col: list[Any], n: int, fill: Any) -> list[Any]:
    if len(col) < n:
        col.extend([fill] * (n - len(col)))
    return col


def _open(n: int, with_values: bool) -> list[Any]:
    cols: list[Any] = [[0.0] * n, [0.0] * n, [0.0] * n, [0] * n]
    if with_values:
        cols.append([[] for _ in range(n)])
    return cols


def add_one(state: WindowState, spec: WindowSpec, starts: list[int], j: int,
            value: float) -> bool:
    """Put one value of column j in the windows `starts` (mutates the columns in place);
    True if that opened a window."""
    opened = state["o"]
    n = len(state["k"])
    with_values = spec.percentile is not None
    new = False
    for start in starts:
        key = str(start)
        cols = opened.get(key)
        if cols is None:
            cols = opened[key] = _open(n, with_values)
            new = True
        mn, mx, sm, cnt = (_pad(cols[0], n, 0.0), _pad(cols[1], n, 0.0),
                           _pad(cols[2], n, 0.0), _pad(cols[3], n, 0))
        if cnt[j] == 0:
            mn[j] = mx[j] = sm[j] = value
            cnt[j] = 1
            if with_values:
                _pad(cols[4], n, None)
                cols[4][j] = [value]
        else:
            if value < mn[j]:
                mn[j] = value
            if value > mx[j]:
                mx[j] = value
            sm[j] += value
            cnt[j] += 1
            if with_values:
                vals = cols[4][j]
                if len(vals) < spec.max_values:
                    vals.append(value)
    return new


def add_many(state: WindowState, spec: WindowSpec, starts: list[int],
             js: npt.NDArray[np.intp] | None, v: Floats, values: list[float],
             as_array: AsArray) -> bool:
    """Put one value for each of the columns `js` (None: every column, in order; no
    column twice) in the windows `starts`; the columns are replaced, not mutated.
    True if that opened a window."""
    opened = state["o"]
    n = len(state["k"])
    with_values = spec.percentile is not None
    new = False
    for start in starts:
        key = str(start)
        cols = opened.get(key)
        if cols is None:
            if js is None:
                cols = [values[:], values[:], values[:], [1] * n]
            else:
                z = np.zeros(n)
                z[js] = v
                c = np.zeros(n, dtype=np.int64)
                c[js] = 1
                zl = z.tolist()
                cols = [zl, zl[:], zl[:], c.tolist()]
            if with_values:
                vl: list[list[float]] = [[] for _ in range(n)]
                for j, x in zip(range(n) if js is None else js.tolist(), values, strict=True):
                    vl[j] = [x]
                cols.append(vl)
            opened[key] = cols
            new = True
            continue
        if len(cols[3]) < n:
            for i, fill in enumerate((0.0, 0.0, 0.0, 0)):
                cols[i] = _pad(list(cols[i]), n, fill)
        mn: Floats = as_array(cols[0])
        mx: Floats = as_array(cols[1])
        sm: Floats = as_array(cols[2])
        cnt: Ints = as_array(cols[3])
        if js is None:
            fresh = cnt == 0
            if fresh.any():
                mn = np.where(fresh | (v < mn), v, mn)
                mx = np.where(fresh | (v > mx), v, mx)
                sm = np.where(fresh, v, sm + v)
            else:
                mn = np.where(v < mn, v, mn)
                mx = np.where(v > mx, v, mx)
                sm = sm + v
            cnt = cnt + 1
        else:
            c0 = cnt[js]
            m0, x0, s0 = mn[js], mx[js], sm[js]
            fresh = c0 == 0
            mn = mn.copy()
            mx = mx.copy()
            sm = sm.copy()
            cnt = cnt.copy()
            mn[js] = np.where(fresh | (v < m0), v, m0)
            mx[js] = np.where(fresh | (v > x0), v, x0)
            sm[js] = np.where(fresh, v, s0 + v)
            cnt[js] = c0 + 1
        cols[0] = mn.tolist()
        cols[1] = mx.tolist()
        cols[2] = sm.tolist()
        cols[3] = cnt.tolist()
        remember = getattr(as_array, "remember", None)
        if remember is not None:  # the next batch finds these arrays without converting
            for col, arr in zip(cols, (mn, mx, sm, cnt), strict=False):
                remember(col, arr)
        if with_values:
            vl = _pad(cols[4], n, None)
            for j, x in zip(range(n) if js is None else js.tolist(), values, strict=True):
                cur = vl[j]
                if not cur:
                    vl[j] = [x]
                elif len(cur) < spec.max_values:
                    cur.append(x)
    return new


def next_due(state: WindowState, spec: WindowSpec) -> int | None:
    """When the earliest open window closes (None: none is open)."""
    opened = state["o"]
    if not opened:
        return None
    return min(int(k) for k in opened) + spec.size_ms + spec.lateness_ms


def close_due(state: WindowState, spec: WindowSpec, watermark: int) -> int:
    """Close every open window whose end plus lateness the watermark has passed;
    returns how many series windows closed."""
    opened = state["o"]
    span = spec.size_ms + spec.lateness_ms
    due = sorted(int(k) for k in opened if int(k) + span <= watermark)
    closed = 0
    q = spec.percentile
    for start in due:
        cols = opened.pop(str(start))
        mn, mx, sm, cnt = cols[0], cols[1], cols[2], cols[3]
        c = np.array(cnt, dtype=np.int64)
        present = c > 0
        avg = np.divide(np.array(sm, dtype=np.float64), c, out=np.zeros(len(cnt)),
                        where=present)
        entry: list[Any] = [start, mn, mx, avg.tolist(), cnt]
        if q is not None:
            vals = _pad(cols[4], len(cnt), None) if len(cols) > 4 else [None] * len(cnt)
            entry.append([percentile(v, q) if v else 0.0 for v in vals])
        closed += int(np.count_nonzero(present))
        _push(state, spec.keep, entry)
    return closed


def _one(entry: list[Any], j: int) -> list[Any]:
    """Column j of a closed window as [start, min, max, avg, count(, percentile)]."""
    return [entry[0], *(col[j] for col in entry[1:])]


def _has(entry: list[Any], j: int) -> bool:
    cnt = entry[4]
    return j < len(cnt) and cnt[j] > 0


def _count(ring: list[list[Any]], j: int) -> int:
    return sum(1 for w in ring if _has(w, j))


def _push(state: WindowState, keep: int, entry: list[Any]) -> None:
    """Append a closed window to the history; move what leaves it to "x" where needed."""
    ring: list[list[Any]] = state["c"]
    ring.append(entry)
    over: dict[str, list[list[Any]]] | None = state.get("x")
    if over:
        for jk in list(over):
            j = int(jk)
            if _has(entry, j):
                lst = over[jk]
                excess = len(lst) + _count(ring, j) - keep
                if excess > 0:
                    del lst[:excess]
                    if not lst:
                        del over[jk]
    while len(ring) > keep:
        old = ring.pop(0)
        cnt = old[4]
        n = len(cnt)
        if len(ring) >= keep and all(len(w[4]) >= n and min(w[4], default=1) > 0 for w in ring):
            continue  # every series of the old window has `keep` newer ones: the usual case
        for j in range(n):
            if cnt[j] > 0:
                have = _count(ring, j)
                if have < keep:
                    if over is None:
                        over = state["x"] = {}
                    lst = over.setdefault(str(j), [])
                    lst.append(_one(old, j))
                    excess = len(lst) + have - keep
                    if excess > 0:
                        del lst[:excess]
    if over is not None and not over:
        del state["x"]


def minutes(state: WindowState, j: int) -> list[list[Any]]:
    """The closed windows of column j, oldest first, as [start, min, max, avg, count]
    (and the percentile, if kept)."""
    out = [list(e) for e in (state.get("x") or {}).get(str(j), ())]
    out.extend(_one(w, j) for w in state["c"] if _has(w, j))
    return out
