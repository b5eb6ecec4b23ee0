"""`kind: rate`: the per-second change of a metric.

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
    ("kind: rate\n        above: 1", "missing metric"),
    ("kind: rate\n        metric: x\n        above: 1\n        window: 5m",
     "unknown key 'window'"),
]


class TestRateProblems:
    """What the rate parser refuses, each problem naming what is wrong."""

    @pytest.mark.parametrize(("rule", "fragment"), PROBLEMS)
    def test_problems(self, rule: str, fragment: str) -> None:
        """A bad rate rule is refused with the reason."""
        ps = kind_problems(rule)
        assert any(fragment in p for p in ps), ps


class TestRate:
    """The per-second change between a point and its previous sample."""

    RULE = ("      - alert: R\n        kind: rate\n        metric: c\n        above: 1\n"
            "        counter: {counter}\n")

    def test_rate_per_second(self) -> None:
        """The rate is (value - prev) / elapsed seconds of the point."""
        host = Host(rules(self.RULE.format(counter="false")))
        host.batch(10, point("c", 100, 10, prev=(0, 85)))  # 1.5/s
        assert host.sent[0]["value"] == pytest.approx(1.5)
        host.batch(20, point("c", 105, 20, prev=(10, 100)))  # 0.5/s
        assert states(host) == [("firing", 10), ("resolved", 20)]

    def test_counter_reset_is_no_data(self) -> None:
        """A counter that goes down was reset: no rate, no transition."""
        host = Host(rules(self.RULE.format(counter="true")))
        host.batch(10, point("c", 100, 10, prev=(0, 50)))
        host.batch(20, point("c", 3, 20, prev=(10, 100)))
        assert states(host) == [("firing", 10)]

    def test_negative_rate_without_counter(self) -> None:
        """Without `counter`, a decrease is a negative rate (fires a below rule)."""
        host = Host(rules(self.RULE.format(counter="false").replace("above: 1", "below: -1")))
        host.batch(20, point("c", 3, 20, prev=(10, 100)))
        assert host.sent[0]["value"] == pytest.approx(-9.7)

    def test_first_sample_has_no_rate(self) -> None:
        """Without a previous sample there is nothing to compare."""
        host = Host(rules(self.RULE.format(counter="false")))
        host.batch(0, point("c", 1e9, 0))
        assert host.sent == []
