"""`kind: absent`: no data for a while, of the host or of one series.

Its parser's problems, then its conditions stepped through time explicitly.
"""

from __future__ import annotations

import pytest

from tests.unit.rules.helpers import (
    Host,
    kind_problems,
    point,
    rules,
    secs,
    states,
    summary,
)

PROBLEMS = [
    ("kind: absent", "missing duration"),
    ("kind: absent\n        duration: 5m\n        forget_after: 1m\n        metric: x",
     "forget_after must exceed duration"),
]


class TestAbsentProblems:
    """What the absent parser refuses, each problem naming what is wrong."""

    @pytest.mark.parametrize(("rule", "fragment"), PROBLEMS)
    def test_problems(self, rule: str, fragment: str) -> None:
        """A bad absent rule is refused with the reason."""
        ps = kind_problems(rule)
        assert any(fragment in p for p in ps), ps


class TestAbsentHost:
    """No metric batch from the host for `duration`."""

    RULE = ("      - alert: Silent\n        kind: absent\n        duration: 1m\n"
            "        for: {for_}\n")

    def test_fires_duration_after_last_batch_and_resolves_on_data(self) -> None:
        """No evaluate() for `duration` fires at last-seen + duration; data resolves it."""
        host = Host(rules(self.RULE.format(for_="0s")))
        host.batch(0, point("m", 1, 0))
        host.tick(59)
        host.tick(95)
        host.tick(130)
        host.batch(140)
        assert summary(host.sent) == [("Silent", "firing", 60, 60),
                                      ("Silent", "resolved", 60, 140)]
        assert host.sent[0]["value"] == 60.0

    def test_for_adds_to_duration(self) -> None:
        """`for` on an absence rule delays firing further."""
        host = Host(rules(self.RULE.format(for_="30s")))
        host.batch(0)
        host.tick(80)
        assert host.sent == []
        host.tick(100)
        assert summary(host.sent) == [("Silent", "firing", 90, 90)]

    def test_unknown_host_is_not_silent(self) -> None:
        """A host never seen cannot be called silent."""
        host = Host(rules(self.RULE.format(for_="0s")))
        host.tick(10_000)
        assert host.sent == []


class TestAbsentSeries:
    """One series stops while its host goes on."""

    RULE = ("      - alert: GpuGone\n        kind: absent\n        metric: gpu.temperature\n"
            "        duration: 1m\n        forget_after: 10m\n")

    def test_missing_series_fires_and_returns(self) -> None:
        """A series that stops while others go on fires; its return resolves it."""
        host = Host(rules(self.RULE))
        host.batch(0, point("gpu.temperature", 50, 0, {"gpu": "0"}),
                   point("gpu.temperature", 50, 0, {"gpu": "1"}))
        host.batch(50, point("gpu.temperature", 50, 50, {"gpu": "0"}))
        host.tick(70)
        host.batch(90, point("gpu.temperature", 50, 90, {"gpu": "1"}))
        assert [(m["status"], m["labels"]["gpu"], secs(m["updated_at"]))
                for m in host.sent] == [("firing", "1", 60), ("resolved", "1", 90)]

    def test_forgotten_series_resolves(self) -> None:
        """A series gone for forget_after is taken as removed: resolved, then forgotten."""
        host = Host(rules(self.RULE))
        host.batch(0, point("gpu.temperature", 50, 0, {"gpu": "0"}))
        host.tick(61)
        host.tick(1000)
        assert states(host)[:2] == [("firing", 60), ("resolved", 600)]
        assert [m["status"] for m in host.sent[2:]] == ["resolved"]  # re-sent at 1000
        host.tick(2000)
        assert host.state["d"] == {}
