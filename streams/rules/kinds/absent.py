"""`kind: absent` -- no data for `duration`: of the host itself, or of one series.

    duration: 1m            # how long without data means absent
    metric: gpu.temperature # optional: per series of this metric (else: the host)
    forget_after: 6h        # a series gone this long is taken as removed: resolved

The host is absent when no metric batch arrived for `duration` of pipeline time (its
last evaluate() clock, "seen"); a host never seen is not absent. A series is absent
when its host goes on sending but it stopped; its tracker ({"t": last ts, "l":
labels}) lives in the host state. Absence fires at last + duration whatever the tick
cadence, its value is the time without data in seconds, and data resolves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from streams.rules.fields import Ctx, default_forget_ms, metric_selector, pos_duration
from streams.rules.hostcall import HostCall, series_key
from streams.rules.kinds.base import (
    HOST_ABSENCE,
    SERIES_ABSENCE,
    ConditionKind,
    Evaluator,
    Hook,
)
from streams.rules.matchers import Selector
from streams.rules.model import AbsentCond, Condition, Point, Rule
from streams.rules.yamlsafe import LocatedMap

__all__ = ["KIND", "HostAbsent", "SeriesAbsent"]

KEYS = frozenset({"metric", "duration", "forget_after"})


def parse(ctx: Ctx, m: LocatedMap, where: str) -> tuple[Condition | None, tuple[str, ...]]:
    sel = ctx.get(m, "metric", where, metric_selector, None)
    if "duration" not in m:
        ctx.err(m.line, where, "missing duration (how long without data means absent)")
    duration = ctx.get(m, "duration", where, pos_duration, 0)
    forget = ctx.get(m, "forget_after", where, pos_duration, default_forget_ms())
    if "forget_after" in m and sel is None and "metric" not in m:
        ctx.err(m.line_of("forget_after"), where, "forget_after needs metric")
    if duration and forget <= duration:
        ctx.err(m.line_of("forget_after"), where, "forget_after must exceed duration")
    return (AbsentCond(sel, duration, forget) if duration else None), ()


def _absent(call: HostCall, rule: Rule, key: str, labels: Mapping[str, str], last: int,
            duration: int, now_ms: int, duration_s: float) -> None:
    """Absent since last + duration, still absent at now_ms (value: seconds without data)."""
    rs = call.alerts.get(rule.key)
    entry = rs.get(key) if rs else None
    if entry is None or entry.get("c") is None:
        since = last + duration
        call.observe(rule, key, labels, since, True, True, duration / 1000.0, duration_s)
    call.observe(rule, key, labels, now_ms, True, True, (now_ms - last) / 1000.0, duration_s)


class HostAbsent(Evaluator):
    """No metric batch from the host for `duration`."""

    __slots__ = ("duration_ms", "duration_s")
    reads_batches = True
    tick_phase = HOST_ABSENCE

    def __init__(self, rule: Rule, cond: AbsentCond) -> None:
        super().__init__(rule)
        self.duration_ms = cond.duration_ms
        self.duration_s = cond.duration_ms / 1000.0  # the alert's threshold

    def on_batch(self, call: HostCall, now_ms: int) -> None:
        """The host is back: resolve its open absence."""
        rs = call.alerts.get(self.key)
        if rs:
            for key, entry in list(rs.items()):
                call.observe(self.rule, key, entry["l"], now_ms, False, False, 0.0,
                             self.duration_s)

    def tick(self, call: HostCall, now_ms: int) -> None:
        seen = call.state.get("seen")
        if seen is not None and now_ms - seen >= self.duration_ms:
            _absent(call, self.rule, "", {}, seen, self.duration_ms, now_ms, self.duration_s)


class SeriesAbsent(Evaluator):
    """A series of `metric` unseen for `duration` (and forgotten after forget_after)."""

    __slots__ = ("duration_ms", "duration_s", "forget_ms", "selector")
    tick_phase = SERIES_ABSENCE

    def __init__(self, rule: Rule, cond: AbsentCond, selector: Selector) -> None:
        super().__init__(rule)
        self.selector = selector
        self.duration_ms = cond.duration_ms
        self.forget_ms = cond.forget_ms
        self.duration_s = cond.duration_ms / 1000.0

    def hooks(self) -> tuple[Hook, ...]:
        return (Hook(self.selector, self.on_point),)

    def on_point(self, call: HostCall, p: Point) -> None:
        """Track the series' last sample; a sample of an absent series resolves it."""
        store = call.detector(self.rule)
        key = series_key(p.labels)
        tracker = store.get(key)
        if tracker is None:
            store[key] = {"t": p.ts, "l": dict(p.labels)}
        elif p.ts > tracker["t"]:
            tracker["t"] = p.ts
        rs = call.alerts.get(self.key)
        if rs is not None and key in rs:
            call.observe(self.rule, key, p.labels, p.ts, False, False, 0.0, self.duration_s)

    def tick(self, call: HostCall, now_ms: int) -> None:
        d = call.det.get(self.key)
        if not d:
            return
        store = d["s"]
        forget = self.forget_ms
        for key, tracker in list(store.items()):
            last = tracker["t"]
            if now_ms - last >= forget:
                rs = call.alerts.get(self.key)
                if rs and key in rs:  # gone for good: resolve when it was forgotten
                    call.observe(self.rule, key, tracker["l"], last + forget, False, False,
                                 forget / 1000.0, self.duration_s)
                del store[key]
            elif now_ms - last >= self.duration_ms:
                _absent(call, self.rule, key, tracker["l"], last, self.duration_ms, now_ms,
                        self.duration_s)


def build(rule: Rule, detector: ModuleType | None) -> Evaluator:
    cond = rule.condition
    if not isinstance(cond, AbsentCond):
        raise TypeError(f"not an absent rule: {rule.alert}")
    if cond.selector is None:
        return HostAbsent(rule, cond)
    return SeriesAbsent(rule, cond, cond.selector)


KIND = ConditionKind("absent", KEYS, parse, build, goes_stale=False)
