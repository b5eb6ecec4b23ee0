"""`kind: anomaly` -- the anomaly detector's score of a metric (streams.anomaly).

    metric: gpu.temperature
    smoothing: none     # the value fed to the detector: none | ewma | wma
    params: {...}       # the detector's AnomalyParams, checked when the rules load
    forget_after: 6h    # a series unseen this long loses its detector state
    above: 0.5
    clear: 0.3

The detector's per-series state lives in the host state ({"t": last ts, "d": state});
a late sample does not move it back in time. Without the detector installed, the
score is the point's EW z-score on the detector's scale (anomaly_bridge.fallback_score)
and no state is kept.
"""

from __future__ import annotations

from types import MappingProxyType, ModuleType

from streams.rules import anomaly_bridge
from streams.rules.anomaly_bridge import fallback_score
from streams.rules.fields import (
    COMPARE_KEYS,
    SMOOTHING,
    Ctx,
    choice,
    default_forget_ms,
    metric_and_compare,
    pos_duration,
)
from streams.rules.hostcall import HostCall, series_key
from streams.rules.kinds.base import DETECTOR_EXPIRY, ConditionKind, Evaluator, Hook
from streams.rules.kinds.zscore import ew_z
from streams.rules.model import EWMA, RAW, AnomalyCond, Condition, Point, Rule, RuleError
from streams.rules.yamlsafe import LocatedMap

__all__ = ["KIND", "Anomaly"]

KEYS = COMPARE_KEYS | {"metric", "smoothing", "params", "forget_after"}


def _params(ctx: Ctx, rule: LocatedMap, where: str) -> dict[str, object]:
    """The detector parameters: scalars, checked by the detector if it is installed."""
    raw = rule.get("params", None)
    if raw is None:
        return {}
    if not isinstance(raw, LocatedMap):
        ctx.err(rule.line_of("params"), where, "params: expected a mapping")
        return {}
    params: dict[str, object] = {}
    for k, v in raw.items():
        if not isinstance(k, str) or not isinstance(v, str | int | float | bool):
            ctx.err(raw.line_of(k), where, f"params.{k}: expected a scalar value, got {v!r}")
        else:
            params[k] = v
    module = anomaly_bridge.load()
    if module is None:
        return params  # validated when the engine builds its detectors
    try:
        module.AnomalyParams(**params)
    except (TypeError, ValueError) as e:
        ctx.err(rule.line_of("params"), where, f"params: {e}")
    return params


def parse(ctx: Ctx, m: LocatedMap, where: str) -> tuple[Condition | None, tuple[str, ...]]:
    sel, cmp = metric_and_compare(ctx, m, where, upward_only=True)
    source = SMOOTHING[ctx.get(m, "smoothing", where, choice(SMOOTHING), "none")]
    params = _params(ctx, m, where)
    forget = ctx.get(m, "forget_after", where, pos_duration, default_forget_ms())
    return (AnomalyCond(sel, source, cmp, MappingProxyType(params), forget)
            if sel and cmp else None), ()


class Anomaly(Evaluator):
    """The detector's score (or the fallback's) against the rule's Compare."""

    __slots__ = ("clear", "fire", "fn", "forget_ms", "module", "params", "selector", "source")
    tick_phase = DETECTOR_EXPIRY

    def __init__(self, rule: Rule, cond: AnomalyCond, module: ModuleType | None,
                 params: object) -> None:
        super().__init__(rule)
        self.selector = cond.selector
        self.source = cond.source
        self.forget_ms = cond.forget_ms
        self.module = module
        self.params = params  # the detector's AnomalyParams (None without a detector)
        self.fn = cond.compare.fn
        self.fire = cond.compare.fire
        self.clear = cond.compare.clear

    def hooks(self) -> tuple[Hook, ...]:
        return (Hook(self.selector, self.on_point),)

    def on_point(self, call: HostCall, p: Point) -> None:
        module = self.module
        key = series_key(p.labels)
        if module is None:
            z = ew_z(p, "both", 0.0)
            if z is None:
                return
            score = fallback_score(z)
        else:
            src = self.source
            v = p.value if src == RAW else p.ewma if src == EWMA else p.wma
            if v - v != 0:
                return
            store = call.detector(self.rule)
            slot = store.get(key)
            if slot is None:
                slot = store[key] = {"t": p.ts, "d": module.new_state(self.params)}
            elif p.ts < slot["t"]:
                return  # late sample: the detector only moves forward in time
            slot["t"] = p.ts
            score = float(module.update(slot["d"], p.ts, v, self.params))
            if score - score != 0:
                return
        fire_ok = self.fn(score, self.fire)
        if not fire_ok and self.key not in call.alerts:
            return
        call.observe(self.rule, key, p.labels, p.ts, fire_ok, self.fn(score, self.clear), score,
                     self.fire)

    def tick(self, call: HostCall, now_ms: int) -> None:
        """Forget the detector state of series unseen for forget_after."""
        store = call.det.get(self.key)
        if store:
            horizon = now_ms - self.forget_ms
            series = store["s"]
            for key in [k for k, s in series.items() if s["t"] <= horizon]:
                del series[key]


def build(rule: Rule, detector: ModuleType | None) -> Evaluator:
    """RuleError when the installed detector refuses the rule's params."""
    cond = rule.condition
    if not isinstance(cond, AnomalyCond):
        raise TypeError(f"not an anomaly rule: {rule.alert}")
    params: object = None
    if detector is not None:
        try:
            params = detector.AnomalyParams(**cond.params)
        except (TypeError, ValueError) as e:
            raise RuleError([f"{rule.origin}: rule {rule.alert!r}: params: {e}"]) from None
    return Anomaly(rule, cond, detector, params)


KIND = ConditionKind("anomaly", KEYS, parse, build)
