"""Shared helpers for the rule tests: build points, step a host through time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from streams.rules import Point, RuleEngine, RuleError, RuleSet, parse_rules

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def at(seconds: float) -> int:
    """Epoch ms of T0 + seconds."""
    return T0 + round(seconds * 1000)


def secs(rfc3339: str | None) -> float | None:
    """Seconds since T0 of an RFC 3339 time from a message (None stays None)."""
    if rfc3339 is None:
        return None
    t = datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return round((t.timestamp() * 1000 - T0) / 1000, 3)


def point(name: str, value: float, t: float, labels: Mapping[str, str] | None = None, *,
          ewma: float | None = None, wma: float | None = None, ewvar: float = 0.0,
          prev: tuple[float, float] | None = None) -> Point:
    """A Point at T0 + t seconds; smoothed values default to the raw value."""
    return Point(name, dict(labels or {}), at(t), value, value if ewma is None else ewma,
                 value if wma is None else wma, ewvar,
                 prev[1] if prev else None, at(prev[0]) if prev else None)


def rules(yaml_rules: str, inhibit: str = "") -> RuleSet:
    """A rule set from the body of one group's `rules:` list (indented by 6)."""
    text = "groups:\n  - name: test\n    rules:\n" + yaml_rules
    if inhibit:
        text += "inhibit_rules:\n" + inhibit
    return parse_rules(text, "test.yaml")


def kind_problems(rule: str) -> list[str]:
    """The problems of a file of one rule, `alert: A` followed by the lines of `rule`
    (indented by 8 after the first)."""
    text = f"groups:\n  - name: g\n    rules:\n      - alert: A\n        {rule}\n"
    with pytest.raises(RuleError) as e:
        parse_rules(text, "r.yaml")
    assert all(p.startswith("r.yaml:") for p in e.value.problems)
    return e.value.problems


class Host:
    """One host's rule state stepped through time; every step round-trips the state
    through orjson, as the changelog does, so persistence is tested everywhere."""

    def __init__(self, ruleset: RuleSet, name: str = "h1",
                 labels: Mapping[str, str] | None = None, roundtrip: bool = True) -> None:
        self.engine = RuleEngine(ruleset)
        self.name = name
        self.labels = dict(labels or {"rack": "r1"})
        self.state: dict[str, Any] = {}
        self.roundtrip = roundtrip
        self.sent: list[dict[str, Any]] = []

    def _after(self, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.roundtrip:
            self.state = orjson.loads(orjson.dumps(self.state))
        self.sent.extend(out)
        return out

    def batch(self, t: float, *points: Point) -> list[dict[str, Any]]:
        return self._after(self.engine.evaluate(self.state, self.name, self.labels,
                                                list(points), at(t)))

    def logs(self, t: float, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._after(self.engine.evaluate_logs(self.state, self.name, self.labels,
                                                     list(records), at(t)))

    def tick(self, t: float) -> list[dict[str, Any]]:
        return self._after(self.engine.tick(self.state, self.name, self.labels, at(t)))


def summary(msgs: Iterable[dict[str, Any]]) -> list[tuple[str, str, float | None, float | None]]:
    """(rule, status, starts_at s, updated_at s) per message: the shape tables compare."""
    return [(m["rule"], m["status"], secs(m["starts_at"]), secs(m["updated_at"])) for m in msgs]


class FakeAnomaly:
    """A stand-in for streams.anomaly: score = the last sample over `scale`, in [0, 1]."""

    class AnomalyParams:
        def __init__(self, scale: float = 100.0) -> None:
            self.scale = scale

    @staticmethod
    def new_state(params: FakeAnomaly.AnomalyParams | None = None) -> dict[str, Any]:
        return {"n": 0}

    @staticmethod
    def update(state: dict[str, Any], ts_ms: int, value: float,
               params: FakeAnomaly.AnomalyParams | None = None) -> float:
        state["n"] += 1
        scale = params.scale if params is not None else 100.0
        return min(1.0, max(0.0, value / scale))


def states(host: Host) -> list[tuple[str, float | None]]:
    """(status, updated_at s) of every message the host sent."""
    return [(m["status"], secs(m["updated_at"])) for m in host.sent]


def log_record(t: float, *, severity: str = "info", fault_class: str | None = None,
               template_id: str = "t1", labels: Mapping[str, str] | None = None,
               host: str = "h1", fault_source: str | None = None) -> dict[str, Any]:
    rec = {"schema": "rackwatch.log_record/v1", "host": host, "ts": at(t), "seq": 1,
           "message": "m", "severity": severity, "program": None, "pid": None,
           "template_id": template_id, "template": "m", "fault_class": fault_class,
           "labels": dict(labels or {})}
    if fault_source is not None:
        rec["fault_source"] = fault_source
    return rec
