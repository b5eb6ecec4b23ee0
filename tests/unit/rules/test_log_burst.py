"""`kind: log_burst`: a window's count against the host's own baseline.

Its parser's problems, then its conditions stepped through time explicitly.
"""

from __future__ import annotations

import pytest

from streams.rules import parse_rules
from streams.rules.model import LogBurstCond
from tests.unit.rules.helpers import (
    Host,
    kind_problems,
    log_record,
    rules,
    secs,
)

PROBLEMS = [
    ("kind: log_burst\n        window: 5m\n        baseline: 1m", "baseline must be at least"),
    ("kind: log_burst\n        window: 5m\n        factor: 2\n        clear_factor: 3",
     "clear_factor must not exceed factor"),
]


class TestLogBurstProblems:
    """What the log_burst parser refuses, each problem naming what is wrong."""

    @pytest.mark.parametrize(("rule", "fragment"), PROBLEMS)
    def test_problems(self, rule: str, fragment: str) -> None:
        """A bad log_burst rule is refused with the reason."""
        ps = kind_problems(rule)
        assert any(fragment in p for p in ps), ps


class TestLogBurstDefaults:
    """The knobs a burst rule leaves unset."""

    def test_burst_defaults(self) -> None:
        """A burst rule's unset knobs take documented defaults."""
        text = ("groups:\n  - name: g\n    rules:\n      - alert: B\n        kind: log_burst\n"
                "        window: 5m\n")
        cond = parse_rules(text).rules[0].condition
        assert isinstance(cond, LogBurstCond)
        assert (cond.baseline_ms, cond.factor, cond.min_count, cond.clear_factor,
                cond.warmup_ms) == (3_600_000, 5.0, 10.0, 2.0, 3_600_000)


class TestLogBurst:
    """A window's count against the host's own baseline."""

    RULE = ("      - alert: Burst\n        kind: log_burst\n        match: {severity: error}\n"
            "        window: 60s\n        baseline: 10m\n        factor: 4\n        min_count: 5\n"
            "        warmup: 5m\n")

    def steady(self, host: Host, start: int, end: int, every: int) -> None:
        for t in range(start, end, every):
            host.logs(t, [log_record(t, severity="error")])
            host.tick(t)

    def test_burst_against_own_baseline(self) -> None:
        """Fires when the window count exceeds factor x the host's usual count."""
        host = Host(rules(self.RULE))
        self.steady(host, 0, 1200, 20)  # 3 per minute for 20 minutes
        assert host.sent == []
        base = next(iter(host.state["d"].values()))["s"][""]["b"]
        assert base == pytest.approx(3, abs=0.5)
        host.logs(1200, [log_record(1200 + i * 0.1, severity="error") for i in range(15)])
        base = next(iter(host.state["d"].values()))["s"][""]["b"]  # as of the burst's slot
        assert [m["status"] for m in host.sent] == ["firing"]
        assert host.sent[0]["threshold"] == pytest.approx(4 * base)
        assert 4 * base < host.sent[0]["value"] <= 4 * base + 1

    def test_noisy_host_needs_a_bigger_burst(self) -> None:
        """The same burst on a host that always logs that much is normal."""
        host = Host(rules(self.RULE))
        self.steady(host, 0, 1200, 3)  # 20 per minute
        host.logs(1200, [log_record(1200 + i * 0.1, severity="error") for i in range(15)])
        assert host.sent == []

    def test_warmup(self) -> None:
        """No burst alert before the host has been watched for `warmup`."""
        host = Host(rules(self.RULE))
        host.logs(0, [log_record(i * 0.1, severity="error") for i in range(50)])
        assert host.sent == []

    def test_resolves_when_burst_ends(self) -> None:
        """The alert resolves as the window empties again."""
        host = Host(rules(self.RULE))
        host.logs(0, [log_record(0, severity="info")])
        host.tick(400)
        host.logs(400, [log_record(400 + i * 0.1, severity="error") for i in range(20)])
        host.tick(600)
        assert [m["status"] for m in host.sent] == ["firing", "resolved"]
        assert secs(host.sent[1]["updated_at"]) == 460
