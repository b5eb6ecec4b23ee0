"""`kind: threshold` -- one metric (or a sum of metrics) against a fixed threshold.

    metric: gpu.temperature     # or  sum: [disk.read_bytes_per_s, disk.write_bytes_per_s]
    smoothing: ewma             # none (raw) | ewma | wma
    above: 85                   # or below / at_least / at_most
    clear: 80                   # hysteresis: stays firing while beyond clear
    join: [device]              # sums only: the labels that pair the summed series

A single metric is judged point by point; a sum is an operand joined across the
points of one batch (streams.rules.kinds.operands). A non-finite value is no data.
"""

from __future__ import annotations

from types import ModuleType

from streams.rules.fields import COMPARE_KEYS, Ctx, label_list
from streams.rules.hostcall import HostCall, series_key
from streams.rules.kinds.base import ConditionKind, Evaluator, Hook
from streams.rules.kinds.operands import Joined, operand
from streams.rules.model import EWMA, RAW, Condition, Point, Rule, ThresholdCond
from streams.rules.yamlsafe import LocatedMap

__all__ = ["KIND", "Threshold"]

KEYS = COMPARE_KEYS | {"metric", "sum", "smoothing", "join"}


def parse(ctx: Ctx, m: LocatedMap, where: str) -> tuple[Condition | None, tuple[str, ...]]:
    op = operand(ctx, m, where, "value")
    join = ctx.get(m, "join", where, label_list, None)
    if join is not None and "sum" not in m:
        ctx.err(m.line_of("join"), where, "join only applies to sum")
    return (ThresholdCond(op, join) if op else None), ()


class Threshold(Evaluator):
    """One metric's (smoothed) value against the rule's Compare."""

    __slots__ = ("clear", "fire", "fn", "selector", "source")

    def __init__(self, rule: Rule, cond: ThresholdCond) -> None:
        super().__init__(rule)
        op = cond.operand
        self.selector = op.selectors[0]
        self.source = op.source
        self.fn = op.compare.fn
        self.fire = op.compare.fire
        self.clear = op.compare.clear

    def hooks(self) -> tuple[Hook, ...]:
        return (Hook(self.selector, self.on_point),)

    def on_point(self, call: HostCall, p: Point) -> None:
        src = self.source
        v = p.value if src == RAW else p.ewma if src == EWMA else p.wma
        if v - v != 0:  # NaN or infinite
            return
        fire_ok = self.fn(v, self.fire)
        if not fire_ok and self.key not in call.alerts:
            return
        call.observe(self.rule, series_key(p.labels), p.labels, p.ts, fire_ok,
                     self.fn(v, self.clear), v, self.fire)


def build(rule: Rule, detector: ModuleType | None) -> Evaluator:
    cond = rule.condition
    if not isinstance(cond, ThresholdCond):
        raise TypeError(f"not a threshold rule: {rule.alert}")
    if cond.operand.is_sum:
        return Joined(rule, (cond.operand,), cond.join, report=0, named=False)
    return Threshold(rule, cond)


KIND = ConditionKind("threshold", KEYS, parse, build)
