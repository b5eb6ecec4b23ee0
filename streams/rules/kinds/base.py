"""The protocol between the rule engine and a condition kind.

A kind is a `ConditionKind`: the keys it adds to a rule, its parser (YAML mapping ->
condition) and its builder (rule -> Evaluator). An Evaluator is one rule compiled for
evaluation; it holds no per-host data (one evaluator serves every host: what a kind
remembers lives in the host state, through HostCall.detector). The engine reaches it
at five seams, each a method that does nothing unless the kind defines it:

- hooks(): the metric selectors the rule reads; a point a hook's selector matches
  goes to hook.on_point(call, point);
- end_batch(call, scratch): after a metric batch's points, for rules that gathered
  several of them in call.batch[rule key] (sums, `all`);
- on_batch(call, now_ms): a metric batch of the host arrived (`reads_batches`);
- on_log(call, record, ts): a processed log record of the host (`reads_logs`);
- tick(call, now_ms): timer work (`tick_phase` not None).

Evaluators tick by phase, then in rule order: the phases keep the order in which a
tick's messages of equal time are sent (and a source alert raised in an earlier phase
already holds back a target of a later one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

from streams.rules.fields import Ctx
from streams.rules.hostcall import HostCall
from streams.rules.matchers import Selector
from streams.rules.model import Condition, Point, Rule
from streams.rules.yamlsafe import LocatedMap

__all__ = ["DETECTOR_EXPIRY", "HOST_ABSENCE", "LOG_WINDOWS", "SERIES_ABSENCE", "Build",
           "ConditionKind", "Evaluator", "Hook", "Parse"]

# tick phases, in the order they run
HOST_ABSENCE, SERIES_ABSENCE, LOG_WINDOWS, DETECTOR_EXPIRY = range(4)


class Hook:
    """One metric selector a rule reads, and the handler of the points it matches."""

    __slots__ = ("matchers", "on_point", "selector")

    def __init__(self, selector: Selector, on_point: Callable[[HostCall, Point], None]) -> None:
        self.selector = selector
        self.matchers = bool(selector.matchers)  # False: the name alone decides
        self.on_point = on_point


class Evaluator:
    """One rule's condition, compiled; a kind overrides the seams it takes part in."""

    __slots__ = ("key", "rule")

    reads_batches: ClassVar[bool] = False
    reads_logs: ClassVar[bool] = False
    tick_phase: ClassVar[int | None] = None

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.key = rule.key

    def hooks(self) -> tuple[Hook, ...]:
        """The selectors of the metrics this rule reads."""
        return ()

    def end_batch(self, call: HostCall, scratch: Any) -> None:
        """Evaluate what this rule gathered in call.batch[self.key] during a batch."""

    def on_batch(self, call: HostCall, now_ms: int) -> None:
        """A metric batch of the host arrived at pipeline time `now_ms`."""

    def on_log(self, call: HostCall, rec: dict[str, Any], ts: int) -> None:
        """One processed log record of the host, at event time `ts`."""

    def tick(self, call: HostCall, now_ms: int) -> None:
        """Timer work at `now_ms`."""


# (ctx, the rule's mapping, where) -> (condition or None if invalid, $values names)
Parse = Callable[[Ctx, LocatedMap, str], tuple[Condition | None, tuple[str, ...]]]
# (rule, the anomaly detector module or None) -> evaluator; RuleError if it refuses
Build = Callable[[Rule, ModuleType | None], Evaluator]


@dataclass(frozen=True, slots=True)
class ConditionKind:
    """A `kind:` of the rule language."""

    name: str
    keys: frozenset[str]  # the keys a rule of this kind may have besides the common ones
    parse: Parse
    build: Build
    goes_stale: bool = True  # False: a function of time itself (absence, log windows)
