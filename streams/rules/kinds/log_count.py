"""`kind: log_count` -- matching log records in a sliding window against a threshold.

    match: {fault_class: 'gpu_xid_*'}
    by: [fault_class]
    window: 15m
    at_least: 1
    clear: 0

See streams.rules.kinds.logrules for match, by and the window.
"""

from __future__ import annotations

from types import ModuleType

from streams.rules.fields import COMPARE_KEYS, Ctx, compare
from streams.rules.hostcall import HostCall
from streams.rules.kinds.base import ConditionKind, Evaluator
from streams.rules.kinds.logrules import LogWindow, window_fields
from streams.rules.logwindows import Ring
from streams.rules.model import Compare, Condition, LogCountCond, Rule
from streams.rules.yamlsafe import LocatedMap

__all__ = ["KIND", "LogCount"]

KEYS = COMPARE_KEYS | {"match", "by", "window"}


def parse(ctx: Ctx, m: LocatedMap, where: str) -> tuple[Condition | None, tuple[str, ...]]:
    match, by, window = window_fields(ctx, m, where)
    cmp = compare(ctx, m, where)
    return (LogCountCond(match, by, window, cmp) if cmp and window else None), ()


class LogCount(LogWindow):
    """The window's count against the rule's Compare."""

    __slots__ = ("compare",)

    def __init__(self, rule: Rule, cond: LogCountCond) -> None:
        super().__init__(rule, cond)
        self.compare: Compare = cond.compare

    def judge(self, call: HostCall, ring: Ring, n: int,
              at: int) -> tuple[bool, bool, float]:
        cmp = self.compare
        return cmp.fires(n), cmp.holds(n), cmp.fire


def build(rule: Rule, detector: ModuleType | None) -> Evaluator:
    cond = rule.condition
    if not isinstance(cond, LogCountCond):
        raise TypeError(f"not a log_count rule: {rule.alert}")
    return LogCount(rule, cond)


KIND = ConditionKind("log_count", KEYS, parse, build, goes_stale=False)
