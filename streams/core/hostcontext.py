"""What the correlator reads of a host: its recent log faults and its key series' history.

`note_fault` keeps the classified log faults of the last FAULT_MEMORY_MS in the host
state; `host_context` turns that state (windows, smoothing columns, faults) into the
plain dict the incident context is built from. Pure functions over `HostState`.
"""

from __future__ import annotations

from typing import Any

from streams.core import series, windows
from streams.core.hoststate import HostState

__all__ = ["FAULT_MEMORY_MS", "host_context", "note_fault"]

FAULT_MEMORY_MS = 600_000


def note_fault(state: HostState, fault_class: str, ts: int) -> None:
    """Remember a classified log fault for the host context (last ten minutes)."""
    faults = state.faults
    times = faults.setdefault(fault_class, [])
    times.append(ts)
    cutoff = ts - FAULT_MEMORY_MS
    for fc in list(faults):
        kept = [t for t in faults[fc] if t >= cutoff][-50:]
        if kept:
            faults[fc] = kept
        else:
            del faults[fc]


def host_context(state: HostState, now_ms: int | None = None) -> dict[str, Any]:
    """What the correlator needs to explain a fault: recent history of the key series.

    Per windowed series: "minutes", its closed windows oldest first as [start, min,
    max, avg, count] (plus a percentile where the windows keep one), and from its
    smoothing state "last", "ewma" and "recent" (the last few values, oldest first).
    "recent_faults" counts the host's log faults of the FAULT_MEMORY_MS before `now_ms`
    (the event being explained), as training counts them: counted back from the newest
    fault instead, an alert an hour after a fault would still see it as recent.
    """
    store = state.series
    out: dict[str, Any] = {}
    ws = state.windows
    if ws and store is not None:
        keys = store.keys
        for j, i in enumerate(ws["k"]):
            out[keys[i]] = {"minutes": windows.minutes(ws, j),
                            "last": store.last_values[-1][i], "ewma": store.ewma[i],
                            "recent": series.recent(store, i)}
    faults: dict[str, int] = {}
    for fc, times in state.faults.items():
        n = len(times) if now_ms is None else sum(
            1 for t in times if now_ms - FAULT_MEMORY_MS < t <= now_ms)
        if n:
            faults[fc] = n
    return {"series": out, "recent_faults": faults}
