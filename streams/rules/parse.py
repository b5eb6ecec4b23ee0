"""Rule files: YAML text -> validated RuleSet, reporting every problem at once.

The file is read with a safe, line-tracking loader; each mapping is checked against
the closed set of keys its kind allows, so a typo is an error naming the file, the
line and the key (with a suggestion) instead of a silently ignored setting. This
module checks the file, its groups, the fields every rule has and the inhibit
rules; each condition kind parses its own keys (streams.rules.kinds).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from types import MappingProxyType

from streams.rules.fields import (
    DEFAULTS,
    IDENT,
    Ctx,
    label_list,
    matcher_list,
    nonneg_duration,
    pos_duration,
    str_mapping,
    string,
)
from streams.rules.kinds import CONDITION_KINDS
from streams.rules.logwindows import LOG_SEVERITY_RANK
from streams.rules.model import KINDS, SEVERITIES, InhibitRule, Rule, RuleError, RuleSet
from streams.rules.templates import Template, compile_template
from streams.rules.values import parse_duration_ms
from streams.rules.yamlsafe import LocatedList, LocatedMap, YamlProblem, load_located

__all__ = ["DEFAULTS", "LOG_SEVERITY_RANK", "load_rules", "parse_rules"]

log = logging.getLogger(__name__)

_RESERVED_LABELS = frozenset({"alertname", "host"})
_TIMING_KEYS = ("repeat_interval", "keep_resolved_for", "resend_resolved_every", "stale_after")
_COMMON_KEYS = frozenset({"alert", "kind", "for", "keep_firing_for", "labels", "annotations",
                          *_TIMING_KEYS})
_KIND_KEYS: dict[str, frozenset[str]] = {name: k.keys for name, k in CONDITION_KINDS.items()}
_ALL_KEYS = _COMMON_KEYS | frozenset().union(*_KIND_KEYS.values())
_GROUP_KEYS = frozenset({"name", "rules", "labels", *_TIMING_KEYS})
_TOP_KEYS = frozenset({"groups", "inhibit_rules"})
_INHIBIT_KEYS = frozenset({"name", "source_matchers", "target_matchers", "equal"})


def _rule_key(alert: str, labels: dict[str, str]) -> str:
    material = "\x1f".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return f"{alert}:{hashlib.sha256(material.encode()).hexdigest()[:8]}"


def _timing(ctx: Ctx, m: LocatedMap, where: str, inherited: dict[str, int]) -> dict[str, int]:
    """The timing keys of a group or rule, each defaulting to the enclosing one's."""
    t = dict(inherited)
    for key in _TIMING_KEYS:
        conv = nonneg_duration if key == "keep_resolved_for" else pos_duration
        t[key] = ctx.get(m, key, where, conv, t[key])
    return t


def _rule_labels(ctx: Ctx, m: LocatedMap, where: str,
                 group_labels: dict[str, str]) -> dict[str, str]:
    """The group's labels, then the rule's; severity defaults to warning."""
    labels = dict(group_labels)
    if "labels" in m:
        labels.update(str_mapping(ctx, m["labels"], where, "labels"))
    for reserved in sorted(_RESERVED_LABELS & labels.keys()):
        ctx.err(m.line_of("labels"), where, f"labels: {reserved!r} is set by the engine")
        del labels[reserved]
    severity = labels.setdefault("severity", "warning")
    if severity not in SEVERITIES:
        ctx.err(m.line_of("labels"), where,
                f"labels.severity: expected one of {', '.join(SEVERITIES)}, got {severity!r}")
    for value in labels.values():
        if "{{" in value:
            ctx.err(m.line_of("labels"), where, "labels are not templated; use annotations")
            break
    return labels


def _annotations(ctx: Ctx, m: LocatedMap, where: str,
                 value_names: tuple[str, ...]) -> dict[str, Template]:
    annotations: dict[str, Template] = {}
    if "annotations" in m:
        raw_ann = str_mapping(ctx, m["annotations"], where, "annotations")
        ann_node = m["annotations"]
        for name, text in raw_ann.items():
            try:
                annotations[name] = compile_template(text, frozenset(value_names))
            except ValueError as e:
                line = ann_node.line_of(name) if isinstance(ann_node, LocatedMap) else m.line
                ctx.err(line, where, f"annotations.{name}: {e}")
    return annotations


def _parse_rule(ctx: Ctx, m: LocatedMap, where: str, group: str,
                group_labels: dict[str, str], timing: dict[str, int]) -> Rule | None:
    alert = m.get("alert")
    if not isinstance(alert, str) or not IDENT.fullmatch(alert):
        ctx.err(m.line_of("alert"), where,
                "alert: missing or not a name like HighCpu" if "alert" in m else "missing alert")
        alert = None
    else:
        where = f"rule {alert!r}"
    kind = m.get("kind")
    if kind not in KINDS:
        ctx.err(m.line_of("kind"), where,
                f"kind: expected one of {', '.join(KINDS)}, got {kind!r}" if "kind" in m
                else f"missing kind (one of {', '.join(KINDS)})")
        ctx.closed_keys(m, _ALL_KEYS, where)
        return None
    ck = CONDITION_KINDS[kind]
    ctx.closed_keys(m, _COMMON_KEYS | ck.keys, where)
    labels = _rule_labels(ctx, m, where, group_labels)
    cond, value_names = ck.parse(ctx, m, where)
    annotations = _annotations(ctx, m, where, value_names)
    for_ms = ctx.get(m, "for", where, nonneg_duration, 0)
    keep_firing = ctx.get(m, "keep_firing_for", where, nonneg_duration, 0)
    t = _timing(ctx, m, where, timing)
    if not ck.goes_stale and "stale_after" in m:
        ctx.err(m.line_of("stale_after"), where, f"stale_after does not apply to {kind} rules")
    if alert is None or cond is None:
        return None
    return Rule(
        key=_rule_key(alert, labels), alert=alert, kind=kind, group=group,
        origin=f"{ctx.source}:{m.line}", severity=labels["severity"],
        labels=MappingProxyType(labels), annotations=MappingProxyType(annotations),
        condition=cond, for_ms=for_ms, keep_firing_for_ms=keep_firing,
        repeat_ms=t["repeat_interval"], keep_resolved_ms=t["keep_resolved_for"],
        resend_resolved_ms=t["resend_resolved_every"],
        # absence and log conditions are functions of time itself: they never go stale
        stale_ms=t["stale_after"] if ck.goes_stale else 0,
        value_names=value_names)


def _parse_group(ctx: Ctx, g: LocatedMap, gi: int, group_names: list[str],
                 base_timing: dict[str, int]) -> list[Rule]:
    gwhere = f"groups[{gi}]"
    name = g.get("name")
    if not isinstance(name, str) or not name:
        ctx.err(g.line_of("name"), gwhere, "missing name" if "name" not in g
                else f"name: expected a string, got {name!r}")
        name = f"group{gi}"
    else:
        gwhere = f"group {name!r}"
        if name in group_names:
            ctx.err(g.line_of("name"), gwhere, "a group with this name already exists")
        group_names.append(name)
    ctx.closed_keys(g, _GROUP_KEYS, gwhere)
    glabels = str_mapping(ctx, g["labels"], gwhere, "labels") if "labels" in g else {}
    timing = _timing(ctx, g, gwhere, base_timing)
    rules_raw = g.get("rules")
    if not isinstance(rules_raw, LocatedList):
        ctx.err(g.line_of("rules"), gwhere, "rules: expected a list of rules")
        return []
    rules: list[Rule] = []
    for ri, r in enumerate(rules_raw):
        rwhere = f"{gwhere} rules[{ri}]"
        if not isinstance(r, LocatedMap):
            ctx.err(rules_raw.line_of(ri), rwhere, "expected a mapping")
            continue
        rule = _parse_rule(ctx, r, rwhere, name, glabels, timing)
        if rule is not None:
            rules.append(rule)
    return rules


def _parse_groups(ctx: Ctx, data: LocatedMap) -> tuple[list[Rule], list[str]]:
    groups_raw = data.get("groups", LocatedList())
    if not isinstance(groups_raw, LocatedList):
        ctx.err(data.line_of("groups"), "groups", "expected a list of groups")
        groups_raw = LocatedList()
    if not hasattr(groups_raw, "line"):
        groups_raw.line, groups_raw.item_lines = 1, []
    rules: list[Rule] = []
    group_names: list[str] = []
    base_timing = {k: parse_duration_ms(DEFAULTS[k]) for k in _TIMING_KEYS}
    for gi, g in enumerate(groups_raw):
        if not isinstance(g, LocatedMap):
            ctx.err(groups_raw.line_of(gi), f"groups[{gi}]",
                    "expected a mapping with name and rules")
            continue
        rules += _parse_group(ctx, g, gi, group_names, base_timing)
    return rules, group_names


def _unique(ctx: Ctx, rules: list[Rule]) -> dict[str, Rule]:
    """The rules by key; a second rule with the same name and labels is a problem."""
    seen: dict[str, Rule] = {}
    for rule in rules:
        other = seen.get(rule.key)
        if other is not None:
            line = int(rule.origin.rsplit(":", 1)[1])
            ctx.err(line, f"rule {rule.alert!r}", f"same name and labels as the rule at "
                    f"{other.origin}; give it different labels")
        seen[rule.key] = rule
    return seen


def _parse_inhibit(ctx: Ctx, m: LocatedMap, where: str) -> InhibitRule | None:
    ctx.closed_keys(m, _INHIBIT_KEYS, where)
    missing = [k for k in ("source_matchers", "target_matchers") if k not in m]
    for k in missing:
        ctx.err(m.line, where, f"missing {k}")
    source = ctx.get(m, "source_matchers", where, matcher_list, ())
    target = ctx.get(m, "target_matchers", where, matcher_list, ())
    equal = ctx.get(m, "equal", where, label_list, ("host",))
    ctx.get(m, "name", where, string, "")
    if missing or not source or not target:
        return None
    return InhibitRule(source, target, equal, f"{ctx.source}:{m.line}")


def _parse_inhibits(ctx: Ctx, data: LocatedMap) -> list[InhibitRule]:
    inhibit: list[InhibitRule] = []
    inh_raw = data.get("inhibit_rules", LocatedList())
    if not isinstance(inh_raw, LocatedList):
        ctx.err(data.line_of("inhibit_rules"), "inhibit_rules", "expected a list")
        inh_raw = LocatedList()
    for ii, item in enumerate(inh_raw):
        iwhere = f"inhibit_rules[{ii}]"
        if not isinstance(item, LocatedMap):
            ctx.err(inh_raw.line_of(ii), iwhere, "expected a mapping")
            continue
        inh = _parse_inhibit(ctx, item, iwhere)
        if inh is not None:
            inhibit.append(inh)
    return inhibit


def parse_rules(text: str, source: str = "<string>") -> RuleSet:
    """Validate a rule file's text; RuleError lists every problem found."""
    ctx = Ctx(source)
    try:
        data, duplicates = load_located(text)
    except YamlProblem as e:
        raise RuleError([f"{source}:{e.line}: YAML: {e.message}"]) from None
    for line, key in duplicates:
        ctx.err(line, "mapping", f"duplicate key {key!r}")
    if data is None:
        data = LocatedMap()
        data.line, data.key_lines = 1, {}
    if not isinstance(data, LocatedMap):
        raise RuleError([f"{source}:1: top level: expected a mapping with 'groups'"])
    ctx.closed_keys(data, _TOP_KEYS, "top level")
    rules, group_names = _parse_groups(ctx, data)
    by_key = _unique(ctx, rules)
    inhibit = _parse_inhibits(ctx, data)
    if ctx.found:
        raise RuleError(ctx.problems)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return RuleSet(tuple(rules), tuple(inhibit), digest, source, tuple(group_names),
                   MappingProxyType(by_key))


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rule file; RuleError lists every problem (file:line: ...)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RuleError([f"{p}:0: cannot read: {e}"]) from None
    return parse_rules(text, str(p))
