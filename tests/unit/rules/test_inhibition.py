"""Inhibition as data: source matchers, target matchers, equal labels."""

from __future__ import annotations

from streams.rules import Point
from tests.unit.rules.helpers import Host, point, rules, summary

RULES = """\
      - alert: S
        kind: threshold
        metric: s
        above: 0
        labels: {severity: critical}
      - alert: T
        kind: threshold
        metric: t
        above: 0
        repeat_interval: 1m
"""
INHIBIT = """\
  - source_matchers: ['alertname="S"']
    target_matchers: ['severity="warning"']
    equal: [host, dev]
"""


def host() -> Host:
    return Host(rules(RULES, INHIBIT))


def s(t: float, v: float, dev: str = "a") -> Point:
    return point("s", v, t, {"dev": dev})


def tgt(t: float, v: float, dev: str = "a") -> Point:
    return point("t", v, t, {"dev": dev})


class TestInhibition:
    def test_target_is_muted_while_source_fires(self) -> None:
        """A target that starts firing under a firing source sends nothing."""
        h = host()
        h.batch(0, s(0, 1))
        h.batch(10, s(10, 1), tgt(10, 1))
        assert summary(h.sent) == [("S", "firing", 0, 0)]

    def test_muted_target_is_announced_when_source_resolves(self) -> None:
        """Once the source resolves, a still-firing target is announced, keeping starts_at."""
        h = host()
        h.batch(0, s(0, 1), tgt(0, 1))
        h.batch(10, s(10, 0), tgt(10, 1))
        assert summary(h.sent) == [("S", "firing", 0, 0), ("S", "resolved", 0, 10),
                                   ("T", "firing", 0, 10)]

    def test_muted_target_is_announced_on_tick(self) -> None:
        """A tick also announces a target whose source has gone."""
        h = host()
        h.batch(0, s(0, 1), tgt(0, 1))
        h.batch(10, s(10, 0))
        h.tick(20)
        assert summary(h.sent)[-1] == ("T", "firing", 0, 20)

    def test_resolve_of_an_inhibited_alert_is_still_sent(self) -> None:
        """An announced target that resolves while muted still sends its resolve."""
        h = host()
        h.batch(0, tgt(0, 1))
        h.batch(10, s(10, 1), tgt(10, 1))
        h.batch(20, s(20, 1), tgt(20, 0))
        assert summary(h.sent) == [("T", "firing", 0, 0), ("S", "firing", 10, 10),
                                   ("T", "resolved", 0, 20)]

    def test_episode_never_announced_resolves_silently(self) -> None:
        """A target muted for its whole episode leaves no trace downstream."""
        h = host()
        h.batch(0, s(0, 1), tgt(0, 1))
        h.batch(10, s(10, 1), tgt(10, 0))
        h.tick(2000)
        assert "T" not in {m["rule"] for m in h.sent}
        assert h.state["a"].keys() <= {h.engine.rules.rules[0].key}

    def test_resends_are_muted(self) -> None:
        """repeat_interval re-sends of an announced target stop while it is muted."""
        h = host()
        h.batch(0, tgt(0, 1))
        h.batch(10, s(10, 1), tgt(10, 1))
        for t in range(20, 200, 10):
            h.batch(t, s(t, 1), tgt(t, 1))
        assert [m["rule"] for m in h.sent] == ["T", "S"]

    def test_equal_labels_must_match(self) -> None:
        """A source on another device does not mute this device's target."""
        h = host()
        h.batch(0, s(0, 1, "a"), tgt(0, 1, "b"))
        assert [(m["rule"], m["labels"]["dev"]) for m in h.sent] == [("S", "a"), ("T", "b")]

    def test_target_matchers_must_match(self) -> None:
        """A critical alert is not a target of a warning-only inhibition."""
        h = Host(rules(RULES.replace("repeat_interval: 1m", "labels: {severity: critical}"),
                       INHIBIT))
        h.batch(0, s(0, 1), tgt(0, 1))
        assert [m["rule"] for m in h.sent] == ["S", "T"]

    def test_pending_source_does_not_inhibit(self) -> None:
        """Only a firing source mutes; a pending one does not."""
        h = Host(rules(RULES.replace("labels: {severity: critical}",
                                     "labels: {severity: critical}\n        for: 1m"), INHIBIT))
        h.batch(0, s(0, 1), tgt(0, 1))
        assert [m["rule"] for m in h.sent] == ["T"]


class TestSilentHost:
    def test_silent_host_mutes_its_other_alerts_and_they_resolve(self) -> None:
        """With the default inhibition, a silent host's stale alerts still resolve."""
        text = """\
      - alert: HostSilent
        kind: absent
        duration: 1m
      - alert: CpuHigh
        kind: threshold
        metric: cpu.usage
        above: 0.8
"""
        inhibit = ("  - source_matchers: ['alertname=\"HostSilent\"']\n"
                   "    target_matchers: ['alertname!=\"HostSilent\"']\n    equal: [host]\n")
        h = Host(rules(text, inhibit))
        h.batch(0, point("cpu.usage", 0.9, 0))
        h.tick(70)
        h.tick(400)
        assert summary(h.sent)[:3] == [("CpuHigh", "firing", 0, 0),
                                       ("HostSilent", "firing", 60, 60),
                                       ("CpuHigh", "resolved", 0, 300)]
