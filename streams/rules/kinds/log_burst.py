"""`kind: log_burst` -- a window's count against the group's own usual count.

    match: {severity: error}
    window: 5m
    baseline: 1h        # time constant of the baseline (an EWMA of the window count)
    factor: 5           # fires above factor x baseline ...
    min_count: 20       # ... and at least this many
    clear_factor: 2     # holds above clear_factor x baseline (and min_count / 2)
    warmup: 1h          # no alert before the host's logs were watched this long

A host that always logs much needs a bigger burst than a quiet one. The baseline
is carried in the window (streams.rules.logwindows); see logrules for the rest.
"""

from __future__ import annotations

from types import ModuleType

from streams.rules.fields import (
    Ctx,
    nonneg_duration,
    nonneg_number,
    pos_duration,
    pos_number,
)
from streams.rules.hostcall import HostCall
from streams.rules.kinds.base import ConditionKind, Evaluator
from streams.rules.kinds.logrules import LogWindow, window_fields
from streams.rules.logwindows import Ring
from streams.rules.model import Condition, LogBurstCond, Rule
from streams.rules.yamlsafe import LocatedMap

__all__ = ["KIND", "LogBurst"]

KEYS = frozenset({"match", "by", "window", "baseline", "factor", "min_count", "clear_factor",
                  "warmup"})


def parse(ctx: Ctx, m: LocatedMap, where: str) -> tuple[Condition | None, tuple[str, ...]]:
    match, by, window = window_fields(ctx, m, where)
    baseline = ctx.get(m, "baseline", where, pos_duration, 3_600_000)
    factor = ctx.get(m, "factor", where, pos_number, 5.0)
    min_count = ctx.get(m, "min_count", where, nonneg_number, 10.0)
    clear_factor = ctx.get(m, "clear_factor", where, pos_number, min(2.0, factor))
    warmup = ctx.get(m, "warmup", where, nonneg_duration, baseline)
    if clear_factor > factor:
        ctx.err(m.line_of("clear_factor"), where, "clear_factor must not exceed factor")
    if window and baseline < window:
        ctx.err(m.line_of("baseline"), where, "baseline must be at least the window")
    if not window:
        return None, ()
    return LogBurstCond(match, by, window, baseline, factor, min_count, clear_factor,
                        warmup), ()


class LogBurst(LogWindow):
    """The window's count against factor x the group's baseline."""

    __slots__ = ("burst_cond",)
    burst = True

    def __init__(self, rule: Rule, cond: LogBurstCond) -> None:
        super().__init__(rule, cond)
        self.burst_cond = cond

    def judge(self, call: HostCall, ring: Ring, n: int,
              at: int) -> tuple[bool, bool, float]:
        cond = self.burst_cond
        base = ring["b"]
        threshold = max(cond.min_count, cond.factor * base)
        first = call.state.get("lf", at)
        warm = at - first >= cond.warmup_ms
        fire_ok = warm and n >= cond.min_count and n > cond.factor * base
        hold_ok = n > 0 and n >= cond.min_count / 2 and n > cond.clear_factor * base
        return fire_ok, hold_ok, threshold

    def forgettable(self, ring: Ring) -> bool:
        """Only a grouped window whose baseline has decayed: an ungrouped one is the
        host's baseline itself, and a grouped one keeps it while it still counts."""
        return bool(self.burst_cond.by) and ring["b"] < 1e-3


def build(rule: Rule, detector: ModuleType | None) -> Evaluator:
    cond = rule.condition
    if not isinstance(cond, LogBurstCond):
        raise TypeError(f"not a log_burst rule: {rule.alert}")
    return LogBurst(rule, cond)


KIND = ConditionKind("log_burst", KEYS, parse, build, goes_stale=False)
