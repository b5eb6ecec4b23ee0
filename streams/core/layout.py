"""What a host's batches look like, worked out once: the core's per-host memo.

An agent sends the same metrics with the same labels in the same order every interval.
Everything that follows from names and labels alone -- canonical names, unit scales,
bounds, series keys, which series are windowed or watched by a rule -- is computed for
the first batch of that shape (`BatchShape`, shared by all hosts that send it). Per
host (`Layout`) are the output rows' label sets, the positions of the batch's series
in the host's state columns, and the numpy arrays of the state's lists (`ArrayCache`),
reused while the host's batches keep their shape.

This is process memory, never state: it is rebuilt whenever a batch differs, the
state is a different object (restored from the changelog, say) or the rules change,
and it is bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from streams.core.normalise import Canonical

__all__ = ["ArrayCache", "BatchShape", "Layout", "Shape", "Signature", "signature"]

# canonical name/scale/bounds, series key, canonical series labels, windowed?, watched?
Shape = tuple[Canonical, str, dict[str, str], bool, bool]
# the samples' names and labels, as JSON: two contiguous buffers, cheap to compare
Signature = tuple[bytes, bytes]
_NAME = itemgetter("name")
_get: Callable[[Any, str], Any] = dict.get


def signature(samples: list[Any]) -> Signature | None:
    """What makes a batch's shape: its names and labels, in order (None: not JSON)."""
    try:
        return (orjson.dumps(list(map(_NAME, samples))),
                orjson.dumps(list(map(_get, samples, repeat("labels")))))
    except (TypeError, KeyError, orjson.JSONEncodeError):
        return None


class ArrayCache:
    """numpy arrays of lists in a host's state, by list identity.

    The fast path replaces state lists rather than mutating them, and says which array
    each new list holds, so the next batch needs no list-to-array conversion. A list is
    only ever matched by identity (the cache holds a reference, so an id is never
    reused while cached), and anything that mutates state lists in place must `clear`
    the cache: the sample-by-sample path does. After each batch, `keep_only` the lists
    the state still holds, so that replaced lists are not kept alive.
    """

    __slots__ = ("_m",)

    def __init__(self) -> None:
        self._m: dict[int, tuple[list[Any], npt.NDArray[Any]]] = {}

    def __call__(self, lst: list[Any]) -> npt.NDArray[Any]:
        hit = self._m.get(id(lst))
        if hit is None or hit[0] is not lst:
            hit = self._m[id(lst)] = (lst, np.array(lst))
        return hit[1]

    def remember(self, lst: list[Any], arr: npt.NDArray[Any]) -> None:
        self._m[id(lst)] = (lst, arr)

    def keep_only(self, lists: Iterable[list[Any]]) -> None:
        m = self._m
        kept = {}
        for lst in lists:
            hit = m.get(id(lst))
            if hit is not None and hit[0] is lst:
                kept[id(lst)] = hit
        self._m = kept

    def clear(self) -> None:
        self._m.clear()


class BatchShape:
    """What follows from a batch's names and labels alone; shared by every host whose
    agent sends batches of that shape."""

    __slots__ = ("bounded", "canon_names", "clabels", "div", "fast", "hi", "lo", "mul", "n",
                 "scaled", "series_keys", "sig", "watch_pos", "win_np", "win_pos")

    def __init__(self, sig: Signature | None, shapes: list[Shape]) -> None:
        self.sig = sig
        self.n = len(shapes)
        self.canon_names = [sh[0].name for sh in shapes]
        self.series_keys = [sh[1] for sh in shapes]
        self.clabels = [sh[2] for sh in shapes]
        self.win_pos = [i for i, sh in enumerate(shapes) if sh[3]]
        self.win_np: npt.NDArray[np.intp] = np.array(self.win_pos, dtype=np.intp)
        self.watch_pos = [i for i, sh in enumerate(shapes) if sh[4]]
        # a series twice in one batch folds sample by sample (the second sees the first)
        self.fast = self.n > 0 and len(set(self.series_keys)) == self.n
        scale = [sh[0].scale for sh in shapes]
        self.scaled = any(x != 1.0 for x in scale)
        # value * mul / div is the canonical value exactly: one factor is 1.0 (see
        # normalise.check_value: below 1 it divides by the integral inverse)
        self.mul = np.array([x if x > 1.0 else 1.0 for x in scale])
        self.div = np.array([float(round(1.0 / x)) if x < 1.0 else 1.0 for x in scale])
        self.lo = np.array([sh[0].lo for sh in shapes])
        self.hi = np.array([sh[0].hi for sh in shapes])
        self.bounded = bool(np.isfinite(self.lo).any() or np.isfinite(self.hi).any())


class Layout:
    """One host's memo: the shape of its batches, its topology labels, and where the
    batch's series sit in its state's columns."""

    __slots__ = ("arrays", "full", "idx", "klen", "kref", "raw_topo", "shape",
                 "topo", "wfull", "win_series", "wj", "wkref", "wlen")

    def __init__(self, shape: BatchShape) -> None:
        self.shape = shape
        self.raw_topo: dict[str, str] | None = None
        self.topo: dict[str, str] = {}
        # binding to the state's columns (see bind)
        self.kref: list[str] | None = None
        self.klen = -1
        self.idx: npt.NDArray[np.intp] | None = None
        self.full = False
        self.win_series: list[int] = []  # the windowed samples' series positions
        self.wkref: list[int] | None = None
        self.wlen = -1
        self.wj: npt.NDArray[np.intp] | None = None
        self.wfull = False
        self.arrays = ArrayCache()

    def matches(self, sig: Signature | None) -> bool:
        return sig is not None and sig == self.shape.sig

    def bind(self, keys: list[str]) -> bool:
        """Positions of the batch's series in the state's columns; False if some series
        is not there yet."""
        if keys is self.kref and len(keys) == self.klen:
            return True
        pos = _positions(keys, self.shape.series_keys)
        if pos is None:
            return False
        self.kref = keys
        self.klen = len(keys)
        self.full = pos == list(range(len(keys)))
        self.idx = None if self.full else np.array(pos, dtype=np.intp)
        self.win_series = [pos[i] for i in self.shape.win_pos]
        self.wkref = None
        return True

    def bind_windows(self, columns: list[int]) -> bool:
        """As `bind`, for the windowed series and the host's window columns (which hold
        series positions); after `bind`."""
        if columns is self.wkref and len(columns) == self.wlen:
            return True
        pos = _positions(columns, self.win_series)
        if pos is None:
            return False
        self.wkref = columns
        self.wlen = len(columns)
        self.wfull = pos == list(range(len(columns)))
        self.wj = None if self.wfull else np.array(pos, dtype=np.intp)
        return True


def _positions(keys: list[Any], wanted: list[Any]) -> list[int] | None:
    where = {k: i for i, k in enumerate(keys)}
    pos = [where.get(k, -1) for k in wanted]
    return None if -1 in pos else pos
