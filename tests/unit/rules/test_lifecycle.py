"""Alert lifecycle transitions, table-driven with explicit time steps.

Rule under test: above 10, clear 5 (hysteresis), with small timings so that every
transition shows up in a few steps. Steps are ("b", t, value) for a metric batch at
T0+t seconds and ("t", t) for a tick; the table lists every message sent, as
(status, starts_at s, updated_at s), and for resolves also ends_at.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.rules.helpers import Host, point, rules, secs

RULE = """\
      - alert: A
        kind: threshold
        metric: m
        above: 10
        clear: 5
        for: {for_}
        keep_firing_for: {kff}
        repeat_interval: 1m
        keep_resolved_for: 3m
        resend_resolved_every: 1m
        stale_after: 2m
"""

Step = tuple[Any, ...]

CASES: list[tuple[str, dict[str, str], list[Step], list[tuple[Any, ...]]]] = [
    ("for 0 fires on the first sample beyond the threshold",
     {}, [("b", 0, 11)], [("firing", 0, 0)]),
    ("equal to the threshold is not above it",
     {}, [("b", 0, 10)], []),
    ("pending becomes firing once `for` has elapsed",
     {"for_": "30s"}, [("b", 0, 11), ("b", 10, 11), ("b", 20, 11), ("b", 30, 11)],
     [("firing", 30, 30)]),
    ("a pending alert whose value drops below the fire threshold starts over",
     {"for_": "30s"}, [("b", 0, 11), ("b", 10, 9), ("b", 20, 11), ("b", 40, 11), ("b", 50, 11)],
     [("firing", 50, 50)]),
    ("a tick fires a pending alert at active_at + for, not at the tick's time",
     {"for_": "30s"}, [("b", 0, 11), ("t", 45)], [("firing", 30, 30)]),
    ("a sample after `for` elapsed fires at active_at + for (sample and hold)",
     {"for_": "30s"}, [("b", 0, 11), ("b", 25, 11), ("b", 50, 11)], [("firing", 30, 30)]),
    ("hysteresis: between clear and fire the alert stays firing",
     {}, [("b", 0, 11), ("b", 10, 7), ("b", 20, 6), ("b", 30, 9)], [("firing", 0, 0)]),
    ("at the clear threshold the alert resolves",
     {}, [("b", 0, 11), ("b", 10, 7), ("b", 20, 5)],
     [("firing", 0, 0), ("resolved", 0, 20, 20)]),
    ("a firing alert is re-sent every repeat_interval with its starts_at and updated_at",
     {}, [("b", t, 11) for t in range(0, 131, 10)],
     [("firing", 0, 0), ("firing", 0, 0), ("firing", 0, 0)]),
    ("re-sends also come from ticks",
     {}, [("b", 0, 11), ("b", 30, 11), ("t", 59), ("t", 60), ("t", 61)],
     [("firing", 0, 0), ("firing", 0, 0)]),
    ("a resolve is re-sent every minute and kept for keep_resolved_for",
     {}, [("b", 0, 11), ("b", 10, 1), ("t", 40), ("t", 70), ("t", 130), ("t", 189), ("t", 191),
          ("t", 260)],
     [("firing", 0, 0), ("resolved", 0, 10, 10), ("resolved", 0, 10, 10),
      ("resolved", 0, 10, 10)]),
    ("a new episode has a new starts_at (same fingerprint)",
     {}, [("b", 0, 11), ("b", 10, 1), ("b", 20, 11)],
     [("firing", 0, 0), ("resolved", 0, 10, 10), ("firing", 20, 20)]),
    ("a series that stops reporting resolves stale_after its last sample",
     {}, [("b", 0, 11), ("b", 10, 11), ("t", 500)],
     [("firing", 0, 0), ("resolved", 0, 130, 130)]),
    ("a sample after the stale gap resolves the old episode, then starts a new one",
     {}, [("b", 0, 11), ("b", 200, 11)],
     [("firing", 0, 0), ("resolved", 0, 120, 120), ("firing", 200, 200)]),
    ("keep_firing_for holds a cleared alert, then resolves it on time",
     {"kff": "30s"}, [("b", 0, 11), ("b", 10, 1), ("b", 20, 1), ("t", 50)],
     [("firing", 0, 0), ("resolved", 0, 40, 40)]),
    ("keep_firing_for restarts when the condition returns",
     {"kff": "30s"}, [("b", 0, 11), ("b", 10, 1), ("b", 20, 11), ("b", 30, 1), ("b", 50, 1),
                      ("b", 70, 1)],
     [("firing", 0, 0), ("resolved", 0, 60, 60)]),
    ("a sample older than the last one is ignored",
     {}, [("b", 10, 11), ("b", 5, 1)], [("firing", 10, 10)]),
    ("a pending alert whose series goes stale never fires",
     {"for_": "5m"}, [("b", 0, 11), ("t", 200), ("t", 400)], []),
]


@pytest.mark.parametrize(("name", "params", "steps", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_lifecycle(name: str, params: dict[str, str], steps: list[Step],
                   expected: list[tuple[Any, ...]]) -> None:
    """Every lifecycle transition happens at the documented event time."""
    rule = RULE.format(for_=params.get("for_", "0s"), kff=params.get("kff", "0s"))
    host = Host(rules(rule))
    for step in steps:
        if step[0] == "b":
            host.batch(step[1], point("m", step[2], step[1]))
        else:
            host.tick(step[1])
    got = []
    for m in host.sent:
        row: tuple[Any, ...] = (m["status"], secs(m["starts_at"]), secs(m["updated_at"]))
        if m["status"] == "resolved":
            row += (secs(m["ends_at"]),)
        else:
            assert m["ends_at"] is None
        got.append(row)
    assert got == expected
    assert len({m["fingerprint"] for m in host.sent}) <= 1


class TestStateSize:
    def test_inactive_series_leave_no_state(self) -> None:
        """Evaluating false conditions stores nothing per series."""
        host = Host(rules(RULE.format(for_="0s", kff="0s")))
        for t in range(0, 100, 10):
            host.batch(t, *(point("m", 1, t, {"i": str(i)}) for i in range(50)))
        assert host.state["a"] == {}
        assert host.state["d"] == {}

    def test_resolved_entries_expire(self) -> None:
        """After keep_resolved_for, nothing of a past alert remains."""
        host = Host(rules(RULE.format(for_="0s", kff="0s")))
        host.batch(0, *(point("m", 11, 0, {"i": str(i)}) for i in range(20)))
        host.batch(10, *(point("m", 1, 10, {"i": str(i)}) for i in range(20)))
        assert len(host.state["a"]["A:" + host.engine.rules.rules[0].key.split(":")[1]]) == 20
        host.tick(10 + 180)
        assert host.state["a"] == {}

    def test_churning_series_leave_nothing_behind(self) -> None:
        """Hundreds of series that fire and vanish cost nothing once resolved and expired."""
        import orjson

        from tests.unit.rules.helpers import log_record

        host = Host(rules(RULE.format(for_="0s", kff="0s") + """\
      - alert: L
        kind: log_count
        match: {fault_class: '*'}
        by: [fault_class]
        window: 1m
        at_least: 1
        keep_resolved_for: 1m
"""))
        for i in range(200):
            host.batch(i, point("m", 11, i, {"i": str(i)}))
            host.logs(i, [log_record(i, fault_class=f"f{i}")])
        assert len(host.state["a"]) == 2
        host.tick(200 + 120 + 180)  # stale, then resolved retention, log windows empty
        assert host.state["a"] == {}
        assert host.state["d"] == {}
        assert len(orjson.dumps(host.state)) < 120  # version, digest, clocks: nothing per series


class TestBench:
    def test_bench_measures_the_default_rules(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The benchmark runs the default rules over realistic batches and fires what it should."""
        from streams.rules import anomaly_bridge, default_rules
        from streams.rules.bench import METRICS, measure

        monkeypatch.setattr(anomaly_bridge, "load", lambda: None)
        quiet = measure(default_rules(), hosts=2, batches=3)
        assert quiet["points"] == 2 * 3 * len(METRICS)
        assert quiet["messages"] == 0
        assert quiet["us_per_point"] > 0
        hot = measure(default_rules(), hosts=2, batches=8, hot=True)
        assert hot["messages"] == 2  # GpuTooHot after a minute; CpuHigh needs 5
