"""The lines a chart of one metric draws: each rule's threshold and clear level.

Read from the same rule set the worker evaluates (the value an alert fires beyond and
the value it must come back past to resolve), so the chart shows exactly what decides
an alert. A rule whose condition compares a single metric (threshold, or one operand of
an `all` rule) contributes its levels; a sum of metrics (read+write bytes) has no line
on either metric's own chart, and rate, anomaly and absence rules compare something
other than the plotted value, so they only shade their alert periods.
"""

from __future__ import annotations

from typing import Any

from streams.rules.matchers import Selector
from streams.rules.model import (
    EWMA,
    WMA,
    AbsentCond,
    AllCond,
    AnomalyCond,
    Operand,
    RateCond,
    RuleSet,
    ThresholdCond,
    ZScoreCond,
)

__all__ = ["metric_lines", "metrics_of_rule", "rules_for_metric"]

_SOURCE = {EWMA: "ewma", WMA: "wma"}


def _operand_line(rule_name: str, severity: str, op: Operand, metric: str
                  ) -> dict[str, Any] | None:
    if op.is_sum or not any(s.name_matches(metric) for s in op.selectors):
        return None
    c = op.compare
    return {"rule": rule_name, "severity": severity, "op": c.op, "threshold": c.fire,
            "clear": c.clear, "smoothing": _SOURCE.get(op.source, "raw")}


def metric_lines(rules: RuleSet, metric: str) -> list[dict[str, Any]]:
    """The threshold and clear levels of every rule that compares `metric` itself."""
    out = []
    for rule in rules.rules:
        cond = rule.condition
        operands: tuple[Operand, ...] = ()
        if isinstance(cond, ThresholdCond):
            operands = (cond.operand,)
        elif isinstance(cond, AllCond):
            operands = cond.operands
        for op in operands:
            line = _operand_line(rule.alert, rule.severity, op, metric)
            if line is not None:
                out.append(line)
    return out


def _selectors(cond: object) -> list[Selector]:
    """The metric selectors a condition reads (none for log rules and host absence)."""
    if isinstance(cond, ThresholdCond):
        return list(cond.operand.selectors)
    if isinstance(cond, AllCond):
        return [s for op in cond.operands for s in op.selectors]
    if isinstance(cond, RateCond | ZScoreCond | AnomalyCond):
        return [cond.selector]
    if isinstance(cond, AbsentCond) and cond.selector is not None:
        return [cond.selector]
    return []


def rules_for_metric(rules: RuleSet, metric: str) -> list[str]:
    """Names of the rules whose alerts are about `metric` (their periods shade its chart),
    and of host-absence rules, whose periods are gaps in every chart."""
    names: list[str] = []
    for rule in rules.rules:
        cond = rule.condition
        host_absent = isinstance(cond, AbsentCond) and cond.selector is None
        if (host_absent or any(s.name_matches(metric) for s in _selectors(cond))) \
                and rule.alert not in names:
            names.append(rule.alert)
    return names


def metrics_of_rule(rules: RuleSet, alert: str) -> list[str]:
    """The metric names a rule reads by exact name, in the order it names them."""
    out: list[str] = []
    for rule in rules.rules:
        if rule.alert == alert:
            out.extend(s.exact for s in _selectors(rule.condition)
                       if s.exact and s.exact not in out)
    return out
