"""The validated, immutable form of a rule file, and the Point the engine consumes.

Everything a rule needs at evaluation time is resolved here once (numbers,
durations, compiled selectors and templates), so the hot path only compares floats.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from streams.rules.matchers import Matcher, Selector
from streams.rules.templates import Template

__all__ = [
    "KINDS",
    "SEVERITIES",
    "AbsentCond",
    "AllCond",
    "AnomalyCond",
    "Compare",
    "Condition",
    "InhibitRule",
    "LogBurstCond",
    "LogCountCond",
    "LogMatch",
    "Operand",
    "Point",
    "RateCond",
    "Rule",
    "RuleError",
    "RuleSet",
    "ThresholdCond",
    "ZScoreCond",
]

SEVERITIES = ("critical", "warning", "info")
KINDS = ("threshold", "rate", "zscore", "anomaly", "absent", "all", "log_count", "log_burst")

# smoothing source of a Point value
RAW, EWMA, WMA = 0, 1, 2


class RuleError(ValueError):
    """Every problem found in a rule file, each as "file:line: where: what"."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in rules:\n  "
                         + "\n  ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Point:
    """One sample after normalisation and smoothing, as the metrics pipeline hands it over.

    Convention (the pipeline follows it): `ewma` is the EWMA *after* this sample was
    folded in (the smoothed value that is stored), `ewvar` is the EW variance *before*
    this sample was folded in -- the spread the new sample is judged against. With the
    time-constant EWMA (alpha = 1 - exp(-dt/tau), d = value - ewma_prev):
        point.ewvar = var_prev
        ewma = ewma_prev + alpha * d
        var  = (1 - alpha) * (var_prev + alpha * d * d)
    so |value - ewma| / sqrt(ewvar) = (1 - alpha) * |d| / sd_prev is unbounded for a
    spike (a post-update variance would cap it at sqrt((1 - alpha) / alpha)).
    A series' first sample has ewvar 0 (no spread known yet); z-score rules skip it.
    """

    name: str
    labels: Mapping[str, str]
    ts: int
    value: float
    ewma: float
    wma: float
    ewvar: float
    prev_value: float | None = None
    prev_ts: int | None = None


_OPS: dict[str, Callable[[float, float], bool]] = {
    "above": operator.gt, "at_least": operator.ge, "below": operator.lt, "at_most": operator.le,
}


@dataclass(frozen=True, slots=True)
class Compare:
    """A comparison with hysteresis: fires beyond `fire`, stays active while beyond `clear`.

    For above/at_least, `clear <= fire`; for below/at_most, `clear >= fire`. The same
    operator is used for both, so the alert resolves once the value is no longer
    beyond `clear` (e.g. above 0.80 clear 0.75: fires at 0.81, resolves at 0.75).
    """

    op: str
    fire: float
    clear: float
    fn: Callable[[float, float], bool] = field(repr=False, compare=False)

    @classmethod
    def make(cls, op: str, fire: float, clear: float | None = None) -> Compare:
        return cls(op, fire, fire if clear is None else clear, _OPS[op])

    @property
    def upward(self) -> bool:
        return self.op in ("above", "at_least")

    def fires(self, v: float) -> bool:
        return self.fn(v, self.fire)

    def holds(self, v: float) -> bool:
        return self.fn(v, self.clear)


@dataclass(frozen=True, slots=True)
class Operand:
    """One compared quantity: a metric, or the sum of several metrics of one series."""

    name: str
    selectors: tuple[Selector, ...]
    is_sum: bool
    source: int  # RAW | EWMA | WMA
    compare: Compare


@dataclass(frozen=True, slots=True)
class ThresholdCond:
    operand: Operand
    join: tuple[str, ...] | None  # only for sums: labels that pair the summed series


@dataclass(frozen=True, slots=True)
class RateCond:
    selector: Selector
    compare: Compare
    counter: bool  # a decrease is a counter reset, not a negative rate


@dataclass(frozen=True, slots=True)
class ZScoreCond:
    selector: Selector
    compare: Compare
    direction: str  # both | up | down
    min_std: float


@dataclass(frozen=True, slots=True)
class AnomalyCond:
    selector: Selector
    source: int
    compare: Compare
    params: Mapping[str, object]
    forget_ms: int


@dataclass(frozen=True, slots=True)
class AbsentCond:
    selector: Selector | None  # None: the host itself (no metric batch at all)
    duration_ms: int
    forget_ms: int


@dataclass(frozen=True, slots=True)
class AllCond:
    operands: tuple[Operand, ...]
    join: tuple[str, ...] | None  # None: join series with identical labels
    report: int  # which operand gives the alert's value and threshold


@dataclass(frozen=True, slots=True)
class LogMatch:
    fault_class: tuple[str, ...] | None  # globs, any of
    template_id: frozenset[str] | None
    max_severity_rank: int | None  # 0 emergency .. 7 debug; match rank <= this
    labels: tuple[Matcher, ...]
    fault_source: frozenset[str] | None = None  # catalogue | generic | novel, any of


@dataclass(frozen=True, slots=True)
class LogCountCond:
    match: LogMatch
    by: tuple[str, ...]
    window_ms: int
    compare: Compare


@dataclass(frozen=True, slots=True)
class LogBurstCond:
    match: LogMatch
    by: tuple[str, ...]
    window_ms: int
    baseline_ms: int
    factor: float
    min_count: float
    clear_factor: float
    warmup_ms: int


Condition = (ThresholdCond | RateCond | ZScoreCond | AnomalyCond | AbsentCond | AllCond
             | LogCountCond | LogBurstCond)


@dataclass(frozen=True, slots=True)
class Rule:
    """One alerting rule, validated; `key` identifies its state across reloads."""

    key: str
    alert: str
    kind: str
    group: str
    origin: str  # "file:line" of the rule, for messages
    severity: str
    labels: Mapping[str, str]  # static labels, severity included
    annotations: Mapping[str, Template]
    condition: Condition
    for_ms: int
    keep_firing_for_ms: int
    repeat_ms: int
    keep_resolved_ms: int
    resend_resolved_ms: int
    stale_ms: int
    value_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """Mute targets while a firing source with the same `equal` labels exists on the host."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]
    origin: str


@dataclass(frozen=True, slots=True)
class RuleSet:
    """An immutable, validated rule file; `digest` changes whenever its text does."""

    rules: tuple[Rule, ...]
    inhibit_rules: tuple[InhibitRule, ...]
    digest: str
    source: str
    groups: tuple[str, ...] = ()
    by_key: Mapping[str, Rule] = field(default_factory=lambda: MappingProxyType({}))

    def __len__(self) -> int:
        return len(self.rules)
