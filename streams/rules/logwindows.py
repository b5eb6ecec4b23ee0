"""Sliding counts of log records per host, and the baseline of an error-burst rule.

A window is a ring of SLOTS counters, each `window / SLOTS` wide, so the count
"in the last window" is exact to one slot and the state is a handful of ints,
whatever the log rate. For burst rules the ring also carries the host's own
baseline: an EWMA (time constant `baseline`) of the window count, updated as each
slot closes, including the empty ones, so a quiet host's baseline decays.
"""

from __future__ import annotations

import math
import re
from fnmatch import translate
from typing import Any

from streams.rules.matchers import Selector
from streams.rules.model import LogBurstCond, LogCountCond, LogMatch

__all__ = ["LOG_SEVERITY_RANK", "SLOTS", "LogMatcher", "Ring", "add", "advance", "count",
           "group_labels", "new_ring", "slot_ms"]

SLOTS = 6
# syslog severities and their usual spellings; `match.severity: error` keeps rank <= 3
LOG_SEVERITY_RANK = {
    "emergency": 0, "emerg": 0, "panic": 0, "alert": 1, "critical": 2, "crit": 2,
    "error": 3, "err": 3, "warning": 4, "warn": 4, "notice": 5, "info": 6,
    "informational": 6, "debug": 7,
}
Ring = dict[str, Any]  # {"s": current slot, "c": [counts], "b": baseline, "f": first slot}
_RECORD_FIELDS = frozenset({"fault_class", "fault_source", "template_id", "severity", "program",
                            "component", "source"})


def slot_ms(cond: LogCountCond | LogBurstCond) -> int:
    return max(1, cond.window_ms // SLOTS)


def new_ring(slot: int, burst: bool) -> Ring:
    ring: Ring = {"s": slot, "c": [0] * SLOTS}
    if burst:
        ring["b"] = 0.0
        ring["f"] = slot
    return ring


def count(ring: Ring) -> int:
    return sum(ring["c"])


def advance(ring: Ring, slot: int, cond: LogCountCond | LogBurstCond) -> None:
    """Move the ring forward to `slot`, closing (and folding into the baseline) each slot."""
    cur: int = ring["s"]
    if slot <= cur:
        return
    counts: list[int] = ring["c"]
    burst = isinstance(cond, LogBurstCond)
    alpha = 0.0
    if isinstance(cond, LogBurstCond):
        alpha = 1.0 - math.exp(-slot_ms(cond) / cond.baseline_ms)
    steps = slot - cur
    for s in range(cur + 1, cur + 1 + min(steps, SLOTS)):
        if burst:
            ring["b"] += alpha * (sum(counts) - ring["b"])
        counts[s % SLOTS] = 0
    if burst and steps > SLOTS:
        ring["b"] *= (1.0 - alpha) ** (steps - SLOTS)  # the remaining closes saw 0
    ring["s"] = slot


def add(ring: Ring, slot: int, cond: LogCountCond | LogBurstCond) -> bool:
    """Count one record in `slot`; False when it is older than the window (late)."""
    if slot > ring["s"]:
        advance(ring, slot, cond)
    elif slot <= ring["s"] - SLOTS:
        return False
    ring["c"][slot % SLOTS] += 1
    return True


class LogMatcher:
    """The compiled `match:` of a log rule; a record is a processed log-record dict."""

    __slots__ = ("fault_regex", "labels", "max_rank", "sources", "templates")

    def __init__(self, m: LogMatch) -> None:
        self.fault_regex = None
        if m.fault_class is not None:
            self.fault_regex = re.compile("|".join(f"(?:{translate(g)})" for g in m.fault_class))
        self.templates = m.template_id
        self.sources = m.fault_source
        self.max_rank = m.max_severity_rank
        self.labels = Selector("", "", None, None, m.labels) if m.labels else None

    def matches(self, rec: dict[str, Any], host: str) -> bool:
        if self.max_rank is not None:
            sev = rec.get("severity")
            rank = LOG_SEVERITY_RANK.get(sev.lower(), 99) if isinstance(sev, str) else 99
            if rank > self.max_rank:
                return False
        if self.fault_regex is not None:
            fc = rec.get("fault_class")
            if not isinstance(fc, str) or not fc or self.fault_regex.match(fc) is None:
                return False
        if self.sources is not None and _source(rec) not in self.sources:
            return False
        if self.templates is not None and rec.get("template_id") not in self.templates:
            return False
        if self.labels is not None:
            labels = rec.get("labels")
            return self.labels.labels_match(labels if isinstance(labels, dict) else {}, host, {})
        return True


def _source(rec: dict[str, Any]) -> str | None:
    """The record's fault_source; a fault from a worker that predates the field is the
    catalogue's (the only layer there was)."""
    src = rec.get("fault_source")
    if isinstance(src, str) and src:
        return src
    return "catalogue" if rec.get("fault_class") else None


def group_labels(rec: dict[str, Any], by: tuple[str, ...]) -> dict[str, str]:
    """The identifying labels of a record's group: record fields first, then its labels."""
    out: dict[str, str] = {}
    labels = rec.get("labels")
    for name in by:
        if name == "fault_source":
            v: Any = _source(rec)
        else:
            v = rec.get(name) if name in _RECORD_FIELDS else None
        if v is None and isinstance(labels, dict):
            v = labels.get(name)
        out[name] = "" if v is None else str(v)
    return out
