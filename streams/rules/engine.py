"""The rule engine: per-host evaluation of metric points, log records and the clock.

One engine serves every host: it holds only the compiled rules. Per-host state is a
plain JSON-serialisable dict owned by the caller (a changelogged table keyed by host)
and mutated in place:

    {"v": 1, "rs": rule-set digest, "seen": last evaluate() clock, "lf": first log ts,
     "a": {rule key: {series key: alert entry}},      -- see streams.rules.lifecycle
     "rc": {rule key: {"n": alertname, "s": severity, "l": rule labels}},  -- per rule in "a"
     "d": {rule key: {"k": kind, "s": {series key: detector / tracker / log window}}}}

Only series with an open or recently resolved alert have an alert entry; detector
state exists only for rules that need history (anomaly, absence of a metric, log
windows) and expires when unused. The hot path -- a point that matches no rule, or
whose condition is false while nothing is open -- allocates nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from streams.rules import anomaly_bridge, lifecycle
from streams.rules.anomaly_bridge import fallback_score
from streams.rules.lifecycle import housekeep, is_empty, observe
from streams.rules.logwindows import (
    SLOTS,
    LogMatcher,
    add,
    advance,
    count,
    group_labels,
    new_ring,
    slot_ms,
)
from streams.rules.matchers import Matcher, Selector
from streams.rules.messages import alert_labels, build_message, fingerprint
from streams.rules.model import (
    EWMA,
    RAW,
    AbsentCond,
    AllCond,
    AnomalyCond,
    Compare,
    LogBurstCond,
    LogCountCond,
    Operand,
    Point,
    RateCond,
    Rule,
    RuleError,
    RuleSet,
    ThresholdCond,
    ZScoreCond,
)

__all__ = ["STATE_VERSION", "RuleEngine", "series_key"]

log = logging.getLogger(__name__)

STATE_VERSION = 1
_NAME_CACHE_MAX = 50_000

# hook kinds
_THRESH, _RATE, _ZSCORE, _ANOMALY, _ABSENT, _JOIN = range(6)

Entry = dict[str, Any]


def series_key(labels: Mapping[str, str]) -> str:
    """A compact, order-independent key for a label set ("" for none)."""
    if not labels:
        return ""
    if len(labels) == 1:
        for k, v in labels.items():
            return f"{k}={v}"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


class _Hook:
    """One (rule, selector) pair reached from a metric name; fields copied for speed."""

    __slots__ = ("clear", "cond", "fire", "fn", "key", "kind", "matchers", "op_index", "params",
                 "rule", "sel_index", "selector", "source")

    def __init__(self, rule: Rule, kind: int, selector: Selector, source: int = RAW,
                 op_index: int = 0, sel_index: int = 0) -> None:
        self.rule = rule
        self.key = rule.key
        self.kind = kind
        self.selector = selector
        self.matchers = bool(selector.matchers)
        self.source = source
        self.op_index = op_index
        self.sel_index = sel_index
        self.cond = rule.condition
        cmp: Compare | None = getattr(rule.condition, "compare", None)
        if isinstance(rule.condition, ThresholdCond):
            cmp = rule.condition.operand.compare
        if cmp is None:  # absence and join hooks compare elsewhere
            cmp = Compare.make("above", 0.0)
        self.fn: Callable[[float, float], bool] = cmp.fn
        self.fire = cmp.fire
        self.clear = cmp.clear
        self.params: object = None  # the anomaly detector's parameters (anomaly hooks)


def _hooks(rule: Rule) -> list[_Hook]:
    cond = rule.condition
    if isinstance(cond, ThresholdCond):
        op = cond.operand
        if not op.is_sum:
            return [_Hook(rule, _THRESH, op.selectors[0], op.source)]
        return [_Hook(rule, _JOIN, s, op.source, 0, j) for j, s in enumerate(op.selectors)]
    if isinstance(cond, RateCond):
        return [_Hook(rule, _RATE, cond.selector)]
    if isinstance(cond, ZScoreCond):
        return [_Hook(rule, _ZSCORE, cond.selector)]
    if isinstance(cond, AnomalyCond):
        return [_Hook(rule, _ANOMALY, cond.selector, cond.source)]
    if isinstance(cond, AbsentCond):
        return [_Hook(rule, _ABSENT, cond.selector)] if cond.selector is not None else []
    if isinstance(cond, AllCond):
        return [_Hook(rule, _JOIN, s, op.source, i, j)
                for i, op in enumerate(cond.operands) for j, s in enumerate(op.selectors)]
    return []


def _join_operands(rule: Rule) -> tuple[tuple[Operand, ...], tuple[str, ...] | None]:
    cond = rule.condition
    if isinstance(cond, AllCond):
        return cond.operands, cond.join
    assert isinstance(cond, ThresholdCond)
    return (cond.operand,), cond.join


def _static_may_match(rule: Rule, matchers: tuple[Matcher, ...]) -> bool:
    """False when the rule's own name/labels already contradict a matcher."""
    for m in matchers:
        if m.label == "alertname":
            value = rule.alert
        elif m.label in rule.labels:
            value = rule.labels[m.label]
        else:
            continue
        if not m.test(value):
            return False
    return True


class _Call:
    """The context of one evaluate/tick call: the host, its state and the messages out."""

    __slots__ = ("alerts", "det", "engine", "host", "host_labels", "out", "state")

    def __init__(self, engine: RuleEngine, state: dict[str, Any], host: str,
                 host_labels: Mapping[str, str], now_ms: int) -> None:
        self.engine = engine
        self.state = state
        self.host = host
        self.host_labels = host_labels
        self.out: list[dict[str, Any]] = []
        if state.get("v") != STATE_VERSION:
            if state:
                log.warning("rule state of host %s has version %r, not %d: starting afresh",
                            host, state.get("v"), STATE_VERSION)
            state.clear()
            state["v"] = STATE_VERSION
            state["a"] = {}
            state["d"] = {}
        self.alerts: dict[str, dict[str, Entry]] = state["a"]
        self.det: dict[str, dict[str, Any]] = state["d"]
        if state.get("rs") != engine.rules.digest:
            engine._reconcile(self, now_ms)
            state["rs"] = engine.rules.digest

    def result(self) -> list[dict[str, Any]]:
        """The messages in event-time order (stable: one entry's changes keep their order)."""
        out = self.out
        if len(out) > 1:
            out.sort(key=_updated_at)
        return out

    def emit(self, rule: Rule, entry: Entry, status: str, at: int) -> bool:
        labels = alert_labels(rule, self.host, self.host_labels, entry["l"])
        if status in ("firing", "refire"):
            if self.engine._inhibited(self, rule, entry, labels):
                return False
            c = entry["c"]
            updated = at if status == "firing" else c["an"]
            msg = build_message(rule, self.host, labels, entry["fp"], "firing", c["v"], c["t"],
                                c["fa"], None, updated, c.get("vs"))
        else:
            r = entry["r"]
            msg = build_message(rule, self.host, labels, entry["fp"], "resolved", r["v"],
                                r["t"], r["fa"], r["ea"], r["ea"], r.get("vs"))
        self.out.append(msg)
        return True

    def observe(self, rule: Rule, key: str, labels: Mapping[str, str], at: int,
                fire_ok: bool, hold_ok: bool, value: float | None, threshold: float | None,
                values: dict[str, float] | None = None) -> None:
        """Feed an observation to the entry of (rule, series), creating it only when firing."""
        rs = self.alerts.get(rule.key)
        entry = rs.get(key) if rs is not None else None
        if entry is None:
            if not fire_ok:
                return
            if rs is None:
                rs = self.open_rule(rule)
            ident = dict(labels)
            entry = rs[key] = {"l": ident, "fp": fingerprint(rule, self.host, ident)}
        observe(rule, entry, at, fire_ok, hold_ok, value, threshold, self.emit, values)
        if is_empty(entry):
            assert rs is not None
            del rs[key]
            if not rs:
                self.drop_rule(rule.key)

    def open_rule(self, rule: Rule) -> dict[str, Entry]:
        """The alert entries of a rule on this host, with a card that lets a later
        worker resolve them even if the rule is gone from its rule file by then."""
        rs: dict[str, Entry] = {}
        self.alerts[rule.key] = rs
        self.state.setdefault("rc", {})[rule.key] = {
            "n": rule.alert, "s": rule.severity, "l": dict(rule.labels)}
        return rs

    def drop_rule(self, key: str) -> None:
        self.alerts.pop(key, None)
        cards = self.state.get("rc")
        if cards is not None:
            cards.pop(key, None)

    def detector(self, rule: Rule) -> dict[str, Any]:
        """The per-series store of a rule's history ({series key: ...})."""
        d = self.det.get(rule.key)
        if d is None or d.get("k") != rule.kind:
            d = self.det[rule.key] = {"k": rule.kind, "s": {}}
        store: dict[str, Any] = d["s"]
        return store


class RuleEngine:
    """Evaluates a RuleSet against one host's data at a time (see module docstring)."""

    def __init__(self, rules: RuleSet) -> None:
        self._anomaly = anomaly_bridge.load()
        if self._anomaly is None:
            log.info("streams.anomaly not available: anomaly rules use the EW z-score "
                     "fallback (see streams.rules.anomaly_bridge)")
        self._retired: dict[str, Rule] = {}
        self.rules: RuleSet
        self._install(rules)

    # ------------------------------------------------------------------ rules
    def replace_rules(self, rules: RuleSet) -> None:
        """Hot reload. State is keyed by rule (name + labels), so unchanged rules keep
        their alerts; alerts of removed rules resolve when their host is next seen."""
        old = self.rules
        self._install(rules)
        for rule in old.rules:
            if rule.key not in rules.by_key:
                self._retired[rule.key] = rule
        for key in rules.by_key:
            self._retired.pop(key, None)

    def _anomaly_params(self, rules: RuleSet) -> dict[str, object]:
        """Detector parameters per anomaly rule; RuleError if the detector refuses some."""
        params: dict[str, object] = {}
        if self._anomaly is None:
            return params
        problems = []
        for r in rules.rules:
            if isinstance(r.condition, AnomalyCond):
                try:
                    params[r.key] = self._anomaly.AnomalyParams(**r.condition.params)
                except (TypeError, ValueError) as e:
                    problems.append(f"{r.origin}: rule {r.alert!r}: params: {e}")
        if problems:
            raise RuleError(problems)
        return params

    def _install(self, rules: RuleSet) -> None:
        params = self._anomaly_params(rules)  # first: a refused rule set changes nothing
        exact: dict[str, list[_Hook]] = {}
        globs: list[_Hook] = []
        for rule in rules.rules:
            for hook in _hooks(rule):
                hook.params = params.get(rule.key)
                if hook.selector.exact is not None:
                    exact.setdefault(hook.selector.exact, []).append(hook)
                else:
                    globs.append(hook)
        self._exact = exact
        self._globs = globs
        self._name_cache: dict[str, tuple[_Hook, ...]] = {}
        self._host_absent = tuple(r for r in rules.rules if isinstance(r.condition, AbsentCond)
                                  and r.condition.selector is None)
        self._series_absent = tuple(r for r in rules.rules
                                    if isinstance(r.condition, AbsentCond)
                                    and r.condition.selector is not None)
        self._anomaly_rules = tuple(r for r in rules.rules
                                    if isinstance(r.condition, AnomalyCond))
        self._log_rules = tuple((r, LogMatcher(r.condition.match), r.condition)
                                for r in rules.rules
                                if isinstance(r.condition, LogCountCond | LogBurstCond))
        self._join_rules = {r.key: _join_operands(r) for r in rules.rules
                            if isinstance(r.condition, AllCond)
                            or (isinstance(r.condition, ThresholdCond)
                                and r.condition.operand.is_sum)}
        self._params = params
        inhibit = rules.inhibit_rules
        self._inhibit_sources = tuple(
            tuple(r.key for r in rules.rules if _static_may_match(r, ir.source))
            for ir in inhibit)
        targets: dict[str, tuple[int, ...]] = {}
        for r in rules.rules:
            idx = tuple(i for i, ir in enumerate(inhibit) if _static_may_match(r, ir.target))
            if idx:
                targets[r.key] = idx
        self._inhibit_targets = targets
        self.rules = rules

    def watches(self, name: str) -> bool:
        """Does any rule look at metric `name`? (The pipeline skips building points for
        metrics no rule reads.)"""
        hooks = self._name_cache.get(name)
        if hooks is None:
            hooks = self._hooks_for(name)
        return bool(hooks)

    def _hooks_for(self, name: str) -> tuple[_Hook, ...]:
        hooks = tuple(self._exact.get(name, ()))
        hooks += tuple(h for h in self._globs if h.selector.name_matches(name))
        if len(self._name_cache) >= _NAME_CACHE_MAX:
            self._name_cache.clear()  # bounded: a flood of odd names cannot grow it forever
        self._name_cache[name] = hooks
        return hooks

    def _rule(self, key: str) -> Rule | None:
        rule = self.rules.by_key.get(key)
        return rule if rule is not None else self._retired.get(key)

    def _reconcile(self, call: _Call, now_ms: int) -> None:
        """After a reload: close alerts of removed rules, drop history of changed kinds."""
        by_key = self.rules.by_key
        cards = call.state.get("rc") or {}
        for key in [k for k in call.alerts if k not in by_key]:
            old = self._retired.get(key) or _rule_from_card(key, cards.get(key))
            if old is not None:
                for entry in call.alerts[key].values():
                    lifecycle.close(old, entry, now_ms, call.emit)
            else:
                log.warning("dropping alerts of unknown rule %s on host %s", key, call.host)
            call.drop_rule(key)
        for key in [k for k in cards if k not in call.alerts]:
            del cards[key]
        for key in [k for k, d in call.det.items()
                    if k not in by_key or d.get("k") != by_key[k].kind]:
            del call.det[key]

    # ------------------------------------------------------------- inhibition
    def _inhibited(self, call: _Call, rule: Rule, entry: Entry, labels: dict[str, str]) -> bool:
        idx = self._inhibit_targets.get(rule.key)
        if not idx:
            return False
        inhibit = self.rules.inhibit_rules
        for i in idx:
            ir = inhibit[i]
            if not all(m.test(labels.get(m.label, "")) for m in ir.target):
                continue
            for skey in self._inhibit_sources[i]:
                rs = call.alerts.get(skey)
                if not rs:
                    continue
                srule = self.rules.by_key[skey]
                for se in rs.values():
                    c = se.get("c")
                    if se is entry or c is None or c["s"] != "f":
                        continue
                    sl = alert_labels(srule, call.host, call.host_labels, se["l"])
                    if all(m.test(sl.get(m.label, "")) for m in ir.source) and all(
                            sl.get(q, "") == labels.get(q, "") for q in ir.equal):
                        return True
        return False

    # ---------------------------------------------------------------- metrics
    def evaluate(self, state: dict[str, Any], host: str, host_labels: Mapping[str, str],
                 points: Sequence[Point], now_ms: int) -> list[dict[str, Any]]:
        """Evaluate one metric batch of `host`; returns the alert messages to publish.

        Conditions are observed at each point's event time (`ts`); `now_ms` is the
        pipeline clock that marks the host as alive (for absence rules).
        """
        call = _Call(self, state, host, host_labels, now_ms)
        seen = state.get("seen")
        if seen is None or now_ms > seen:
            state["seen"] = now_ms
        alerts = call.alerts
        for rule in self._host_absent:
            rs = alerts.get(rule.key)
            if rs:
                for key, entry in list(rs.items()):
                    call.observe(rule, key, entry["l"], now_ms, False, False, 0.0,
                                 _duration_s(rule))
        joins: dict[str, dict[str, list[Any]]] | None = None
        cache = self._name_cache
        for p in points:
            hooks = cache.get(p.name)
            if hooks is None:
                hooks = self._hooks_for(p.name)
            if not hooks:
                continue
            for h in hooks:
                if h.matchers and not h.selector.labels_match(p.labels, host, host_labels):
                    continue
                kind = h.kind
                if kind == _THRESH:
                    src = h.source
                    v = p.value if src == RAW else p.ewma if src == EWMA else p.wma
                    if v - v != 0:  # NaN or infinite
                        continue
                    fire_ok = h.fn(v, h.fire)
                    if not fire_ok and h.key not in alerts:
                        continue
                    call.observe(h.rule, series_key(p.labels), p.labels, p.ts, fire_ok,
                                 h.fn(v, h.clear), v, h.fire)
                elif kind == _JOIN:
                    if joins is None:
                        joins = {}
                    self._collect_join(joins, h, p)
                elif kind == _RATE:
                    self._rate(call, h, p)
                elif kind == _ZSCORE:
                    self._zscore(call, h, p)
                elif kind == _ANOMALY:
                    self._anomaly_point(call, h, p)
                else:
                    self._absent_point(call, h, p)
        if joins:
            self._evaluate_joins(call, joins)
        return call.result()

    def _rate(self, call: _Call, h: _Hook, p: Point) -> None:
        prev, prev_ts = p.prev_value, p.prev_ts
        if prev is None or prev_ts is None or p.ts <= prev_ts:
            return
        delta = p.value - prev
        cond = h.cond
        assert isinstance(cond, RateCond)
        if cond.counter and delta < 0:
            return  # counter reset
        rate = delta * 1000.0 / (p.ts - prev_ts)
        if rate - rate != 0:
            return
        fire_ok = h.fn(rate, h.fire)
        if not fire_ok and h.key not in call.alerts:
            return
        call.observe(h.rule, series_key(p.labels), p.labels, p.ts, fire_ok, h.fn(rate, h.clear),
                     rate, h.fire)

    @staticmethod
    def _z(p: Point, direction: str, min_std: float) -> float | None:
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

    def _zscore(self, call: _Call, h: _Hook, p: Point) -> None:
        cond = h.cond
        assert isinstance(cond, ZScoreCond)
        z = self._z(p, cond.direction, cond.min_std)
        if z is None:
            return
        fire_ok = h.fn(z, h.fire)
        if not fire_ok and h.key not in call.alerts:
            return
        call.observe(h.rule, series_key(p.labels), p.labels, p.ts, fire_ok, h.fn(z, h.clear),
                     z, h.fire)

    def _anomaly_point(self, call: _Call, h: _Hook, p: Point) -> None:
        module = self._anomaly
        key = series_key(p.labels)
        if module is None:
            z = self._z(p, "both", 0.0)
            if z is None:
                return
            score = fallback_score(z)
        else:
            src = h.source
            v = p.value if src == RAW else p.ewma if src == EWMA else p.wma
            if v - v != 0:
                return
            store = call.detector(h.rule)
            slot = store.get(key)
            if slot is None:
                slot = store[key] = {"t": p.ts, "d": module.new_state(h.params)}
            elif p.ts < slot["t"]:
                return  # late sample: the detector only moves forward in time
            slot["t"] = p.ts
            score = float(module.update(slot["d"], p.ts, v, h.params))
            if score - score != 0:
                return
        fire_ok = h.fn(score, h.fire)
        if not fire_ok and h.key not in call.alerts:
            return
        call.observe(h.rule, key, p.labels, p.ts, fire_ok, h.fn(score, h.clear), score, h.fire)

    def _absent_point(self, call: _Call, h: _Hook, p: Point) -> None:
        store = call.detector(h.rule)
        key = series_key(p.labels)
        tracker = store.get(key)
        if tracker is None:
            store[key] = {"t": p.ts, "l": dict(p.labels)}
        elif p.ts > tracker["t"]:
            tracker["t"] = p.ts
        rs = call.alerts.get(h.key)
        if rs is not None and key in rs:
            call.observe(h.rule, key, p.labels, p.ts, False, False, 0.0, _duration_s(h.rule))

    def _collect_join(self, joins: dict[str, dict[str, list[Any]]], h: _Hook, p: Point) -> None:
        src = h.source
        v = p.value if src == RAW else p.ewma if src == EWMA else p.wma
        if v - v != 0:
            return
        operands, join = self._join_rules[h.key]
        if join is None:
            labels: Mapping[str, str] = p.labels
        else:
            labels = {name: p.labels[name] for name in join if name in p.labels}
        jkey = series_key(labels)
        per_rule = joins.get(h.key)
        if per_rule is None:
            per_rule = joins[h.key] = {}
        acc = per_rule.get(jkey)
        n = len(operands)
        if acc is None:
            acc = per_rule[jkey] = [labels, p.ts, [0.0] * n, [0] * n]
        elif p.ts > acc[1]:
            acc[1] = p.ts
        i = h.op_index
        bit = 1 << h.sel_index
        if operands[i].is_sum:
            if not acc[3][i] & bit:
                acc[2][i] += v
        else:
            acc[2][i] = v
        acc[3][i] |= bit

    def _evaluate_joins(self, call: _Call, joins: dict[str, dict[str, list[Any]]]) -> None:
        for rule_key, per_rule in joins.items():
            rule = self.rules.by_key[rule_key]
            operands, _ = self._join_rules[rule_key]
            report = rule.condition.report if isinstance(rule.condition, AllCond) else 0
            named = isinstance(rule.condition, AllCond)
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
                if not fire_ok and rule_key not in call.alerts:
                    continue
                values = {op.name: v for op, v in zip(operands, vals, strict=True)} \
                    if named else None
                call.observe(rule, jkey, labels, ts, fire_ok, hold_ok, vals[report],
                             operands[report].compare.fire, values)

    # ------------------------------------------------------------------- logs
    def evaluate_logs(self, state: dict[str, Any], host: str, host_labels: Mapping[str, str],
                      records: Sequence[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
        """Count processed log records of `host` into the windows of log rules."""
        call = _Call(self, state, host, host_labels, now_ms)
        for rec in records:
            ts = rec.get("ts")
            if not isinstance(ts, int) or isinstance(ts, bool):
                continue
            first = state.get("lf")
            if first is None or ts < first:
                state["lf"] = ts
            for rule, matcher, cond in self._log_rules:
                if not matcher.matches(rec, host):
                    continue
                labels = group_labels(rec, cond.by) if cond.by else {}
                gkey = series_key(labels)
                store = call.detector(rule)
                slot = ts // slot_ms(cond)
                ring = store.get(gkey)
                if ring is None:
                    ring = store[gkey] = new_ring(slot, isinstance(cond, LogBurstCond))
                    ring["l"] = labels
                elif slot > ring["s"]:
                    self._slide(call, rule, cond, ring, gkey, slot)
                if add(ring, slot, cond):
                    self._log_observe(call, rule, cond, ring, gkey, ts)
        return call.result()

    def _log_observe(self, call: _Call, rule: Rule, cond: LogCountCond | LogBurstCond,
                     ring: dict[str, Any], gkey: str, at: int) -> None:
        n = count(ring)
        if isinstance(cond, LogCountCond):
            cmp = cond.compare
            fire_ok, hold_ok, threshold = cmp.fires(n), cmp.holds(n), cmp.fire
        else:
            base = ring["b"]
            threshold = max(cond.min_count, cond.factor * base)
            first = call.state.get("lf", at)
            warm = at - first >= cond.warmup_ms
            fire_ok = warm and n >= cond.min_count and n > cond.factor * base
            hold_ok = n > 0 and n >= cond.min_count / 2 and n > cond.clear_factor * base
        if not fire_ok and rule.key not in call.alerts:
            return
        call.observe(rule, gkey, ring["l"], at, fire_ok, hold_ok, float(n), threshold)

    # ------------------------------------------------------------------ clock
    def tick(self, state: dict[str, Any], host: str, host_labels: Mapping[str, str],
             now_ms: int) -> list[dict[str, Any]]:
        """Timer work at `now_ms`: absence, sliding log windows, `for` timers, re-sends,
        staleness and expiry. Transition times are computed from the data, not from
        when tick() happens to run."""
        call = _Call(self, state, host, host_labels, now_ms)
        seen = state.get("seen")
        if seen is not None:
            for rule in self._host_absent:
                assert isinstance(rule.condition, AbsentCond)
                duration = rule.condition.duration_ms
                if now_ms - seen >= duration:
                    self._absent_observe(call, rule, "", {}, seen, duration, now_ms)
        for rule in self._series_absent:
            self._tick_series_absent(call, rule, now_ms)
        for rule, _, cond in self._log_rules:
            self._tick_logs(call, rule, cond, now_ms)
        for rule in self._anomaly_rules:
            store = call.det.get(rule.key)
            if store:
                assert isinstance(rule.condition, AnomalyCond)
                horizon = now_ms - rule.condition.forget_ms
                series = store["s"]
                for key in [k for k, s in series.items() if s["t"] <= horizon]:
                    del series[key]
        for rule_key, rs in list(call.alerts.items()):
            owner = self._rule(rule_key)
            if owner is None:
                call.drop_rule(rule_key)
                continue
            for key, entry in list(rs.items()):
                housekeep(owner, entry, now_ms, call.emit)
                if is_empty(entry):
                    del rs[key]
            if not rs:
                call.drop_rule(rule_key)
        for key in [k for k, d in call.det.items() if not d["s"]]:
            del call.det[key]
        return call.result()

    def _absent_observe(self, call: _Call, rule: Rule, key: str, labels: Mapping[str, str],
                        last: int, duration: int, now_ms: int) -> None:
        rs = call.alerts.get(rule.key)
        entry = rs.get(key) if rs else None
        if entry is None or entry.get("c") is None:
            since = last + duration
            call.observe(rule, key, labels, since, True, True, duration / 1000.0,
                         _duration_s(rule))
        call.observe(rule, key, labels, now_ms, True, True, (now_ms - last) / 1000.0,
                     _duration_s(rule))

    def _tick_series_absent(self, call: _Call, rule: Rule, now_ms: int) -> None:
        cond = rule.condition
        assert isinstance(cond, AbsentCond)
        d = call.det.get(rule.key)
        if not d:
            return
        store = d["s"]
        for key, tracker in list(store.items()):
            last = tracker["t"]
            if now_ms - last >= cond.forget_ms:
                rs = call.alerts.get(rule.key)
                if rs and key in rs:  # gone for good: resolve when it was forgotten
                    call.observe(rule, key, tracker["l"], last + cond.forget_ms, False, False,
                                 cond.forget_ms / 1000.0, _duration_s(rule))
                del store[key]
            elif now_ms - last >= cond.duration_ms:
                self._absent_observe(call, rule, key, tracker["l"], last, cond.duration_ms,
                                     now_ms)

    def _slide(self, call: _Call, rule: Rule, cond: LogCountCond | LogBurstCond,
               ring: dict[str, Any], gkey: str, target: int) -> None:
        """Move a window forward to slot `target`, observing the condition at each slot
        boundary while the window still changes: a count that drops, drops on time,
        whether a tick or the next record comes first."""
        width = slot_ms(cond)
        cur = ring["s"]
        for s in range(cur + 1, min(target, cur + SLOTS + 1) + 1):
            advance(ring, s, cond)
            self._log_observe(call, rule, cond, ring, gkey, s * width)
        if target > ring["s"]:
            advance(ring, target, cond)

    def _tick_logs(self, call: _Call, rule: Rule, cond: LogCountCond | LogBurstCond,
                   now_ms: int) -> None:
        d = call.det.get(rule.key)
        if not d:
            return
        store = d["s"]
        target = now_ms // slot_ms(cond)
        burst = isinstance(cond, LogBurstCond)
        for gkey, ring in list(store.items()):
            if target > ring["s"]:
                self._slide(call, rule, cond, ring, gkey, target)
            rs = call.alerts.get(rule.key)
            entry = rs.get(gkey) if rs else None
            if count(ring) == 0 and (entry is None or entry.get("c") is None) and \
                    (not burst or (cond.by and ring["b"] < 1e-3)):
                del store[gkey]  # an empty window of no open alert: forget the group


def _rule_from_card(key: str, card: dict[str, Any] | None) -> Rule | None:
    """A stand-in for a rule that is gone, good enough to resolve its alerts."""
    if not card:
        return None
    return Rule(key=key, alert=card["n"], kind="absent", group="", origin="(removed rule)",
                severity=card["s"], labels=MappingProxyType(dict(card["l"])),
                annotations=MappingProxyType({}), condition=AbsentCond(None, 1, 2), for_ms=0,
                keep_firing_for_ms=0, repeat_ms=1, keep_resolved_ms=0, resend_resolved_ms=1,
                stale_ms=0)


def _updated_at(msg: dict[str, Any]) -> str:
    at: str = msg["updated_at"]  # fixed-width RFC 3339: sorts as text
    return at


def _duration_s(rule: Rule) -> float:
    cond = rule.condition
    return cond.duration_ms / 1000.0 if isinstance(cond, AbsentCond) else 0.0
