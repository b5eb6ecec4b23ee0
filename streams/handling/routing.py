"""The routing tree: which owner (team or person) and priority a firing alert gets.

In the spirit of Alertmanager's `route`: a tree of routes, each with matchers on the
alert's labels (`match`: equality, `match_re`: anchored regular expressions, or
`matchers`: the `label op "value"` strings of rule files). An alert enters at the root
and descends into the first child that matches; `continue: true` on a child lets the
search go on to its next siblings, so one alert may match several routes. A route
without matching children handles the alert itself. The first route that handles the
alert gives its `assignee` and `priority` (what travels on alert/v1); all of them are
returned, for a caller that notifies each.

Children inherit what they do not set (assignee, priority, group_by, repeat_interval,
ack_timeout) from their parent, as in Alertmanager. The tree is plain data, loaded once
and used unchanged by the worker and by `rackwatch replay`: routing is a pure function
of the alert's labels, so replay assigns exactly as the live worker does.

The labels an alert is matched on are its own labels (topology, series, rule labels,
`alertname`, `host`) plus `severity` and `rule` (the rule name), so a route can say
`severity: critical` even where the rule did not copy it into its labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from streams.rules.fields import IDENT, Ctx, label_list, matcher_list, pos_duration, str_mapping
from streams.rules.matchers import Matcher
from streams.rules.model import RuleError
from streams.rules.yamlsafe import LocatedList, LocatedMap, YamlProblem, load_located

__all__ = ["DEFAULT_ROUTES_PATH", "PRIORITIES", "Route", "Routed", "RoutingError", "RoutingTree",
           "default_routing", "load_routing", "match_labels", "parse_routing"]

DEFAULT_ROUTES_PATH = Path(__file__).with_name("default_routes.yaml")
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
_ROUTE_KEYS = frozenset({"name", "assignee", "priority", "match", "match_re", "matchers",
                         "continue", "group_by", "repeat_interval", "ack_timeout", "routes"})
_TOP_KEYS = frozenset({"route"})
_ASSIGNEE = re.compile(r"[A-Za-z0-9_.@+-][A-Za-z0-9_.@+:/ -]*")
_ROOT_DEFAULTS = {"repeat_interval": "4h", "ack_timeout": "30m"}


class RoutingError(RuleError):
    """Every problem found in a routing file, each as "file:line: route: what"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.args = (f"{len(self.problems)} problem(s) in the routing tree:\n  "
                     + "\n  ".join(self.problems),)


@dataclass(frozen=True, slots=True)
class Route:
    """One node of the tree, with everything inherited already filled in."""

    name: str  # a path such as "root/2/0", or the route's own `name`
    assignee: str
    priority: str
    matchers: tuple[Matcher, ...]
    cont: bool
    group_by: tuple[str, ...]
    repeat_interval_ms: int  # an unacknowledged alert is escalated again this often
    ack_timeout_ms: int  # a firing alert not acknowledged this long is escalated
    routes: tuple[Route, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Every matcher holds (a missing label reads as "", as in Alertmanager)."""
        return all(m.test(labels.get(m.label, "")) for m in self.matchers)


@dataclass(frozen=True, slots=True)
class Routed:
    """What routing decided for one alert: the route that handles it, and its group."""

    route: Route
    group: str  # "rack=r07,rule=X": the alert's group under the route's group_by

    @property
    def assignee(self) -> str:
        return self.route.assignee

    @property
    def priority(self) -> str:
        return self.route.priority


def match_labels(alert: Mapping[str, Any]) -> dict[str, str]:
    """The labels a route sees for an alert/v1 message (see the module docstring)."""
    labels = {k: str(v) for k, v in (alert.get("labels") or {}).items()}
    labels.setdefault("severity", str(alert.get("severity") or ""))
    labels.setdefault("rule", str(alert.get("rule") or ""))
    labels.setdefault("alertname", str(alert.get("rule") or ""))
    if alert.get("host"):
        labels.setdefault("host", str(alert["host"]))
    return labels


def _group(route: Route, labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={labels.get(k, '')}" for k in route.group_by)


def _walk(route: Route, labels: Mapping[str, str], out: list[Routed]) -> None:
    """Alertmanager's descent: the first matching child (and, through `continue`, the
    siblings after it); a route whose children all miss handles the alert itself."""
    found = False
    for child in route.routes:
        if not child.matches(labels):
            continue
        found = True
        _walk(child, labels, out)
        if not child.cont:
            break
    if not found:
        out.append(Routed(route, _group(route, labels)))


@dataclass(frozen=True, slots=True)
class RoutingTree:
    """A validated tree; `source` names the file it came from."""

    root: Route
    source: str

    def routes_for(self, labels: Mapping[str, str]) -> list[Routed]:
        """Every route that handles an alert with these labels, first one first (never
        empty: the root handles what nothing below it takes)."""
        out: list[Routed] = []
        _walk(self.root, labels, out)
        return out

    def route(self, alert: Mapping[str, Any]) -> Routed:
        """The route that owns an alert/v1 message (the first of `routes_for`)."""
        return self.routes_for(match_labels(alert))[0]

    def assign(self, alert: Mapping[str, Any]) -> dict[str, Any]:
        """The alert with `assignee` and `priority` set (a new dict; the input is kept)."""
        r = self.route(alert)
        return {**alert, "assignee": r.assignee, "priority": r.priority}

    def walk(self) -> list[Route]:
        """Every route, depth first (for `rules check` and the docs)."""
        out: list[Route] = []
        stack = [self.root]
        while stack:
            r = stack.pop()
            out.append(r)
            stack.extend(reversed(r.routes))
        return out


def _assignee(v: Any) -> str:
    if not isinstance(v, str) or not _ASSIGNEE.fullmatch(v) or v != v.strip():
        raise ValueError(f"expected a team or person name such as 'gpu-oncall', got {v!r}")
    return v


def _priority(v: Any) -> str:
    if v not in PRIORITIES:
        raise ValueError(f"expected one of {', '.join(PRIORITIES)}, got {v!r}")
    return str(v)


def _boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def _matchers(ctx: Ctx, m: LocatedMap, where: str) -> tuple[Matcher, ...]:
    """`match`, `match_re` and `matchers` of one route, as one matcher tuple."""
    out: list[Matcher] = []
    if "match" in m:
        for label, value in str_mapping(ctx, m["match"], where, "match").items():
            out.append(Matcher(label, "=", value))
    if "match_re" in m:
        for label, value in str_mapping(ctx, m["match_re"], where, "match_re").items():
            try:
                out.append(Matcher(label, "=~", value, re.compile(value)))
            except re.error as e:
                ctx.err(m["match_re"].line_of(label), where,
                        f"match_re.{label}: bad regular expression {value!r}: {e}")
    out.extend(ctx.get(m, "matchers", where, matcher_list, ()))
    return tuple(out)


def _group_by(v: Any) -> tuple[str, ...]:
    names = label_list(v)
    for name in names:
        if not IDENT.fullmatch(name):
            raise ValueError(f"{name!r} is not a label name")
    return names


def _route(ctx: Ctx, m: Any, where: str, parent: Route | None, line: int) -> Route | None:
    """One route mapping, checked, with its parent's settings inherited."""
    if not isinstance(m, LocatedMap):
        ctx.err(line, where, f"expected a mapping, got {m!r:.60}")
        return None
    ctx.closed_keys(m, _ROUTE_KEYS, where)
    if parent is None:
        for key in ("match", "match_re", "matchers", "continue"):
            if key in m:
                ctx.err(m.line_of(key), where, f"{key}: the root route matches every alert")
        if "assignee" not in m:
            ctx.err(m.line, where, "assignee: the root route needs one (the default owner)")
    get = ctx.get
    base = parent or Route("root", "unassigned", "P3", (), False, (),
                           pos_duration(_ROOT_DEFAULTS["repeat_interval"]),
                           pos_duration(_ROOT_DEFAULTS["ack_timeout"]), ())
    name = get(m, "name", where, _assignee, where)
    node = Route(
        name=name,
        assignee=get(m, "assignee", where, _assignee, base.assignee),
        priority=get(m, "priority", where, _priority, base.priority),
        matchers=_matchers(ctx, m, where) if parent is not None else (),
        cont=get(m, "continue", where, _boolean, False),
        group_by=get(m, "group_by", where, _group_by, base.group_by),
        repeat_interval_ms=get(m, "repeat_interval", where, pos_duration,
                               base.repeat_interval_ms),
        ack_timeout_ms=get(m, "ack_timeout", where, pos_duration, base.ack_timeout_ms),
        routes=(),
    )
    if "routes" not in m:
        return node
    children = m["routes"]
    if not isinstance(children, LocatedList):
        ctx.err(m.line_of("routes"), where, f"routes: expected a list of routes, got "
                f"{children!r:.60}")
        return node
    kids = [_route(ctx, c, f"{where}/{i}", node, children.line_of(i))
            for i, c in enumerate(children)]
    return replace(node, routes=tuple(k for k in kids if k is not None))


def parse_routing(text: str, source: str = "<string>") -> RoutingTree:
    """Validate a routing file's text; RuleError lists every problem found, each as
    "file:line: route path: what"."""
    ctx = Ctx(source)
    try:
        data, duplicates = load_located(text)
    except YamlProblem as e:
        raise RoutingError([f"{source}:{e.line}: YAML: {e.message}"]) from None
    for line, key in duplicates:
        ctx.err(line, "mapping", f"duplicate key {key!r}")
    if not isinstance(data, LocatedMap) or "route" not in data:
        raise RoutingError([f"{source}:1: top level: expected a mapping with 'route'"])
    ctx.closed_keys(data, _TOP_KEYS, "top level")
    root = _route(ctx, data["route"], "root", None, data.line_of("route"))
    if ctx.found or root is None:
        raise RoutingError(ctx.problems or [f"{source}:1: route: missing"])
    return RoutingTree(root, source)


def load_routing(path: str | Path) -> RoutingTree:
    """Read and validate a routing file; RuleError lists every problem (file:line: ...)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RoutingError([f"{p}:0: cannot read: {e}"]) from None
    return parse_routing(text, str(p))


def default_routing() -> RoutingTree:
    """The tree shipped with rackwatch (every alert owned by `ops`, priority by severity)."""
    return load_routing(DEFAULT_ROUTES_PATH)
