"""Rule files: YAML text -> validated RuleSet, reporting every problem at once.

The file is read with a safe, line-tracking loader; each mapping is checked against
the closed set of keys its kind allows, so a typo is an error naming the file, the
line and the key (with a suggestion) instead of a silently ignored setting.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from streams.rules import anomaly_bridge
from streams.rules.matchers import Matcher, Selector, parse_matchers, parse_selector
from streams.rules.model import (
    EWMA,
    KINDS,
    RAW,
    SEVERITIES,
    WMA,
    AbsentCond,
    AllCond,
    AnomalyCond,
    Compare,
    Condition,
    InhibitRule,
    LogBurstCond,
    LogCountCond,
    LogMatch,
    Operand,
    RateCond,
    Rule,
    RuleError,
    RuleSet,
    ThresholdCond,
    ZScoreCond,
)
from streams.rules.templates import Template, compile_template
from streams.rules.values import parse_duration_ms, parse_number
from streams.rules.yamlsafe import LocatedList, LocatedMap, YamlProblem, load_located

__all__ = ["DEFAULTS", "LOG_SEVERITY_RANK", "load_rules", "parse_rules"]

log = logging.getLogger(__name__)

DEFAULTS = {
    "repeat_interval": "1h",  # re-send a firing alert at most this often
    "keep_resolved_for": "15m",  # keep (and re-send) a resolved alert this long
    "resend_resolved_every": "5m",
    "stale_after": "5m",  # a series with no sample for this long no longer holds its alert
    "forget_after": "6h",  # per-series detector / absence tracking is dropped after this
}

LOG_SEVERITY_RANK = {
    "emergency": 0, "emerg": 0, "panic": 0, "alert": 1, "critical": 2, "crit": 2,
    "error": 3, "err": 3, "warning": 4, "warn": 4, "notice": 5, "info": 6,
    "informational": 6, "debug": 7,
}
_LOG_SEVERITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "info",
                   "debug")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_LABELS = frozenset({"alertname", "host"})
_TIMING_KEYS = ("repeat_interval", "keep_resolved_for", "resend_resolved_every", "stale_after")
_COMMON_KEYS = frozenset({"alert", "kind", "for", "keep_firing_for", "labels", "annotations",
                          *_TIMING_KEYS})
_COMPARE_KEYS = frozenset({"above", "below", "at_least", "at_most", "clear"})
_KIND_KEYS: dict[str, frozenset[str]] = {
    "threshold": _COMPARE_KEYS | {"metric", "sum", "smoothing", "join"},
    "rate": _COMPARE_KEYS | {"metric", "counter"},
    "zscore": _COMPARE_KEYS | {"metric", "direction", "min_std"},
    "anomaly": _COMPARE_KEYS | {"metric", "smoothing", "params", "forget_after"},
    "absent": frozenset({"metric", "duration", "forget_after"}),
    "all": frozenset({"conditions", "join", "report"}),
    "log_count": _COMPARE_KEYS | {"match", "by", "window"},
    "log_burst": frozenset({"match", "by", "window", "baseline", "factor", "min_count",
                            "clear_factor", "warmup"}),
}
_OPERAND_KEYS = _COMPARE_KEYS | {"name", "metric", "sum", "smoothing"}
_MATCH_KEYS = frozenset({"fault_class", "fault_source", "template_id", "severity", "labels"})
_FAULT_SOURCES = ("catalogue", "generic", "novel")  # log_record/v1 fault_source
_GROUP_KEYS = frozenset({"name", "rules", "labels", *_TIMING_KEYS})
_TOP_KEYS = frozenset({"groups", "inhibit_rules"})
_INHIBIT_KEYS = frozenset({"name", "source_matchers", "target_matchers", "equal"})
_SMOOTHING = {"none": RAW, "raw": RAW, "ewma": EWMA, "wma": WMA}
_DIRECTIONS = ("both", "up", "down")

T = TypeVar("T")
U = TypeVar("U")


class _Ctx:
    """Collects problems as "source:line: where: what"."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[int, str]] = []

    def err(self, line: int, where: str, what: str) -> None:
        self.found.append((line, f"{self.source}:{line}: {where}: {what}"))

    @property
    def problems(self) -> list[str]:
        """In file order (stable for problems on one line)."""
        return [text for _, text in sorted(self.found, key=lambda p: p[0])]

    def closed_keys(self, m: LocatedMap, allowed: frozenset[str], where: str) -> None:
        for key in m:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else \
                    f" (allowed: {', '.join(sorted(allowed))})"
                self.err(m.line_of(key), where, f"unknown key {key!r}{extra}")

    def get(self, m: LocatedMap, key: str, where: str, conv: Callable[[Any], T],
            default: U) -> T | U:
        """m[key] converted, or `default` when absent; a bad value is a problem."""
        if key not in m:
            return default
        try:
            return conv(m[key])
        except ValueError as e:
            self.err(m.line_of(key), where, f"{key}: {e}")
            return default


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {v!r}")
    return v


def _nonneg_duration(v: Any) -> int:
    return parse_duration_ms(v)


def _pos_duration(v: Any) -> int:
    ms = parse_duration_ms(v)
    if ms <= 0:
        raise ValueError(f"must be longer than zero, got {v!r}")
    return ms


def _nonneg_number(v: Any) -> float:
    n = parse_number(v)
    if n < 0:
        raise ValueError(f"must not be negative, got {v!r}")
    return n


def _pos_number(v: Any) -> float:
    n = parse_number(v)
    if n <= 0:
        raise ValueError(f"must be greater than zero, got {v!r}")
    return n


def _label_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v:
        raise ValueError(f"expected a non-empty list of label names, got {v!r}")
    for name in v:
        if not isinstance(name, str) or not _IDENT.fullmatch(name):
            raise ValueError(f"{name!r} is not a label name")
    if len(set(v)) != len(v):
        raise ValueError(f"repeated label name in {v!r}")
    return tuple(v)


def _choice(options: tuple[str, ...] | dict[str, int]) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
        return v
    return conv


def _selector(v: Any) -> Selector:
    if not isinstance(v, str):
        raise ValueError("expected a metric selector string such as "
                         f"'disk.busy{{device=~\"sd.*\"}}', got {v!r}")
    return parse_selector(v)


def _matchers(v: Any) -> tuple[Matcher, ...]:
    if isinstance(v, str):
        return parse_matchers(v)
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        return tuple(m for x in v for m in parse_matchers(x))
    raise ValueError(f"expected matcher strings such as 'alertname=\"HostSilent\"', got {v!r}")


def _str_mapping(ctx: _Ctx, v: Any, where: str, key: str) -> dict[str, str]:
    """A mapping of label names to string values (YAML numbers must be quoted)."""
    if not isinstance(v, LocatedMap):
        line = getattr(v, "line", 0)
        ctx.err(line, where, f"{key}: expected a mapping of names to strings, got {v!r}")
        return {}
    out: dict[str, str] = {}
    for name, value in v.items():
        line = v.line_of(name)
        if not isinstance(name, str) or not _IDENT.fullmatch(name):
            ctx.err(line, where, f"{key}: {name!r} is not a valid name")
        elif not isinstance(value, str):
            ctx.err(line, where, f"{key}.{name}: expected a string (quote it), got {value!r}")
        else:
            out[name] = value
    return out


def _compare(ctx: _Ctx, m: LocatedMap, where: str, *, required: bool = True,
             upward_only: bool = False) -> Compare | None:
    ops = [k for k in ("above", "below", "at_least", "at_most") if k in m]
    if len(ops) > 1:
        ctx.err(m.line_of(ops[1]), where, f"use only one of above/below/at_least/at_most, "
                f"found {', '.join(ops)}")
        return None
    if not ops:
        if required:
            ctx.err(m.line, where, "missing the threshold: one of above, below, at_least, at_most")
        elif "clear" in m:
            ctx.err(m.line_of("clear"), where, "clear without a threshold")
        return None
    op = ops[0]
    if upward_only and op not in ("above", "at_least"):
        ctx.err(m.line_of(op), where, f"{op}: this kind only supports above or at_least")
        return None
    fire = ctx.get(m, op, where, parse_number, None)
    clear = ctx.get(m, "clear", where, parse_number, None)
    if fire is None:
        return None
    cmp = Compare.make(op, fire, clear)
    if cmp.upward and cmp.clear > cmp.fire:
        ctx.err(m.line_of("clear"), where,
                f"clear ({cmp.clear:g}) must not be above the {op} threshold ({fire:g})")
    if not cmp.upward and cmp.clear < cmp.fire:
        ctx.err(m.line_of("clear"), where,
                f"clear ({cmp.clear:g}) must not be below the {op} threshold ({fire:g})")
    return cmp


def _operand(ctx: _Ctx, m: LocatedMap, where: str, default_name: str) -> Operand | None:
    has_metric, has_sum = "metric" in m, "sum" in m
    if has_metric == has_sum:
        ctx.err(m.line, where, "give exactly one of metric (one series) or sum (a list of metrics)")
        return None
    selectors: tuple[Selector, ...] = ()
    if has_metric:
        sel = ctx.get(m, "metric", where, _selector, None)
        selectors = (sel,) if sel is not None else ()
    else:
        raw = m["sum"]
        if not isinstance(raw, list) or len(raw) < 2:
            ctx.err(m.line_of("sum"), where, "sum: expected a list of at least two metrics")
        else:
            parsed: list[Selector] = []
            for item in raw:
                try:
                    parsed.append(_selector(item))
                except ValueError as e:
                    ctx.err(m.line_of("sum"), where, f"sum: {e}")
            if len(parsed) == len(raw):
                selectors = tuple(parsed)
    source = _SMOOTHING[ctx.get(m, "smoothing", where, _choice(_SMOOTHING), "none")]
    name = ctx.get(m, "name", where, _str, default_name)
    if not _IDENT.fullmatch(name):
        ctx.err(m.line_of("name"), where, f"name: {name!r} is not an identifier")
    cmp = _compare(ctx, m, where)
    if not selectors or cmp is None:
        return None
    return Operand(name, selectors, has_sum, source, cmp)


def _log_match(ctx: _Ctx, rule: LocatedMap, where: str) -> LogMatch:
    raw = rule.get("match", LocatedMap())
    if not isinstance(raw, LocatedMap):
        ctx.err(rule.line_of("match"), where, "match: expected a mapping")
        return LogMatch(None, None, None, ())
    if not hasattr(raw, "line"):
        raw.line, raw.key_lines = rule.line, {}
    w = f"{where}.match"
    ctx.closed_keys(raw, _MATCH_KEYS, w)

    def str_list(v: Any) -> tuple[str, ...]:
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
            raise ValueError(f"expected a string or a list of strings, got {v!r}")
        return tuple(items)

    def sources(v: Any) -> frozenset[str]:
        items = str_list(v)
        bad = [x for x in items if x not in _FAULT_SOURCES]
        if bad:
            raise ValueError(f"fault_source must be among {list(_FAULT_SOURCES)}, got {bad}")
        return frozenset(items)

    fault = ctx.get(raw, "fault_class", w, str_list, None)
    source = ctx.get(raw, "fault_source", w, sources, None)
    templates = ctx.get(raw, "template_id", w, str_list, None)
    sev = ctx.get(raw, "severity", w, _choice(_LOG_SEVERITIES), None)
    labels = ctx.get(raw, "labels", w, _matchers, ())
    return LogMatch(fault, frozenset(templates) if templates is not None else None,
                    LOG_SEVERITY_RANK[sev] if sev is not None else None, labels, source)


def _anomaly_params(ctx: _Ctx, rule: LocatedMap, where: str) -> dict[str, object]:
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


def _condition(ctx: _Ctx, kind: str, m: LocatedMap, where: str) -> tuple[Condition | None,
                                                                           tuple[str, ...]]:
    """The rule's condition and the names usable as $values.NAME."""
    forget = _pos_duration(DEFAULTS["forget_after"])
    if kind == "threshold":
        op = _operand(ctx, m, where, "value")
        join = ctx.get(m, "join", where, _label_list, None)
        if join is not None and "sum" not in m:
            ctx.err(m.line_of("join"), where, "join only applies to sum")
        return (ThresholdCond(op, join) if op else None), ()
    if kind in ("rate", "zscore", "anomaly"):
        if "metric" not in m:
            ctx.err(m.line, where, "missing metric")
        sel = ctx.get(m, "metric", where, _selector, None)
        cmp = _compare(ctx, m, where, upward_only=kind != "rate")
        if kind == "rate":
            counter = ctx.get(m, "counter", where, _bool, False)
            return (RateCond(sel, cmp, counter) if sel and cmp else None), ()
        if kind == "zscore":
            direction = ctx.get(m, "direction", where, _choice(_DIRECTIONS), "both")
            min_std = ctx.get(m, "min_std", where, _nonneg_number, 0.0)
            return (ZScoreCond(sel, cmp, direction, min_std) if sel and cmp else None), ()
        source = _SMOOTHING[ctx.get(m, "smoothing", where, _choice(_SMOOTHING), "none")]
        params = _anomaly_params(ctx, m, where)
        forget = ctx.get(m, "forget_after", where, _pos_duration, forget)
        return (AnomalyCond(sel, source, cmp, MappingProxyType(params), forget)
                if sel and cmp else None), ()
    if kind == "absent":
        sel = ctx.get(m, "metric", where, _selector, None)
        if "duration" not in m:
            ctx.err(m.line, where, "missing duration (how long without data means absent)")
        duration = ctx.get(m, "duration", where, _pos_duration, 0)
        forget = ctx.get(m, "forget_after", where, _pos_duration, forget)
        if "forget_after" in m and sel is None and "metric" not in m:
            ctx.err(m.line_of("forget_after"), where, "forget_after needs metric")
        if duration and forget <= duration:
            ctx.err(m.line_of("forget_after"), where, "forget_after must exceed duration")
        return (AbsentCond(sel, duration, forget) if duration else None), ()
    if kind == "all":
        raw = m.get("conditions")
        if not isinstance(raw, LocatedList) or len(raw) < 2:
            ctx.err(m.line_of("conditions"), where,
                    "conditions: expected a list of at least two conditions")
            return None, ()
        operands: list[Operand] = []
        ok = True
        for i, item in enumerate(raw):
            w = f"{where}.conditions[{i}]"
            if not isinstance(item, LocatedMap):
                ctx.err(raw.line_of(i), w, "expected a mapping")
                ok = False
                continue
            ctx.closed_keys(item, _OPERAND_KEYS, w)
            op = _operand(ctx, item, w, f"c{i}")
            if op is None:
                ok = False
            else:
                operands.append(op)
        names = [o.name for o in operands]
        if len(set(names)) != len(names):
            ctx.err(m.line_of("conditions"), where, f"condition names repeat: {names}")
            ok = False
        join = ctx.get(m, "join", where, _label_list, None)
        report_name = ctx.get(m, "report", where, _str, names[0] if names else "")
        if ok and report_name not in names:
            ctx.err(m.line_of("report"), where, f"report: no condition named {report_name!r} "
                    f"(names: {', '.join(names)})")
            ok = False
        if not ok:
            return None, tuple(names)
        return AllCond(tuple(operands), join, names.index(report_name)), tuple(names)
    match = _log_match(ctx, m, where)
    by = ctx.get(m, "by", where, _label_list, ())
    if "window" not in m:
        ctx.err(m.line, where, "missing window")
    window = ctx.get(m, "window", where, _pos_duration, 0)
    if kind == "log_count":
        cmp = _compare(ctx, m, where)
        return (LogCountCond(match, by, window, cmp) if cmp and window else None), ()
    baseline = ctx.get(m, "baseline", where, _pos_duration, 3_600_000)
    factor = ctx.get(m, "factor", where, _pos_number, 5.0)
    min_count = ctx.get(m, "min_count", where, _nonneg_number, 10.0)
    clear_factor = ctx.get(m, "clear_factor", where, _pos_number, min(2.0, factor))
    warmup = ctx.get(m, "warmup", where, _nonneg_duration, baseline)
    if clear_factor > factor:
        ctx.err(m.line_of("clear_factor"), where, "clear_factor must not exceed factor")
    if window and baseline < window:
        ctx.err(m.line_of("baseline"), where, "baseline must be at least the window")
    if not window:
        return None, ()
    return LogBurstCond(match, by, window, baseline, factor, min_count, clear_factor,
                        warmup), ()


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def _rule_key(alert: str, labels: dict[str, str]) -> str:
    material = "\x1f".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return f"{alert}:{hashlib.sha256(material.encode()).hexdigest()[:8]}"


def _parse_rule(ctx: _Ctx, m: LocatedMap, where: str, group: str,
                group_labels: dict[str, str], timing: dict[str, int]) -> Rule | None:
    alert = m.get("alert")
    if not isinstance(alert, str) or not _IDENT.fullmatch(alert):
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
        ctx.closed_keys(m, _COMMON_KEYS | frozenset().union(*_KIND_KEYS.values()), where)
        return None
    ctx.closed_keys(m, _COMMON_KEYS | _KIND_KEYS[kind], where)
    labels = dict(group_labels)
    if "labels" in m:
        labels.update(_str_mapping(ctx, m["labels"], where, "labels"))
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
    cond, value_names = _condition(ctx, kind, m, where)
    annotations: dict[str, Template] = {}
    if "annotations" in m:
        raw_ann = _str_mapping(ctx, m["annotations"], where, "annotations")
        ann_node = m["annotations"]
        for name, text in raw_ann.items():
            try:
                annotations[name] = compile_template(text, frozenset(value_names))
            except ValueError as e:
                line = ann_node.line_of(name) if isinstance(ann_node, LocatedMap) else m.line
                ctx.err(line, where, f"annotations.{name}: {e}")
    for_ms = ctx.get(m, "for", where, _nonneg_duration, 0)
    keep_firing = ctx.get(m, "keep_firing_for", where, _nonneg_duration, 0)
    t = dict(timing)
    for key in _TIMING_KEYS:
        conv = _nonneg_duration if key == "keep_resolved_for" else _pos_duration
        t[key] = ctx.get(m, key, where, conv, t[key])
    if kind in ("absent", "log_count", "log_burst") and "stale_after" in m:
        ctx.err(m.line_of("stale_after"), where, f"stale_after does not apply to {kind} rules")
    if alert is None or cond is None:
        return None
    return Rule(
        key=_rule_key(alert, labels), alert=alert, kind=kind, group=group,
        origin=f"{ctx.source}:{m.line}", severity=severity,
        labels=MappingProxyType(labels), annotations=MappingProxyType(annotations),
        condition=cond, for_ms=for_ms, keep_firing_for_ms=keep_firing,
        repeat_ms=t["repeat_interval"], keep_resolved_ms=t["keep_resolved_for"],
        resend_resolved_ms=t["resend_resolved_every"],
        # absence and log conditions are functions of time itself: they never go stale
        stale_ms=0 if kind in ("absent", "log_count", "log_burst") else t["stale_after"],
        value_names=value_names)


def _parse_inhibit(ctx: _Ctx, m: LocatedMap, where: str) -> InhibitRule | None:
    ctx.closed_keys(m, _INHIBIT_KEYS, where)
    missing = [k for k in ("source_matchers", "target_matchers") if k not in m]
    for k in missing:
        ctx.err(m.line, where, f"missing {k}")
    source = ctx.get(m, "source_matchers", where, _matchers, ())
    target = ctx.get(m, "target_matchers", where, _matchers, ())
    equal = ctx.get(m, "equal", where, _label_list, ("host",))
    ctx.get(m, "name", where, _str, "")
    if missing or not source or not target:
        return None
    return InhibitRule(source, target, equal, f"{ctx.source}:{m.line}")


def parse_rules(text: str, source: str = "<string>") -> RuleSet:
    """Validate a rule file's text; RuleError lists every problem found."""
    ctx = _Ctx(source)
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
        gwhere = f"groups[{gi}]"
        if not isinstance(g, LocatedMap):
            ctx.err(groups_raw.line_of(gi), gwhere, "expected a mapping with name and rules")
            continue
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
        glabels = _str_mapping(ctx, g["labels"], gwhere, "labels") if "labels" in g else {}
        timing = dict(base_timing)
        for key in _TIMING_KEYS:
            conv = _nonneg_duration if key == "keep_resolved_for" else _pos_duration
            timing[key] = ctx.get(g, key, gwhere, conv, timing[key])
        rules_raw = g.get("rules")
        if not isinstance(rules_raw, LocatedList):
            ctx.err(g.line_of("rules"), gwhere, "rules: expected a list of rules")
            continue
        for ri, r in enumerate(rules_raw):
            rwhere = f"{gwhere} rules[{ri}]"
            if not isinstance(r, LocatedMap):
                ctx.err(rules_raw.line_of(ri), rwhere, "expected a mapping")
                continue
            rule = _parse_rule(ctx, r, rwhere, name, glabels, timing)
            if rule is not None:
                rules.append(rule)
    seen: dict[str, Rule] = {}
    for rule in rules:
        other = seen.get(rule.key)
        if other is not None:
            line = int(rule.origin.rsplit(":", 1)[1])
            ctx.err(line, f"rule {rule.alert!r}", f"same name and labels as the rule at "
                    f"{other.origin}; give it different labels")
        seen[rule.key] = rule
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
    if ctx.found:
        raise RuleError(ctx.problems)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return RuleSet(tuple(rules), tuple(inhibit), digest, source, tuple(group_names),
                   MappingProxyType(seen))


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rule file; RuleError lists every problem (file:line: ...)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RuleError([f"{p}:0: cannot read: {e}"]) from None
    return parse_rules(text, str(p))
