"""A host's rule state as an earlier release wrote it to the changelog is read as it was.

data/state_v1.json was captured from the engine of 2026-12 (before the condition kinds
were split into modules) by playing `first_half` from an empty state and then
`second_half`: it holds the state after the first half and the messages of the second.
The state covers every kind's history (absence trackers, a detector's series, count and
burst windows), open, pending, resolved and muted alert entries and the rule cards.
Recapture it only when the state's form changes on purpose, with a new STATE_VERSION.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.rules import STATE_VERSION, anomaly_bridge
from tests.unit.rules.helpers import FakeAnomaly, Host, log_record, point, rules

CAPTURED = Path(__file__).with_name("data") / "state_v1.json"

RULES = """\
      - alert: Silent
        kind: absent
        duration: 1m
      - alert: GpuGone
        kind: absent
        metric: g.temp
        duration: 30s
        forget_after: 5m
      - alert: Hot
        kind: threshold
        metric: g.temp
        above: 80
        clear: 75
        for: 20s
      - alert: Io
        kind: threshold
        sum: [d.r, d.w]
        above: 100
        join: [dev]
        labels: {severity: critical}
      - alert: Retired
        kind: rate
        metric: g.pages
        counter: true
        above: 0
        keep_firing_for: 5m
      - alert: Z
        kind: zscore
        metric: c.u
        above: 3
        clear: 2
      - alert: X
        kind: anomaly
        metric: g.power
        above: 0.9
        clear: 0.5
        params: {scale: 50}
        forget_after: 10m
      - alert: Slow
        kind: all
        conditions:
          - {name: busy, metric: d.busy, above: 0.9}
          - {name: tput, sum: [d.r, d.w], below: 50}
        report: tput
        for: 30s
      - alert: Faults
        kind: log_count
        match: {fault_class: '*'}
        by: [fault_class]
        window: 60s
        at_least: 2
        clear: 1
      - alert: Burst
        kind: log_burst
        match: {severity: error}
        window: 60s
        baseline: 5m
        factor: 3
        min_count: 4
        warmup: 30s
"""
INHIBIT = """\
  - source_matchers: ['alertname="Hot"']
    target_matchers: ['alertname="X"']
    equal: [host, gpu]
"""


def _batch(host: Host, t: float, temp: dict[str, float], power: float, disk: dict[str, tuple[
        float, float, float]], cpu: float, pages: tuple[float, float] | None) -> None:
    pts = [point("g.temp", v, t, {"gpu": g}) for g, v in temp.items()]
    pts.append(point("g.power", power, t, {"gpu": "0"}))
    for dev, (busy, r, w) in disk.items():
        labels = {"dev": dev}
        pts += [point("d.busy", busy, t, labels), point("d.r", r, t, labels),
                point("d.w", w, t, labels)]
    pts.append(point("c.u", cpu, t, ewma=10, ewvar=1.0))
    if pages is not None:
        pts.append(point("g.pages", pages[1], t, {"gpu": "0"}, prev=(t - 10, pages[0])))
    host.batch(t, *pts)


def first_half(host: Host) -> None:
    """Alerts of every kind open, pending, resolved and muted; histories in every store."""
    _batch(host, 0, {"0": 85, "1": 50}, 10, {"sda": (0.95, 20, 10), "sdb": (0.2, 80, 40)},
           20, (0, 1))
    host.logs(2, [log_record(t, fault_class="gpu_xid_79") for t in (1, 2)]
              + [log_record(2, severity="error")])
    host.tick(10)
    _batch(host, 30, {"0": 86}, 49, {"sda": (0.95, 20, 15), "sdb": (0.2, 30, 10)}, 10.5,
           (1, 1))
    host.logs(40, [log_record(t, severity="error") for t in range(35, 41)]
              + [log_record(40, fault_class="disk_io_error")])
    host.tick(70)
    _batch(host, 100, {"0": 76}, 46, {"sda": (0.95, 20, 15), "sdc": (0.95, 5, 5)},
           14, None)
    host.logs(120, [log_record(120, fault_class="gpu_xid_13")])
    host.batch(120, point("g.temp", 82, 120, {"gpu": "2"}))
    host.tick(130)


def second_half(host: Host) -> None:
    """Resolves, re-sends, forgetting and silence, from the state the first half left."""
    host.logs(150, [log_record(150 + i * 0.5, severity="error") for i in range(12)])
    _batch(host, 160, {"0": 70}, 5, {"sda": (0.95, 10, 10), "sdb": (0.1, 90, 20)}, 10, (1, 3))
    host.tick(200)
    host.tick(400)
    _batch(host, 420, {"0": 90}, 48, {}, 10, (3, 3))
    host.tick(900)
    host.tick(2400)


@pytest.fixture
def fake_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """A detector whose state is stable across releases of streams.anomaly."""
    monkeypatch.setattr(anomaly_bridge, "load", lambda: FakeAnomaly)


def capture() -> dict[str, Any]:
    """What data/state_v1.json holds, computed with the engine of this tree."""
    host = Host(rules(RULES, INHIBIT))
    first_half(host)
    state = orjson.loads(orjson.dumps(host.state))  # the engine goes on to mutate it
    before = len(host.sent)
    second_half(host)
    return {"state": state, "messages": host.sent[before:]}


@pytest.mark.usefixtures("fake_detector")
class TestStoredState:
    """The changelog form of a host's rule state, as captured from an earlier release."""

    def test_state_is_written_in_the_captured_form(self) -> None:
        """The same inputs leave the same state, key for key, as the earlier engine."""
        stored = orjson.loads(CAPTURED.read_bytes())
        assert stored["state"]["v"] == STATE_VERSION
        host = Host(rules(RULES, INHIBIT))
        first_half(host)
        assert host.state == stored["state"]

    def test_captured_state_is_read_and_continued(self) -> None:
        """An engine given the earlier release's state sends what that release sent."""
        stored = orjson.loads(CAPTURED.read_bytes())
        host = Host(rules(RULES, INHIBIT))
        host.state = stored["state"]
        second_half(host)
        # The capture predates the removal of the always-null `incident_id` from alert
        # messages (alert/v1: an alert is sent before correlation; incidents list theirs).
        sent_then = [{k: v for k, v in m.items() if k != "incident_id"}
                     for m in stored["messages"]]
        assert host.sent == sent_then

    def test_capture_covers_every_store(self) -> None:
        """The captured state exercises what it claims to: every kind's history and
        every shape of alert entry (so the two tests above mean something)."""
        state = orjson.loads(CAPTURED.read_bytes())["state"]
        kinds = {d["k"] for d in state["d"].values()}
        assert kinds == {"absent", "anomaly", "log_count", "log_burst"}
        entries = [e for rs in state["a"].values() for e in rs.values()]
        shapes = {("c" in e and e["c"]["s"], "r" in e) for e in entries}
        assert {("f", False), (False, True), ("p", False)} <= shapes
        assert any(e.get("c", {}).get("an", 0) is None for e in entries)  # muted
        assert set(state["rc"]) == set(state["a"])
        assert {"seen", "lf", "rs"} <= state.keys()
        assert len(orjson.loads(CAPTURED.read_bytes())["messages"]) > 10
