"""`kind: anomaly`: the anomaly detector's score (or its fallback).

Its parser's problems, then its conditions stepped through time explicitly.
"""

from __future__ import annotations

import math

import pytest

from streams.rules import anomaly_bridge
from tests.unit.rules.helpers import (
    FakeAnomaly,
    Host,
    kind_problems,
    point,
    rules,
    states,
)

PROBLEMS = [
    ("kind: anomaly\n        metric: x\n        above: 0.9\n        params: [1]",
     "params: expected a mapping"),
]


class TestAnomalyProblems:
    """What the anomaly parser refuses, each problem naming what is wrong."""

    @pytest.mark.parametrize(("rule", "fragment"), PROBLEMS)
    def test_problems(self, rule: str, fragment: str) -> None:
        """A bad anomaly rule is refused with the reason."""
        ps = kind_problems(rule)
        assert any(fragment in p for p in ps), ps


class TestAnomaly:
    """The detector's score, or the z-score fallback without it."""

    RULE = ("      - alert: X\n        kind: anomaly\n        metric: m\n        above: 0.9\n"
            "        clear: 0.5\n")

    def test_fallback_is_ew_zscore_on_the_detector_scale(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without streams.anomaly the score is -log10(normal tail of z) / 10."""
        monkeypatch.setattr(anomaly_bridge, "load", lambda: None)
        host = Host(rules(self.RULE.replace("0.9", "0.5").replace("clear: 0.5", "clear: 0.2")))
        host.batch(0, point("m", 16, 0, ewma=10, ewvar=1.0))  # z=6: tail 2e-9 -> 0.87
        assert host.sent[0]["value"] == pytest.approx(-math.log10(math.erfc(6 / math.sqrt(2)))
                                                      / 10)
        host.batch(10, point("m", 12, 10, ewma=10, ewvar=1.0))  # z=2: tail .046 -> 0.13
        assert states(host) == [("firing", 0), ("resolved", 10)]
        assert host.state["d"] == {}  # the fallback keeps no per-series state

    def test_detector_module_is_called_with_state_and_params(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With a detector, its per-series state lives in the host's rule state."""
        monkeypatch.setattr(anomaly_bridge, "load", lambda: FakeAnomaly)
        host = Host(rules(self.RULE + "        params: {scale: 50}\n"))
        host.batch(0, point("m", 10, 0, {"gpu": "0"}), point("m", 10, 0, {"gpu": "1"}))
        host.batch(10, point("m", 48, 10, {"gpu": "0"}))
        assert states(host) == [("firing", 10)]
        assert host.sent[0]["value"] == pytest.approx(0.96)
        series = next(iter(host.state["d"].values()))["s"]
        assert series["gpu=0"]["d"] == {"n": 2}
        assert series["gpu=1"]["d"] == {"n": 1}

    def test_detector_state_expires(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A series unseen for forget_after loses its detector state."""
        monkeypatch.setattr(anomaly_bridge, "load", lambda: FakeAnomaly)
        host = Host(rules(self.RULE + "        forget_after: 10m\n"))
        host.batch(0, point("m", 10, 0))
        host.tick(599)
        assert host.state["d"]
        host.tick(600)
        assert host.state["d"] == {}

    def test_bad_params_are_reported(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Parameters the detector refuses are a rule error naming the rule, at load
        time when the detector is installed, else when an engine takes the rules."""
        from streams.rules import RuleEngine, RuleError

        monkeypatch.setattr(anomaly_bridge, "load", lambda: FakeAnomaly)
        with pytest.raises(RuleError, match="rule 'X': params"):
            rules(self.RULE + "        params: {nope: 1}\n")
        monkeypatch.setattr(anomaly_bridge, "load", lambda: None)
        bad = rules(self.RULE + "        params: {nope: 1}\n")  # not checkable here
        monkeypatch.setattr(anomaly_bridge, "load", lambda: FakeAnomaly)
        with pytest.raises(RuleError, match="rule 'X': params"):
            RuleEngine(bad)
        engine = RuleEngine(rules(self.RULE))
        good = engine.rules
        with pytest.raises(RuleError):
            engine.replace_rules(bad)
        assert engine.rules is good
