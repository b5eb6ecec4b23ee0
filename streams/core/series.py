"""A host's smoothing state in columns: one list per quantity, one entry per series.

`streams.core.smoothing` defines what is computed for one series (`update_series`);
this is the same arithmetic over all series of a host, kept so that a batch is a
handful of array operations instead of a Python loop over its samples, and so that the
state serialises compactly (no per-series lists, no repeated keys). `SeriesColumns`
names the columns; in the changelog they are one JSON object with short keys:

    {"v": 2, "w": wma_n, "k": keys: [series key, ...],   -- entry i is series keys[i]
     "t": last_ts: [last ts] -- or one number when all series last saw the same time,
     "m": ewma, "q": ewvar (EW variance), "a": ewmad (EW mean absolute deviation),
     "n": count: samples seen, counted up to max(outlier_min_count, wma_n): all that
          matters of it is whether a series is old enough to flag outliers and how
          full its buffer is, and small counts cost nothing to keep or store,
     "b": last_values: wma_n columns of the last values, oldest first;
          last_values[-1][i] is series i's last value}

A series with fewer than wma_n samples has zeros in its leading buffer entries. New
series are appended; entries never move, so an index stays valid for the life of the
state.

Two ways to fold a batch, which give the same numbers to the last bit (a property test
holds them to it, and both to `update_series`):
- `fold_one`, sample by sample: any batch, including new series, a series twice in a
  batch, samples at different times;
- `fold_many`, all at once with numpy: every series already known, each once, all with
  the same previous timestamp (a host's usual batch). numpy's elementwise +, -, *, /
  round exactly as Python's float operations do; the one transcendental function,
  exp, is computed once with math.exp for the batch's common time step.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.core.smoothing import SmoothingParams

__all__ = ["STORE_VERSION", "Folded", "SeriesColumns", "Store", "add_series", "ensure_store",
           "fold_many", "fold_one", "new_store", "recent", "times"]

log = logging.getLogger(__name__)

STORE_VERSION = 2
Floats = npt.NDArray[np.float64]
AsArray = Callable[[list[Any]], npt.NDArray[Any]]


@dataclass(slots=True)
class SeriesColumns:
    """A host's smoothing state, one list per quantity, entry i for series keys[i]."""

    wma_n: int
    keys: list[str]
    last_ts: int | list[int]  # one number while every series last saw the same time
    ewma: list[float]
    ewvar: list[float]
    ewmad: list[float]
    count: list[int]
    last_values: list[list[float]]  # wma_n columns, oldest first

    def to_json(self) -> dict[str, Any]:
        return {"v": STORE_VERSION, "w": self.wma_n, "k": self.keys, "t": self.last_ts,
                "m": self.ewma, "q": self.ewvar, "a": self.ewmad, "n": self.count,
                "b": self.last_values}

    @classmethod
    def from_json(cls, d: Any) -> SeriesColumns | None:
        """The columns of a stored state; None when it is not of this layout."""
        if not isinstance(d, dict) or d.get("v") != STORE_VERSION:
            return None
        try:
            return cls(d["w"], d["k"], d["t"], d["m"], d["q"], d["a"], d["n"], d["b"])
        except KeyError:
            return None


Store = SeriesColumns


def new_store(p: SmoothingParams) -> Store:
    return SeriesColumns(p.wma_n, [], [], [], [], [], [], [[] for _ in range(p.wma_n)])


def ensure_store(s: Any, p: SmoothingParams) -> Store:
    """The series store of a host state, fresh when there is none or it has another
    layout or WMA length (smoothing history is then rebuilt from the next samples)."""
    cols = s if isinstance(s, SeriesColumns) else SeriesColumns.from_json(s)
    if cols is not None and cols.wma_n == p.wma_n:
        return cols
    if s:
        log.warning("series state of another layout or WMA length: smoothing starts afresh")
    return new_store(p)


def add_series(s: Store, key: str, ts: int, value: float) -> int:
    """Append a series seen for the first time (its first sample folded in)."""
    t = times(s)
    s.keys.append(key)
    t.append(ts)
    s.ewma.append(value)
    s.ewvar.append(0.0)
    s.ewmad.append(0.0)
    s.count.append(1)
    b = s.last_values
    for col in b[:-1]:
        col.append(0.0)
    b[-1].append(value)
    return len(s.keys) - 1


def times(s: Store) -> list[int]:
    """The last-seen times as a list, one per series (expanded if kept as one number)."""
    t = s.last_ts
    if isinstance(t, int):
        t = s.last_ts = [t] * len(s.keys)
    return t


def recent(s: Store, i: int) -> list[float]:
    """Series i's last values (at most wma_n), oldest first."""
    b = s.last_values
    nb = min(s.count[i], len(b))
    return [col[i] for col in b[len(b) - nb:]]


def fold_one(s: Store, i: int, ts: int, value: float, p: SmoothingParams,
             exp: Callable[[float], float] = math.exp
             ) -> tuple[float, float, float, bool, float, int]:
    """Fold one sample into series i, in place. Returns (ewma, ewvar before this sample,
    wma, outlier, previous value, previous ts); the arithmetic of `update_series`."""
    t = times(s)
    m = s.ewma
    q = s.ewvar
    a = s.ewmad
    cnt = s.count
    b = s.last_values
    prev_ts = t[i]
    mean = m[i]
    var = q[i]
    mad = a[i]
    count = cnt[i]
    prev_value = b[-1][i]
    diff = value - mean
    outlier = count >= p.outlier_min_count and abs(diff) > p.outlier_k * mad and mad > 0
    dt = ts - prev_ts
    if dt > 0:
        al = 1.0 - exp(-dt / p.tau_ms)
        incr = al * diff
        mean += incr
        m[i] = mean
        q[i] = (1.0 - al) * (var + diff * incr)
        a[i] = (1.0 - al) * mad + al * abs(diff)
        t[i] = ts
    count += 1
    cap = _cap(p)
    cnt[i] = count if count < cap else cap
    w = len(b)
    for c in range(w - 1):
        b[c][i] = b[c + 1][i]
    b[-1][i] = value
    nb = min(count, w)
    if nb == 1:
        wma = value
    else:
        num = 0.0
        for k, col in enumerate(b[w - nb:], 1):
            num += k * col[i]
        wma = num / (nb * (nb + 1) / 2)
    return mean, var, wma, outlier, prev_value, prev_ts


def _cap(p: SmoothingParams) -> int:
    """Where sample counts stop: past it, no test on a count changes its answer."""
    return max(p.outlier_min_count, p.wma_n, 1)


@dataclass(slots=True)
class Folded:
    """What a batch fold returns, entry per sample of the batch (Python lists)."""

    ewma: list[float]
    wma: list[float]
    outlier: list[bool]
    outliers: int
    ewvar: list[float]  # before the sample
    prev_value: list[float]
    prev_ts: int  # the common previous timestamp


def fold_many(s: Store, idx: npt.NDArray[np.intp] | None, ts: int, v: Floats,
              values: list[float], p: SmoothingParams, as_array: AsArray) -> Folded | None:
    """Fold one sample into each series idx[j] (idx None: every series, in order), all
    at once. None, with nothing changed, unless all those series last saw the same
    timestamp. `values` is `v` as a list (it becomes the newest buffer column)."""
    before = _gather(s, idx, as_array)
    if before is None:
        return None
    t0, m0, q0, a0, n0, ewvar, prev_value, il = before
    cap = _cap(p)
    grown = int(n0.min()) >= cap  # every series past every count threshold: the usual case
    diff = v - m0
    ad = np.abs(diff)
    out = (ad > p.outlier_k * a0) & (a0 > 0)
    if not grown:
        out &= n0 >= p.outlier_min_count
    dt = ts - t0
    moved = dt > 0
    if moved:
        al = 1.0 - math.exp(-dt / p.tau_ms)
        incr = al * diff
        m1 = m0 + incr
        q1 = (1.0 - al) * (q0 + diff * incr)
        a1 = (1.0 - al) * a0 + al * ad
    else:  # same instant or late: the averages stay, time does not move back
        m1, q1, a1 = m0, q0, a0
    n1 = n0 if grown else np.minimum(n0 + 1, cap)
    w = len(s.last_values)
    old = s.last_values
    if idx is None:
        cols: list[Floats] = [as_array(c) for c in old[1:]]
    else:
        cols = [as_array(c)[idx] for c in old[1:]]
    cols.append(v)
    wma_l = list(values) if w == 1 else _wma(cols, n1, grown, len(v)).tolist()
    ewma_l: list[float]
    if idx is None:
        if moved:
            ewma_l = m1.tolist()
            s.ewma = ewma_l
            s.ewvar = q1.tolist()
            s.ewmad = a1.tolist()
            s.last_ts = ts
        else:
            ewma_l = s.ewma
        if not grown:
            s.count = n1.tolist()
        s.last_values = [*old[1:], values]
        _remember(as_array, s, m1, q1, a1, n1, v)
    else:
        assert il is not None
        ewma_l = m1.tolist()
        _scatter(s, idx, il, ts, moved, m1, q1, a1, None if grown else n1, cols, as_array)
    return Folded(ewma_l, wma_l, out.tolist(), int(np.count_nonzero(out)), ewvar,
                  prev_value, t0)


_Before = tuple[int, Floats, Floats, Floats, npt.NDArray[np.int64], list[float],
                list[float], list[int] | None]


def _gather(s: Store, idx: npt.NDArray[np.intp] | None, as_array: AsArray) -> _Before | None:
    """The state `fold_many` folds into, as arrays: (last ts, ewma, ewvar, ewmad, count,
    ewvar as a list, previous values, idx as a list); None unless all those series last
    saw the same timestamp."""
    t_all: int | list[int] = s.last_ts
    if idx is None:
        if isinstance(t_all, int):
            t0 = t_all
        else:
            if not t_all:
                return None
            t0 = t_all[0]
            if t_all.count(t0) != len(t_all):
                return None
        q_list = s.ewvar
        return (t0, as_array(s.ewma), as_array(q_list), as_array(s.ewmad), as_array(s.count),
                q_list, s.last_values[-1], None)
    il = idx.tolist()
    if isinstance(t_all, int):
        t0 = t_all
    else:
        t0 = t_all[il[0]]
        if any(t_all[i] != t0 for i in il):
            return None
    m0 = as_array(s.ewma)[idx]
    q0 = as_array(s.ewvar)[idx]
    last = s.last_values[-1]
    return (t0, m0, q0, as_array(s.ewmad)[idx], as_array(s.count)[idx], q0.tolist(),
            [last[i] for i in il], il)


def _wma(cols: list[Floats], n1: npt.NDArray[np.int64], grown: bool, size: int) -> Floats:
    """The weighted moving average over the buffer columns (oldest first, w > 1)."""
    w = len(cols)
    num: Floats
    if grown or int(n1.min()) >= w:  # full buffers: weights 1..w
        num = 0.0 + cols[0]
        for k in range(1, w):
            num = num + (k + 1) * cols[k]
        wma: Floats = num / (w * (w + 1) / 2)
        return wma
    # young series: weights 0 on the empty entries, 1..nb on the others
    nb = np.minimum(n1, w)
    num = np.zeros(size)
    for k in range(w):
        num = num + np.maximum(k - (w - nb) + 1, 0) * cols[k]
    young: Floats = num / (nb * (nb + 1) / 2)
    return young


def _remember(as_array: AsArray, s: Store, m: Floats, q: Floats, a: Floats,
              n: npt.NDArray[np.int64], v: Floats) -> None:
    """Tell the array cache which arrays the new lists hold (no conversion next time)."""
    remember = getattr(as_array, "remember", None)
    if remember is not None:
        remember(s.ewma, m)
        remember(s.ewvar, q)
        remember(s.ewmad, a)
        remember(s.count, n)
        remember(s.last_values[-1], v)


def _scatter(s: Store, idx: npt.NDArray[np.intp], il: list[int], ts: int, moved: bool,
             m1: Floats, q1: Floats, a1: Floats, n1: npt.NDArray[np.int64] | None,
             cols: list[Floats], as_array: AsArray) -> None:
    """Write a fold of some series back into the full columns (n1 None: counts stay)."""
    for name, new in (("ewma", m1), ("ewvar", q1), ("ewmad", a1), ("count", n1)):
        if new is None or (name != "count" and not moved):
            continue
        full = as_array(getattr(s, name)).copy()
        full[idx] = new
        setattr(s, name, full.tolist())
    if moved:
        t = list(times(s))
        for i in il:
            t[i] = ts
        s.last_ts = t
    b = s.last_values
    nb = []
    for c, col in enumerate(b):
        full = as_array(col).copy()
        full[idx] = cols[c]
        nb.append(full.tolist())
    s.last_values = nb
