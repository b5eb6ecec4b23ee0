"""The routing tree: Alertmanager's descent, inheritance, validation, and the alerts it marks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.handling.routing import (
    DEFAULT_ROUTES_PATH,
    PRIORITIES,
    RoutingError,
    load_routing,
    match_labels,
    parse_routing,
)
from streams.rules.matchers import Matcher
from streams.runtime import Runtime

REPO = Path(__file__).resolve().parents[3]

TREE = """
route:
  assignee: ops
  priority: P3
  group_by: [rule, rack]
  ack_timeout: 30m
  routes:
    - match: {team: ml}
      assignee: ml-serving
      routes:
        - match: {severity: critical}
          priority: P1
          ack_timeout: 5m
    - match_re: {rack: "r0[0-9]"}
      assignee: hall-a
      continue: true
    - match: {severity: critical}
      priority: P1
      repeat_interval: 20m
"""

label_values = st.sampled_from(["", "ml", "infra", "r01", "r07", "r12", "critical",
                                "warning", "info"])
label_sets = st.dictionaries(st.sampled_from(["team", "rack", "severity", "model"]),
                             label_values, max_size=4)


def routed(tree_text: str, labels: dict[str, str]) -> list[tuple[str, str]]:
    tree = parse_routing(tree_text)
    return [(r.assignee, r.priority) for r in tree.routes_for(labels)]


class TestDescent:
    """An alert goes down the first matching child; `continue` lets later siblings match."""

    def test_first_matching_child_wins_and_children_refine_it(self) -> None:
        assert routed(TREE, {"team": "ml", "severity": "critical", "rack": "r03"}) == [
            ("ml-serving", "P1")]
        assert routed(TREE, {"team": "ml", "severity": "warning"}) == [("ml-serving", "P3")]

    def test_continue_adds_the_next_siblings(self) -> None:
        assert routed(TREE, {"rack": "r03", "severity": "critical"}) == [
            ("hall-a", "P3"), ("ops", "P1")]
        # a route matched (through continue): the parent does not take it as well
        assert routed(TREE, {"rack": "r03", "severity": "info"}) == [("hall-a", "P3")]

    def test_regex_is_anchored(self) -> None:
        """`r0[0-9]` must not take r012 or xr01."""
        assert routed(TREE, {"rack": "r012"}) == [("ops", "P3")]
        assert routed(TREE, {"rack": "xr01"}) == [("ops", "P3")]

    def test_nothing_matches_the_root_handles_it(self) -> None:
        assert routed(TREE, {}) == [("ops", "P3")]

    def test_children_inherit_timing_and_grouping(self) -> None:
        tree = parse_routing(TREE)
        crit = tree.routes_for({"severity": "critical", "rack": "r12", "rule": "X"})[0]
        assert crit.route.ack_timeout_ms == 30 * 60_000  # inherited from the root
        assert crit.route.repeat_interval_ms == 20 * 60_000  # its own
        assert crit.group == "rule=X,rack=r12"
        ml = tree.routes_for({"team": "ml", "severity": "critical"})[0]
        assert ml.route.ack_timeout_ms == 5 * 60_000

    @settings(max_examples=300, deadline=None)
    @given(labels=label_sets)
    def test_matches_a_reference_of_the_descent(self, labels: dict[str, str]) -> None:
        """Against a direct reading of the rules for this two-level tree."""
        team, rack, sev = (labels.get(k, "") for k in ("team", "rack", "severity"))
        if team == "ml":
            want = [("ml-serving", "P1" if sev == "critical" else "P3")]
        else:
            want = []
            hall = rack in {f"r0{i}" for i in range(10)}
            if hall:
                want.append(("hall-a", "P3"))
            if sev == "critical":
                want.append(("ops", "P1"))
            if not want:
                want.append(("ops", "P3"))
        assert routed(TREE, labels) == want

    @settings(max_examples=200, deadline=None)
    @given(labels=label_sets, value=label_values, op=st.sampled_from(["=", "!=", "=~", "!~"]))
    def test_a_leaf_matcher_decides_like_the_matcher_itself(
            self, labels: dict[str, str], value: str, op: str) -> None:
        """A one-child tree: the child takes the alert exactly when its matcher holds
        on the label (missing reads as empty), whatever the other labels are."""
        text = (f"route:\n  assignee: root\n  routes:\n"
                f"    - matchers: ['team{op}\"{value}\"']\n      assignee: child\n")
        import re

        m = Matcher("team", op, value, re.compile(value) if "~" in op else None)
        want = "child" if m.test(labels.get("team", "")) else "root"
        assert routed(text, labels)[0][0] == want

    @settings(max_examples=100, deadline=None)
    @given(labels=label_sets)
    def test_never_empty_and_deterministic(self, labels: dict[str, str]) -> None:
        tree = parse_routing(TREE)
        first = tree.routes_for(labels)
        assert first and first == tree.routes_for(dict(reversed(list(labels.items()))))
        assert all(r.priority in PRIORITIES for r in first)


class TestValidation:
    """A bad tree is refused with every problem named by line and route."""

    @pytest.mark.parametrize(("text", "needle"), [
        ("route:\n  assignee: a\n  priority: P9\n", "root: priority: expected one of P1"),
        ("route:\n  priority: P1\n", "root: assignee: the root route needs one"),
        ("route:\n  assignee: a\n  match: {x: y}\n", "root: match: the root route"),
        ("route:\n  assignee: a\n  routes:\n    - match_re: {rack: '('}\n",
         "root/0: match_re.rack: bad regular expression"),
        ("route:\n  assignee: a\n  routes:\n    - colour: red\n",
         "root/0: unknown key 'colour'"),
        ("route:\n  assignee: a\n  routes:\n    - match: {rack: 7}\n",
         "root/0: match.rack: expected a string (quote it)"),
        ("route:\n  assignee: a\n  ack_timeout: 5\n", "root: ack_timeout: expected a duration"),
        ("route:\n  assignee: a\n  routes: {}\n", "root: routes: expected a list"),
        ("route:\n  assignee: a\n  routes:\n    - continue: yes\n",
         "root/0: continue: expected true or false"),
        ("route:\n  assignee: a\n  group_by: [rack, rack]\n", "group_by: repeated label"),
        ("routes: []\n", "expected a mapping with 'route'"),
        ("route: [\n", "YAML"),
    ])
    def test_problem_is_named(self, text: str, needle: str) -> None:
        with pytest.raises(RoutingError) as e:
            parse_routing(text, "t.yaml")
        assert any(needle in p for p in e.value.problems), e.value.problems
        assert all(p.startswith("t.yaml:") for p in e.value.problems)

    def test_all_problems_at_once(self) -> None:
        text = "route:\n  priority: P0\n  routes:\n    - colour: red\n"
        with pytest.raises(RoutingError) as e:
            parse_routing(text, "t.yaml")
        assert len(e.value.problems) == 3

    @pytest.mark.parametrize("path", [DEFAULT_ROUTES_PATH,
                                      REPO / "deploy" / "routing" / "routes.yaml"])
    def test_shipped_trees_are_valid(self, path: Path) -> None:
        tree = load_routing(path)
        assert tree.route({"labels": {}, "severity": "critical", "rule": "X"}).priority == "P1"


class TestAlerts:
    """Alerts leave the runtime with an owner and a priority, as the tree says."""

    def test_match_labels_add_severity_and_rule(self) -> None:
        got = match_labels({"labels": {"rack": "r1"}, "severity": "warning", "rule": "R",
                            "host": "h"})
        assert got == {"rack": "r1", "severity": "warning", "rule": "R", "alertname": "R",
                       "host": "h"}

    def test_runtime_routes_every_alert(self) -> None:
        from streams.rules import parse_rules

        rules = parse_rules("groups:\n  - name: g\n    rules:\n"
                            "      - {alert: CpuHot, kind: threshold, metric: cpu.usage, "
                            "above: 0.5, labels: {severity: critical}}\n")
        tree = parse_routing(TREE)
        rt = Runtime(rules, check_wall_clock=False, routing=tree)
        states: dict[str, Any] = {}
        alerts, actions = [], []
        for i, (rack, value) in enumerate([("r03", 0.9), ("r12", 0.9)]):
            host = f"h{i}"
            batch = {"schema": "rackwatch.metrics/v1", "host": host, "ts": 1_700_000_000_000,
                     "seq": 1, "labels": {"rack": rack},
                     "samples": [{"name": "cpu.usage", "value": value}]}
            out = rt.on_metrics(orjson.dumps(batch), states.get, wall_ms=0)
            states[host] = out.state
            alerts += [orjson.loads(a) for _, a in out.alerts]
            actions += [orjson.loads(a) for _, a in out.actions]
        assert [(a["host"], a["assignee"], a["priority"]) for a in alerts] == [
            ("h0", "hall-a", "P3"), ("h1", "ops", "P1")]
        assert [(a["action"], a["assignee"], a["group"]) for a in actions] == [
            ("assigned", "hall-a", "rule=CpuHot,rack=r03"),
            ("assigned", "ops", "rule=CpuHot,rack=r12")]

    def test_default_tree_when_none_given(self) -> None:
        from streams.rules import parse_rules

        rules = parse_rules("groups:\n  - name: g\n    rules:\n"
                            "      - {alert: CpuHot, kind: threshold, metric: cpu.usage, "
                            "above: 0.5}\n")
        rt = Runtime(rules, check_wall_clock=False)
        batch = {"schema": "rackwatch.metrics/v1", "host": "h", "ts": 1_700_000_000_000,
                 "seq": 1, "labels": {"rack": "r1"},
                 "samples": [{"name": "cpu.usage", "value": 0.9}]}
        out = rt.on_metrics(orjson.dumps(batch), lambda h: None, wall_ms=0)
        (a,) = [orjson.loads(v) for _, v in out.alerts]
        assert a["assignee"] == "ops" and a["priority"] in PRIORITIES


class TestDemoTree:
    """The demo's tree gives a serving alert to the model's team, with a short ack time."""

    def test_serving_alert_goes_to_ml_serving(self) -> None:
        from rackwatch.demo import DEMO_ROUTES

        tree = load_routing(DEMO_ROUTES)
        r = tree.route({"labels": {"model": "llama", "rack": "r02"}, "severity": "warning",
                        "rule": "ServingLatencyHigh"})
        assert (r.assignee, r.priority, r.route.ack_timeout_ms) == ("ml-serving", "P2", 30_000)
        assert tree.route({"labels": {}, "severity": "critical", "rule": "CpuHigh"}).assignee \
            == "ops"


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(
    ["ops", "P1", "P7", "5m", "0", "(", "r0[0-9]", 'rack="r1"', "rack", "", "a b"]))
_keys = st.sampled_from(["route", "routes", "assignee", "priority", "match", "match_re",
                         "matchers", "continue", "group_by", "ack_timeout",
                         "repeat_interval", "name", "rack", "colour"])
_docs = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=5)), max_leaves=25)


class TestParserNeverCrashes:
    """Any YAML document is a tree or a list of problems, never another exception."""

    @settings(max_examples=300, deadline=None)
    @given(doc=_docs)
    def test_any_document(self, doc: object) -> None:
        import yaml

        text = yaml.safe_dump({"route": doc} if not isinstance(doc, dict) else doc)
        problems: list[str] = []
        try:
            tree = parse_routing(text, "f.yaml")
        except RoutingError as e:
            problems = e.problems
        if problems:
            assert all(p.startswith("f.yaml:") for p in problems)
        else:
            assert tree.route({"labels": {}, "severity": "info", "rule": "X"}).assignee
