"""What the log kinds (log_count, log_burst) share: `match`, `by`, `window`, and the
sliding window each group of matching records is counted in.

    match: {fault_class: 'gpu_xid_*', severity: error, template_id: [..],
            fault_source: [catalogue, generic, novel], labels: 'gpu="3"'}
    by: [fault_class]     # one window (one alert) per group; record fields, then labels
    window: 10m

The windows (streams.rules.logwindows) live in the host state, one per group. A
record moves its window forward; so does a tick, at slot boundaries, so a count that
drops, drops on time whether a tick or the next record comes first. An empty window
of no open alert is forgotten.
"""

from __future__ import annotations

from typing import Any, ClassVar

from streams.rules.fields import Ctx, choice, label_list, matcher_list, pos_duration
from streams.rules.hostcall import HostCall, series_key
from streams.rules.kinds.base import LOG_WINDOWS, Evaluator
from streams.rules.logwindows import (
    LOG_SEVERITY_RANK,
    SLOTS,
    LogMatcher,
    Ring,
    add,
    advance,
    count,
    group_labels,
    new_ring,
    slot_ms,
)
from streams.rules.model import LogBurstCond, LogCountCond, LogMatch, Rule
from streams.rules.yamlsafe import LocatedMap

__all__ = ["MATCH_KEYS", "LogWindow", "window_fields"]

MATCH_KEYS = frozenset({"fault_class", "fault_source", "template_id", "severity", "labels"})
FAULT_SOURCES = ("catalogue", "generic", "novel")  # log_record/v1 fault_source
LOG_SEVERITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "info",
                  "debug")


def _str_list(v: Any) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise ValueError(f"expected a string or a list of strings, got {v!r}")
    return tuple(items)


def _sources(v: Any) -> frozenset[str]:
    items = _str_list(v)
    bad = [x for x in items if x not in FAULT_SOURCES]
    if bad:
        raise ValueError(f"fault_source must be among {list(FAULT_SOURCES)}, got {bad}")
    return frozenset(items)


def _match(ctx: Ctx, rule: LocatedMap, where: str) -> LogMatch:
    raw = rule.get("match", LocatedMap())
    if not isinstance(raw, LocatedMap):
        ctx.err(rule.line_of("match"), where, "match: expected a mapping")
        return LogMatch(None, None, None, ())
    if not hasattr(raw, "line"):
        raw.line, raw.key_lines = rule.line, {}
    w = f"{where}.match"
    ctx.closed_keys(raw, MATCH_KEYS, w)
    fault = ctx.get(raw, "fault_class", w, _str_list, None)
    source = ctx.get(raw, "fault_source", w, _sources, None)
    templates = ctx.get(raw, "template_id", w, _str_list, None)
    sev = ctx.get(raw, "severity", w, choice(LOG_SEVERITIES), None)
    labels = ctx.get(raw, "labels", w, matcher_list, ())
    return LogMatch(fault, frozenset(templates) if templates is not None else None,
                    LOG_SEVERITY_RANK[sev] if sev is not None else None, labels, source)


def window_fields(ctx: Ctx, m: LocatedMap,
                  where: str) -> tuple[LogMatch, tuple[str, ...], int]:
    """match, by and window (0 when missing or invalid)."""
    match = _match(ctx, m, where)
    by = ctx.get(m, "by", where, label_list, ())
    if "window" not in m:
        ctx.err(m.line, where, "missing window")
    window = ctx.get(m, "window", where, pos_duration, 0)
    return match, by, window


class LogWindow(Evaluator):
    """Counts a rule's matching records per group; a subclass judges the count."""

    __slots__ = ("cond", "matcher")
    reads_logs = True
    tick_phase = LOG_WINDOWS
    burst: ClassVar[bool] = False  # the window also carries the group's baseline

    def __init__(self, rule: Rule, cond: LogCountCond | LogBurstCond) -> None:
        super().__init__(rule)
        self.cond = cond
        self.matcher = LogMatcher(cond.match)

    def judge(self, call: HostCall, ring: Ring, n: int,
              at: int) -> tuple[bool, bool, float]:
        """(fires, holds, threshold) for `n` records in the window at `at`."""
        raise NotImplementedError

    def forgettable(self, ring: Ring) -> bool:
        """May an empty window of no open alert be dropped? (A burst baseline may not.)"""
        return True

    def on_log(self, call: HostCall, rec: dict[str, Any], ts: int) -> None:
        if not self.matcher.matches(rec, call.host):
            return
        cond = self.cond
        labels = group_labels(rec, cond.by) if cond.by else {}
        gkey = series_key(labels)
        store = call.detector(self.rule)
        slot = ts // slot_ms(cond)
        ring = store.get(gkey)
        if ring is None:
            ring = store[gkey] = new_ring(slot, self.burst)
            ring["l"] = labels
        elif slot > ring["s"]:
            self._slide(call, ring, gkey, slot)
        if add(ring, slot, cond):
            self._observe(call, ring, gkey, ts)

    def _observe(self, call: HostCall, ring: Ring, gkey: str, at: int) -> None:
        n = count(ring)
        fire_ok, hold_ok, threshold = self.judge(call, ring, n, at)
        if not fire_ok and self.key not in call.alerts:
            return
        call.observe(self.rule, gkey, ring["l"], at, fire_ok, hold_ok, float(n), threshold)

    def _slide(self, call: HostCall, ring: Ring, gkey: str, target: int) -> None:
        """Move a window forward to slot `target`, observing the condition at each slot
        boundary while the window still changes: a count that drops, drops on time,
        whether a tick or the next record comes first."""
        cond = self.cond
        width = slot_ms(cond)
        cur = ring["s"]
        for s in range(cur + 1, min(target, cur + SLOTS + 1) + 1):
            advance(ring, s, cond)
            self._observe(call, ring, gkey, s * width)
        if target > ring["s"]:
            advance(ring, target, cond)

    def tick(self, call: HostCall, now_ms: int) -> None:
        d = call.det.get(self.key)
        if not d:
            return
        store = d["s"]
        target = now_ms // slot_ms(self.cond)
        for gkey, ring in list(store.items()):
            if target > ring["s"]:
                self._slide(call, ring, gkey, target)
            rs = call.alerts.get(self.key)
            entry = rs.get(gkey) if rs else None
            if count(ring) == 0 and (entry is None or entry.get("c") is None) and \
                    self.forgettable(ring):
                del store[gkey]  # an empty window of no open alert: forget the group
