"""Operands joined across the points of one metric batch: sums and `all` conditions.

An operand is one compared quantity: a metric, or the sum of several metrics of one
series (`sum: [a, b]`). A rule over operands (a threshold on a sum, or `all`) gathers
the batch's points per join key -- the series' labels, or only the `join` labels --
in call.batch, then judges each join key once the batch is done: it fires while every
operand fires and holds while every operand holds. A join key missing an operand (or
one metric of a sum) in the batch is no data, not a false condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.rules.fields import (
    COMPARE_KEYS,
    IDENT,
    SMOOTHING,
    Ctx,
    choice,
    compare,
    metric_selector,
)
from streams.rules.fields import string as str_value
from streams.rules.hostcall import HostCall, series_key
from streams.rules.kinds.base import Evaluator, Hook
from streams.rules.matchers import Selector
from streams.rules.model import EWMA, RAW, Operand, Point, Rule
from streams.rules.yamlsafe import LocatedMap

__all__ = ["OPERAND_KEYS", "Joined", "operand"]

OPERAND_KEYS = COMPARE_KEYS | {"name", "metric", "sum", "smoothing"}

# per join key: [labels, latest ts, value per operand, bit mask of the selectors seen]
Acc = list[Any]


def operand(ctx: Ctx, m: LocatedMap, where: str, default_name: str) -> Operand | None:
    """The operand a mapping describes: `metric` or `sum`, smoothing, name, threshold."""
    has_metric, has_sum = "metric" in m, "sum" in m
    if has_metric == has_sum:
        ctx.err(m.line, where, "give exactly one of metric (one series) or sum (a list of metrics)")
        return None
    selectors: tuple[Selector, ...] = ()
    if has_metric:
        sel = ctx.get(m, "metric", where, metric_selector, None)
        selectors = (sel,) if sel is not None else ()
    else:
        raw = m["sum"]
        if not isinstance(raw, list) or len(raw) < 2:
            ctx.err(m.line_of("sum"), where, "sum: expected a list of at least two metrics")
        else:
            parsed: list[Selector] = []
            for item in raw:
                try:
                    parsed.append(metric_selector(item))
                except ValueError as e:
                    ctx.err(m.line_of("sum"), where, f"sum: {e}")
            if len(parsed) == len(raw):
                selectors = tuple(parsed)
    source = SMOOTHING[ctx.get(m, "smoothing", where, choice(SMOOTHING), "none")]
    name = ctx.get(m, "name", where, str_value, default_name)
    if not IDENT.fullmatch(name):
        ctx.err(m.line_of("name"), where, f"name: {name!r} is not an identifier")
    cmp = compare(ctx, m, where)
    if not selectors or cmp is None:
        return None
    return Operand(name, selectors, has_sum, source, cmp)


class _Gather:
    """The hook of one selector of one operand: adds its points to the batch's scratch."""

    __slots__ = ("bit", "index", "is_sum", "join", "key", "n", "source")

    def __init__(self, rule: Rule, operands: tuple[Operand, ...], index: int, sel_index: int,
                 join: tuple[str, ...] | None) -> None:
        self.key = rule.key
        self.n = len(operands)
        self.index = index
        self.bit = 1 << sel_index
        self.is_sum = operands[index].is_sum
        self.source = operands[index].source
        self.join = join

    def on_point(self, call: HostCall, p: Point) -> None:
        src = self.source
        v = p.value if src == RAW else p.ewma if src == EWMA else p.wma
        if v - v != 0:
            return
        join = self.join
        if join is None:
            labels: Mapping[str, str] = p.labels
        else:
            labels = {name: p.labels[name] for name in join if name in p.labels}
        jkey = series_key(labels)
        batch = call.batch
        if batch is None:
            batch = call.batch = {}
        per_rule: dict[str, Acc] | None = batch.get(self.key)
        if per_rule is None:
            per_rule = batch[self.key] = {}
        acc = per_rule.get(jkey)
        n = self.n
        if acc is None:
            acc = per_rule[jkey] = [labels, p.ts, [0.0] * n, [0] * n]
        elif p.ts > acc[1]:
            acc[1] = p.ts
        i = self.index
        bit = self.bit
        if self.is_sum:
            if not acc[3][i] & bit:
                acc[2][i] += v
        else:
            acc[2][i] = v
        acc[3][i] |= bit


class Joined(Evaluator):
    """A rule over operands joined per batch (threshold on a sum, `all`)."""

    __slots__ = ("join", "named", "operands", "report")

    def __init__(self, rule: Rule, operands: tuple[Operand, ...], join: tuple[str, ...] | None,
                 *, report: int, named: bool) -> None:
        super().__init__(rule)
        self.operands = operands
        self.join = join
        self.report = report  # the operand that gives the alert's value and threshold
        self.named = named  # $values.NAME: every operand's value goes with the alert

    def hooks(self) -> tuple[Hook, ...]:
        return tuple(Hook(s, _Gather(self.rule, self.operands, i, j, self.join).on_point)
                     for i, op in enumerate(self.operands) for j, s in enumerate(op.selectors))

    def end_batch(self, call: HostCall, scratch: Any) -> None:
        per_rule: dict[str, Acc] = scratch
        operands, report, key = self.operands, self.report, self.key
        for jkey, (labels, ts, vals, masks) in per_rule.items():
            fire_ok = hold_ok = True
            complete = True
            for op, val, mask in zip(operands, vals, masks, strict=True):
                if mask != (1 << len(op.selectors)) - 1:
                    complete = False
                    break
                fire_ok = fire_ok and op.compare.fires(val)
                hold_ok = hold_ok and op.compare.holds(val)
            if not complete:
                continue  # a missing operand is no data, not a false condition
            if not fire_ok and key not in call.alerts:
                continue
            values = {op.name: v for op, v in zip(operands, vals, strict=True)} \
                if self.named else None
            call.observe(self.rule, jkey, labels, ts, fire_ok, hold_ok, vals[report],
                         operands[report].compare.fire, values)
