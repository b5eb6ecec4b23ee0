"""`kind: rate` -- the per-second change of a metric between its last two samples.

    metric: gpu.retired_pages
    counter: true      # a decrease is a counter reset (no data), not a negative rate
    above: 0

The rate comes from the point itself (value and prev_value over ts - prev_ts), so a
rule needs no history of its own; a series' first sample has no rate.
"""

from __future__ import annotations

from types import ModuleType

from streams.rules.fields import COMPARE_KEYS, Ctx, boolean, metric_and_compare
from streams.rules.hostcall import HostCall, series_key
from streams.rules.kinds.base import ConditionKind, Evaluator, Hook
from streams.rules.model import Condition, Point, RateCond, Rule
from streams.rules.yamlsafe import LocatedMap

__all__ = ["KIND", "Rate"]

KEYS = COMPARE_KEYS | {"metric", "counter"}


def parse(ctx: Ctx, m: LocatedMap, where: str) -> tuple[Condition | None, tuple[str, ...]]:
    sel, cmp = metric_and_compare(ctx, m, where, upward_only=False)
    counter = ctx.get(m, "counter", where, boolean, False)
    return (RateCond(sel, cmp, counter) if sel and cmp else None), ()


class Rate(Evaluator):
    """(value - prev_value) per second against the rule's Compare."""

    __slots__ = ("clear", "counter", "fire", "fn", "selector")

    def __init__(self, rule: Rule, cond: RateCond) -> None:
        super().__init__(rule)
        self.selector = cond.selector
        self.counter = cond.counter
        self.fn = cond.compare.fn
        self.fire = cond.compare.fire
        self.clear = cond.compare.clear

    def hooks(self) -> tuple[Hook, ...]:
        return (Hook(self.selector, self.on_point),)

    def on_point(self, call: HostCall, p: Point) -> None:
        prev, prev_ts = p.prev_value, p.prev_ts
        if prev is None or prev_ts is None or p.ts <= prev_ts:
            return
        delta = p.value - prev
        if self.counter and delta < 0:
            return  # counter reset
        rate = delta * 1000.0 / (p.ts - prev_ts)
        if rate - rate != 0:
            return
        fire_ok = self.fn(rate, self.fire)
        if not fire_ok and self.key not in call.alerts:
            return
        call.observe(self.rule, series_key(p.labels), p.labels, p.ts, fire_ok,
                     self.fn(rate, self.clear), rate, self.fire)


def build(rule: Rule, detector: ModuleType | None) -> Evaluator:
    cond = rule.condition
    if not isinstance(cond, RateCond):
        raise TypeError(f"not a rate rule: {rule.alert}")
    return Rate(rule, cond)


KIND = ConditionKind("rate", KEYS, parse, build)
