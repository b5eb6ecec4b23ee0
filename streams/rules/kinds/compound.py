"""`kind: all` -- several operands of one series (or of one `join` key) at once.

    conditions:
      - {name: busy, metric: disk.busy, above: 90%, clear: 80%}
      - {name: tput, sum: [disk.read_bytes_per_s, disk.write_bytes_per_s], below: 50M}
    join: [device]          # optional: pair series by these labels only
    report: tput            # the operand that gives $value and $threshold

Fires while every operand fires, holds while every operand holds (each with its own
hysteresis); every operand's value is available as $values.NAME. Evaluated per batch
by streams.rules.kinds.operands.
"""

from __future__ import annotations

from types import ModuleType

from streams.rules.fields import Ctx, label_list, string
from streams.rules.kinds.base import ConditionKind, Evaluator
from streams.rules.kinds.operands import OPERAND_KEYS, Joined, operand
from streams.rules.model import AllCond, Condition, Operand, Rule
from streams.rules.yamlsafe import LocatedList, LocatedMap

__all__ = ["KIND"]

KEYS = frozenset({"conditions", "join", "report"})


def _operands(ctx: Ctx, raw: LocatedList, where: str) -> tuple[list[Operand], bool]:
    """Each item of `conditions`; False when some item is invalid."""
    operands: list[Operand] = []
    ok = True
    for i, item in enumerate(raw):
        w = f"{where}.conditions[{i}]"
        if not isinstance(item, LocatedMap):
            ctx.err(raw.line_of(i), w, "expected a mapping")
            ok = False
            continue
        ctx.closed_keys(item, OPERAND_KEYS, w)
        op = operand(ctx, item, w, f"c{i}")
        if op is None:
            ok = False
        else:
            operands.append(op)
    return operands, ok


def parse(ctx: Ctx, m: LocatedMap, where: str) -> tuple[Condition | None, tuple[str, ...]]:
    raw = m.get("conditions")
    if not isinstance(raw, LocatedList) or len(raw) < 2:
        ctx.err(m.line_of("conditions"), where,
                "conditions: expected a list of at least two conditions")
        return None, ()
    operands, ok = _operands(ctx, raw, where)
    names = [o.name for o in operands]
    if len(set(names)) != len(names):
        ctx.err(m.line_of("conditions"), where, f"condition names repeat: {names}")
        ok = False
    join = ctx.get(m, "join", where, label_list, None)
    report_name = ctx.get(m, "report", where, string, names[0] if names else "")
    if ok and report_name not in names:
        ctx.err(m.line_of("report"), where, f"report: no condition named {report_name!r} "
                f"(names: {', '.join(names)})")
        ok = False
    if not ok:
        return None, tuple(names)
    return AllCond(tuple(operands), join, names.index(report_name)), tuple(names)


def build(rule: Rule, detector: ModuleType | None) -> Evaluator:
    cond = rule.condition
    if not isinstance(cond, AllCond):
        raise TypeError(f"not an `all` rule: {rule.alert}")
    return Joined(rule, cond.operands, cond.join, report=cond.report, named=True)


KIND = ConditionKind("all", KEYS, parse, build)
