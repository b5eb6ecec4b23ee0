"""Bounded state: unusable events counted, bounds kept, the state a plain JSON round trip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from streams.incidents import Correlator

from .builders import MIN, T0, alert, fault, silent

Make = Callable[..., Correlator]


def run(c: Correlator, events: list[dict[str, Any]], end: int | None = None,
        state: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    st: dict[str, Any] = {} if state is None else state
    out: list[dict[str, Any]] = []
    for e in events:
        out += c.on_event(st, e)
    if end is not None:
        out += c.tick(st, end)
    return out


class TestRobustness:
    """Bad events are counted; the state stays bounded and plain JSON."""

    @pytest.mark.parametrize("event", [
        {}, {"kind": "nope", "ts": 1, "host": "a"}, {"kind": "alert", "ts": 1, "host": "a"},
        {"kind": "fault", "ts": 1, "host": "a", "record": {"fault_class": None}},
        {"kind": "silent", "ts": "x", "host": "a"}, {"kind": "silent", "ts": 1},
    ])
    def test_unusable_events_are_counted_not_raised(self, make_correlator: Make,
                                                    event: dict[str, Any]) -> None:
        """A malformed correlation event is ignored and counted."""
        c = make_correlator()
        assert c.on_event({}, event) == []
        assert c.counters.ignored == 1

    def test_state_is_bounded(self, make_correlator: Make) -> None:
        """Many hosts, alerts and faults never grow the state past its bounds."""
        c = make_correlator(max_hosts=50, max_alerts=40, max_faults=30, rack_min_hosts=10_000)
        st: dict[str, Any] = {}
        for i in range(400):
            host = f"h{i}"
            c.on_event(st, fault(host, T0 + i * 100, "mce", rack=f"r{i}"))
            c.on_event(st, alert(host, T0 + i * 100, severity="info", rack=f"r{i}"))
            c.on_event(st, alert(host, T0 + i * 100 + 1, status="resolved", rack=f"r{i}"))
        c.tick(st, T0 + 400 * 100 + 60 * MIN)
        assert len(st["hosts"]) <= 50
        assert len(st["alerts"]) <= 40
        assert len(st["faults"]) <= 30
        assert st["inc"] == {}
        assert c.counters.evicted > 0

    def test_state_survives_a_json_round_trip(self, make_correlator: Make) -> None:
        """Reloading the state from JSON between events changes no output (changelog)."""
        events = [alert("a1", T0), silent("a2", T0 + 1_000), fault("a3", T0 + 70_000, "mce"),
                  alert("a1", T0 + 3 * MIN, status="resolved"), silent("b1", T0 + 4 * MIN,
                                                                        rack="r2")]
        plain = run(make_correlator(), events, end=T0 + 60 * MIN)
        c = make_correlator()
        st: dict[str, Any] = {}
        reloaded: list[dict[str, Any]] = []
        for e in events:
            reloaded += c.on_event(st, e)
            st = orjson.loads(orjson.dumps(st))
        reloaded += c.tick(st, T0 + 60 * MIN)
        assert reloaded == plain


class TestServiceState:
    """The service domain's learning stays bounded in time."""

    def test_old_trace_ids_are_forgotten(self, make_correlator: Make) -> None:
        """Ids older than trace_window_ms link nothing and leave the state."""
        c = make_correlator(trace_window_ms=5 * MIN)
        st: dict[str, Any] = {}
        c.on_event(st, {"kind": "traces", "ts": T0, "host": "a", "labels": {},
                        "traces": [["x1", T0]]})
        assert "x1" in st["tr"]
        c.tick(st, T0 + 20 * MIN)
        assert "tr" not in st
