"""Properties of the correlator over random event streams: determinism, independence of
tick cadence, restart safety and a well-formed message lifecycle."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.incidents import Correlator, CorrelatorConfig, FaultModel

from .builders import MIN, T0, alert, fault, silent

HOSTS = [f"h{i}" for i in range(7)]
MODEL = FaultModel(intercept=-2.0, coefficients={"faults_gpu": 1.0})
CONFIG = CorrelatorConfig(window_ms=5 * MIN, grace_ms=40_000, fault_lookback_ms=10 * MIN)


@st.composite
def streams_of_events(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 30))
    ts = T0
    events: list[dict[str, Any]] = []
    for _ in range(n):
        ts += draw(st.sampled_from([0, 1_000, 20_000, 50_000, 2 * MIN, 7 * MIN]))
        host = draw(st.sampled_from(HOSTS))
        rack = "r0" if host < "h4" else "r1"
        topo = {"job": "j1"} if draw(st.booleans()) else {}
        kind = draw(st.sampled_from(["alert", "resolve", "fault", "nccl", "silent", "svc",
                                     "svc_resolve", "traces"]))
        if kind == "traces":  # trace ids sampled from a host's logs
            events.append({"kind": "traces", "ts": ts, "host": host, "labels": {},
                           "traces": [[draw(st.sampled_from(["t1", "t2"])), ts]]})
        elif kind in ("svc", "svc_resolve"):  # a service rule's alert (a `signal` label)
            events.append(alert(host, ts, rack=host, severity="warning",
                                rule=draw(st.sampled_from(["lat", "cpu"])),
                                labels={"signal": draw(st.sampled_from(["latency", "calls"]))},
                                status="firing" if kind == "svc" else "resolved"))
        elif kind in ("alert", "resolve"):
            events.append(alert(host, ts, rack=rack, topo=topo,
                                rule=draw(st.sampled_from(["cpu", "mem"])),
                                severity=draw(st.sampled_from(["critical", "warning"])),
                                status="firing" if kind == "alert" else "resolved"))
        elif kind == "fault":
            events.append(fault(host, ts, draw(st.sampled_from(["gpu_xid_79", "mce"])),
                                rack=rack, topo=topo, labels={"gpu": "1"}))
        elif kind == "nccl":
            events.append(fault(host, ts, "nccl_timeout", rack=rack, topo=topo))
        else:
            events.append(silent(host, ts, rack=rack))
    return events


def play(events: list[dict[str, Any]], ticks: list[int] | None = None, *,
         roundtrip: bool = False) -> list[dict[str, Any]]:
    """Events in order; `ticks[i]` (if given) is a tick just before event i."""
    c = Correlator(CONFIG, MODEL)
    state: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    for i, e in enumerate(events):
        if ticks is not None:
            out += c.tick(state, ticks[i])
        out += c.on_event(state, e)
        if roundtrip:
            state = orjson.loads(orjson.dumps(state))
    out += c.tick(state, events[-1]["ts"] + 10 * CONFIG.max_open_ms)
    return out


@st.composite
def events_with_ticks(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[int]]:
    events = draw(streams_of_events())
    ticks: list[int] = []
    prev = T0
    for e in events:
        ticks.append(draw(st.integers(prev, e["ts"])))
        prev = e["ts"]
    return events, ticks


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class TestCorrelatorProperties:
    """Determinism, tick independence, restarts and a well-formed lifecycle."""

    @FAST
    @given(streams_of_events())
    def test_same_input_same_output(self, events: list[dict[str, Any]]) -> None:
        """Deterministic: two runs over the same events publish identical messages."""
        assert play(events) == play(events)

    @FAST
    @given(events_with_ticks())
    def test_tick_cadence_changes_nothing(self,
                                          data: tuple[list[dict[str, Any]], list[int]]) -> None:
        """Ticks between events only change when messages leave, never what they say."""
        events, ticks = data
        assert play(events, ticks) == play(events)

    @FAST
    @given(streams_of_events())
    def test_state_json_round_trip_changes_nothing(self,
                                                   events: list[dict[str, Any]]) -> None:
        """The state reloaded from its JSON after every event behaves identically."""
        assert play(events, roundtrip=True) == play(events)

    @FAST
    @given(streams_of_events())
    def test_lifecycle_is_open_updates_resolved(self, events: list[dict[str, Any]]) -> None:
        """Each incident is opened once, maybe updated, resolved once, in that order, and
        every update really changes what the incident says."""
        seq: dict[str, list[dict[str, Any]]] = {}
        for m in play(events):
            seq.setdefault(m["incident_id"], []).append(m)
        for msgs in seq.values():
            statuses = [m["status"] for m in msgs]
            assert statuses[0] == "open"
            assert statuses[-1] == "resolved"
            assert statuses.count("open") == 1
            assert statuses.count("resolved") == 1
            times = [m["updated_at"] for m in msgs]
            assert times == sorted(times)
            for a, b in itertools.pairwise(msgs[:-1]):
                key = ("hosts", "alerts", "fault_classes", "suspect", "severity", "suspects")
                assert [a.get(k) for k in key] != [b.get(k) for k in key]

    @FAST
    @given(streams_of_events())
    def test_no_host_is_both_in_a_new_host_incident_and_its_rack_incident(
            self, events: list[dict[str, Any]]) -> None:
        """A host incident never opens for a host its open rack incident already holds."""
        open_racks: dict[str, set[str]] = {}
        for m in play(events):
            if m["scope"] == "rack":
                if m["status"] == "resolved":
                    open_racks.pop(m["scope_value"], None)
                else:
                    open_racks[m["scope_value"]] = set(m["hosts"])
            elif m["scope"] == "host" and m["status"] == "open":
                assert all(m["scope_value"] not in hosts for hosts in open_racks.values())
