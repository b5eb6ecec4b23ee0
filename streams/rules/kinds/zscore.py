"""`kind: zscore` -- how far a sample lies from its series' EWMA, in EW standard deviations.

    metric: cpu.usage
    direction: both     # both (|z|) | up | down
    min_std: 0.01       # floor of the spread, so a flat series' noise is not huge z
    above: 4
    clear: 2

The EWMA and EW variance come with the point (see Point: the variance is the one
before this sample, so a spike is judged against the spread that preceded it). No
spread yet (a series' first sample) is no data. The anomaly kind's fallback uses the
same score (ew_z).
"""

from __future__ import annotations

import math
from types import ModuleType

from streams.rules.fields import COMPARE_KEYS, Ctx, choice, metric_and_compare, nonneg_number
from streams.rules.hostcall import HostCall, series_key
from streams.rules.kinds.base import ConditionKind, Evaluator, Hook
from streams.rules.model import Condition, Point, Rule, ZScoreCond
from streams.rules.yamlsafe import LocatedMap

__all__ = ["KIND", "ZScore", "ew_z"]

KEYS = COMPARE_KEYS | {"metric", "direction", "min_std"}
DIRECTIONS = ("both", "up", "down")


def parse(ctx: Ctx, m: LocatedMap, where: str) -> tuple[Condition | None, tuple[str, ...]]:
    sel, cmp = metric_and_compare(ctx, m, where, upward_only=True)
    direction = ctx.get(m, "direction", where, choice(DIRECTIONS), "both")
    min_std = ctx.get(m, "min_std", where, nonneg_number, 0.0)
    return (ZScoreCond(sel, cmp, direction, min_std) if sel and cmp else None), ()


def ew_z(p: Point, direction: str, min_std: float) -> float | None:
    """The point's z-score in `direction`; None when there is no spread or it is not finite."""
    var = p.ewvar
    sd = math.sqrt(var) if var > 0 else 0.0
    if sd < min_std:
        sd = min_std
    if sd <= 0:
        return None
    z = (p.value - p.ewma) / sd
    if direction == "both":
        z = abs(z)
    elif direction == "down":
        z = -z
    return z if z - z == 0 else None


class ZScore(Evaluator):
    """The point's EW z-score against the rule's Compare."""

    __slots__ = ("clear", "direction", "fire", "fn", "min_std", "selector")

    def __init__(self, rule: Rule, cond: ZScoreCond) -> None:
        super().__init__(rule)
        self.selector = cond.selector
        self.direction = cond.direction
        self.min_std = cond.min_std
        self.fn = cond.compare.fn
        self.fire = cond.compare.fire
        self.clear = cond.compare.clear

    def hooks(self) -> tuple[Hook, ...]:
        return (Hook(self.selector, self.on_point),)

    def on_point(self, call: HostCall, p: Point) -> None:
        z = ew_z(p, self.direction, self.min_std)
        if z is None:
            return
        fire_ok = self.fn(z, self.fire)
        if not fire_ok and self.key not in call.alerts:
            return
        call.observe(self.rule, series_key(p.labels), p.labels, p.ts, fire_ok,
                     self.fn(z, self.clear), z, self.fire)


def build(rule: Rule, detector: ModuleType | None) -> Evaluator:
    cond = rule.condition
    if not isinstance(cond, ZScoreCond):
        raise TypeError(f"not a zscore rule: {rule.alert}")
    return ZScore(rule, cond)


KIND = ConditionKind("zscore", KEYS, parse, build)
