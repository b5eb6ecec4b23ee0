"""Inhibition: a firing source alert on a host holds back the firing messages of targets.

The rule set's inhibit rules are data (source matchers, target matchers, equal
labels). At install, each inhibit rule is narrowed to the rules that can be its
sources and its targets at all -- a matcher on `alertname` or on a rule's static
labels decides that once -- so a firing message of a rule no inhibit rule targets
costs one dictionary lookup.
"""

from __future__ import annotations

from streams.rules.hostcall import Entry, HostCall
from streams.rules.matchers import Matcher
from streams.rules.messages import alert_labels
from streams.rules.model import Rule, RuleSet

__all__ = ["Inhibition"]


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


class Inhibition:
    """The inhibit rules of one rule set, indexed by the rules they may concern."""

    __slots__ = ("_rules", "_sources", "_targets")

    def __init__(self, rules: RuleSet) -> None:
        inhibit = rules.inhibit_rules
        self._rules = rules
        self._sources = tuple(
            tuple(r.key for r in rules.rules if _static_may_match(r, ir.source))
            for ir in inhibit)
        targets: dict[str, tuple[int, ...]] = {}
        for r in rules.rules:
            idx = tuple(i for i, ir in enumerate(inhibit) if _static_may_match(r, ir.target))
            if idx:
                targets[r.key] = idx
        self._targets = targets

    def muted(self, call: HostCall, rule: Rule, entry: Entry, labels: dict[str, str]) -> bool:
        """Is the firing message of `entry` (labels as sent) held back on this host?"""
        idx = self._targets.get(rule.key)
        if not idx:
            return False
        inhibit = self._rules.inhibit_rules
        for i in idx:
            ir = inhibit[i]
            if not all(m.test(labels.get(m.label, "")) for m in ir.target):
                continue
            for skey in self._sources[i]:
                rs = call.alerts.get(skey)
                if not rs:
                    continue
                srule = self._rules.by_key[skey]
                for se in rs.values():
                    c = se.get("c")
                    if se is entry or c is None or c["s"] != "f":
                        continue
                    sl = alert_labels(srule, call.host, call.host_labels, se["l"])
                    if all(m.test(sl.get(m.label, "")) for m in ir.source) and all(
                            sl.get(q, "") == labels.get(q, "") for q in ir.equal):
                        return True
        return False
