"""The rule engine: per-host evaluation of metric points, log records and the clock.

One engine serves every host: it holds only the compiled rules (one Evaluator per
rule, see streams.rules.kinds). Per-host state is a plain JSON-serialisable dict
owned by the caller (a changelogged table keyed by host) and mutated in place; its
form is described in streams.rules.hostcall.

Only series with an open or recently resolved alert have an alert entry; detector
state exists only for rules that need history (anomaly, absence of a metric, log
windows) and expires when unused. The hot path -- a point that matches no rule, or
whose condition is false while nothing is open -- allocates nothing: points reach
their rules through a name index (exact names, then globs, cached per name).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from streams.rules import anomaly_bridge, lifecycle
from streams.rules.hostcall import STATE_VERSION, HostCall, series_key
from streams.rules.inhibit import Inhibition
from streams.rules.kinds import CONDITION_KINDS, Evaluator, Hook
from streams.rules.lifecycle import housekeep, is_empty
from streams.rules.model import AbsentCond, Point, Rule, RuleError, RuleSet

__all__ = ["STATE_VERSION", "RuleEngine", "series_key"]

log = logging.getLogger(__name__)

_NAME_CACHE_MAX = 50_000


def _tick_order(ev: Evaluator) -> int:
    phase = ev.tick_phase
    assert phase is not None
    return phase


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

    def _evaluators(self, rules: RuleSet) -> list[Evaluator]:
        """One evaluator per rule; RuleError if the detector refuses some rules."""
        evaluators: list[Evaluator] = []
        problems: list[str] = []
        for r in rules.rules:
            try:
                evaluators.append(CONDITION_KINDS[r.kind].build(r, self._anomaly))
            except RuleError as e:
                problems.extend(e.problems)
        if problems:
            raise RuleError(problems)
        return evaluators

    def _install(self, rules: RuleSet) -> None:
        evaluators = self._evaluators(rules)  # first: a refused rule set changes nothing
        exact: dict[str, list[Hook]] = {}
        globs: list[Hook] = []
        for ev in evaluators:
            for hook in ev.hooks():
                if hook.selector.exact is not None:
                    exact.setdefault(hook.selector.exact, []).append(hook)
                else:
                    globs.append(hook)
        self._exact = exact
        self._globs = globs
        self._name_cache: dict[str, tuple[Hook, ...]] = {}
        self._by_key = {ev.key: ev for ev in evaluators}
        self._batch_readers = tuple(ev for ev in evaluators if ev.reads_batches)
        self._log_readers = tuple(ev for ev in evaluators if ev.reads_logs)
        self._tickers = tuple(sorted((ev for ev in evaluators if ev.tick_phase is not None),
                                     key=_tick_order))
        self._inhibition = Inhibition(rules)
        self.rules = rules

    def watches(self, name: str) -> bool:
        """Does any rule look at metric `name`? (The pipeline skips building points for
        metrics no rule reads.)"""
        hooks = self._name_cache.get(name)
        if hooks is None:
            hooks = self._hooks_for(name)
        return bool(hooks)

    def _hooks_for(self, name: str) -> tuple[Hook, ...]:
        hooks = tuple(self._exact.get(name, ()))
        hooks += tuple(h for h in self._globs if h.selector.name_matches(name))
        if len(self._name_cache) >= _NAME_CACHE_MAX:
            self._name_cache.clear()  # bounded: a flood of odd names cannot grow it forever
        self._name_cache[name] = hooks
        return hooks

    def _rule(self, key: str) -> Rule | None:
        rule = self.rules.by_key.get(key)
        return rule if rule is not None else self._retired.get(key)

    def _call(self, state: dict[str, Any], host: str, host_labels: Mapping[str, str],
              now_ms: int) -> HostCall:
        call = HostCall(state, host, host_labels, self._inhibition.muted)
        if state.get("rs") != self.rules.digest:
            self._reconcile(call, now_ms)
            state["rs"] = self.rules.digest
        return call

    def _reconcile(self, call: HostCall, now_ms: int) -> None:
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

    # ------------------------------------------------------------------ input
    def evaluate(self, state: dict[str, Any], host: str, host_labels: Mapping[str, str],
                 points: Sequence[Point], now_ms: int) -> list[dict[str, Any]]:
        """Evaluate one metric batch of `host`; returns the alert messages to publish.

        Conditions are observed at each point's event time (`ts`); `now_ms` is the
        pipeline clock that marks the host as alive (for absence rules).
        """
        call = self._call(state, host, host_labels, now_ms)
        seen = state.get("seen")
        if seen is None or now_ms > seen:
            state["seen"] = now_ms
        for ev in self._batch_readers:
            ev.on_batch(call, now_ms)
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
                h.on_point(call, p)
        if call.batch:
            by_key = self._by_key
            for key, scratch in call.batch.items():
                by_key[key].end_batch(call, scratch)
        return call.result()

    def evaluate_logs(self, state: dict[str, Any], host: str, host_labels: Mapping[str, str],
                      records: Sequence[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
        """Count processed log records of `host` into the windows of log rules."""
        call = self._call(state, host, host_labels, now_ms)
        readers = self._log_readers
        for rec in records:
            ts = rec.get("ts")
            if not isinstance(ts, int) or isinstance(ts, bool):
                continue
            first = state.get("lf")
            if first is None or ts < first:
                state["lf"] = ts
            for ev in readers:
                ev.on_log(call, rec, ts)
        return call.result()

    # ------------------------------------------------------------------ clock
    def tick(self, state: dict[str, Any], host: str, host_labels: Mapping[str, str],
             now_ms: int) -> list[dict[str, Any]]:
        """Timer work at `now_ms`: absence, sliding log windows, `for` timers, re-sends,
        staleness and expiry. Transition times are computed from the data, not from
        when tick() happens to run."""
        call = self._call(state, host, host_labels, now_ms)
        for ev in self._tickers:
            ev.tick(call, now_ms)
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


def _rule_from_card(key: str, card: dict[str, Any] | None) -> Rule | None:
    """A stand-in for a rule that is gone, good enough to resolve its alerts."""
    if not card:
        return None
    return Rule(key=key, alert=card["n"], kind="absent", group="", origin="(removed rule)",
                severity=card["s"], labels=MappingProxyType(dict(card["l"])),
                annotations=MappingProxyType({}), condition=AbsentCond(None, 1, 2), for_ms=0,
                keep_firing_for_ms=0, repeat_ms=1, keep_resolved_ms=0, resend_resolved_ms=1,
                stale_ms=0)
