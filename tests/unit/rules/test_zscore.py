"""`kind: zscore`: how far a point lies from its series' EWMA.

Its parser's problems, then its conditions stepped through time explicitly.
"""

from __future__ import annotations

import pytest

from tests.unit.rules.helpers import (
    Host,
    kind_problems,
    point,
    rules,
    states,
)

PROBLEMS = [
    ("kind: zscore\n        metric: x\n        below: 3", "only supports above"),
]


class TestZScoreProblems:
    """What the zscore parser refuses, each problem naming what is wrong."""

    @pytest.mark.parametrize(("rule", "fragment"), PROBLEMS)
    def test_problems(self, rule: str, fragment: str) -> None:
        """A bad zscore rule is refused with the reason."""
        ps = kind_problems(rule)
        assert any(fragment in p for p in ps), ps


class TestZScore:
    """The EW z-score of a point against its series' spread."""

    RULE = ("      - alert: Z\n        kind: zscore\n        metric: m\n        above: 3\n"
            "        clear: 2\n        direction: {direction}\n        min_std: {min_std}\n")

    @pytest.mark.parametrize(("direction", "value", "fires"), [
        ("both", 14, True), ("both", 6, True), ("up", 6, False), ("down", 6, True),
        ("up", 14, True), ("both", 12, False),
    ])
    def test_direction(self, direction: str, value: float, fires: bool) -> None:
        """|value - ewma| / sqrt(ewvar) against N, one- or two-sided."""
        host = Host(rules(self.RULE.format(direction=direction, min_std=0)))
        host.batch(0, point("m", value, 0, ewma=10, ewvar=1.0))
        assert bool(host.sent) is fires

    def test_no_spread_is_no_data(self) -> None:
        """A series' first sample (ewvar 0) gives no score."""
        host = Host(rules(self.RULE.format(direction="both", min_std=0)))
        host.batch(0, point("m", 1e6, 0, ewma=10, ewvar=0.0))
        assert host.sent == []

    def test_min_std_floors_the_spread(self) -> None:
        """min_std keeps a flat series from turning noise into huge z-scores."""
        host = Host(rules(self.RULE.format(direction="both", min_std=5)))
        host.batch(0, point("m", 20, 0, ewma=10, ewvar=0.01))  # z = 2 with the floor
        assert host.sent == []

    def test_hysteresis_on_z(self) -> None:
        """A z-score alert clears below `clear`, not below the fire threshold."""
        host = Host(rules(self.RULE.format(direction="both", min_std=0)))
        for t, v in [(0, 14), (10, 12.5), (20, 11.9)]:
            host.batch(t, point("m", v, t, ewma=10, ewvar=1.0))
        assert states(host) == [("firing", 0), ("resolved", 20)]
        assert host.sent[0]["value"] == pytest.approx(4.0)
