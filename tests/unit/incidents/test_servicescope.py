"""Service incidents: alerts of service rules across a fleet, with ranked suspects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from streams.core.timefmt import ms_to_rfc3339
from streams.incidents import Correlator, CorrelatorConfig, route_event, routes_for

from .builders import MIN, T0, alert, by_status, series

Check = Callable[[dict[str, Any]], None]


def svc(host: str, ts: int, signal: str, *, rule: str | None = None, status: str = "firing",
        start: int | None = None, topo: dict[str, str] | None = None) -> dict[str, Any]:
    """An alert of a service rule (a `signal` label); each pod has its own rack, as the
    pods of a Kubernetes fleet converted with a rack per pod do."""
    ev = alert(host, ts, rule=rule or f"{signal}_anomaly", severity="warning", status=status,
               rack=host, labels={"signal": signal}, topo=topo)
    ev["alert"]["starts_at"] = ms_to_rfc3339(start if start is not None else ts)
    return ev


def play(c: Correlator, events: list[dict[str, Any]], end: int,
         roundtrip: bool = False) -> list[dict[str, Any]]:
    """Events routed as the worker routes them, one state per key, then a final tick."""
    states: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for e in events:
        for key in routes_for(e, c.config):
            out += c.on_event(states.setdefault(key, {}), route_event(e, key))
            if roundtrip:
                states[key] = orjson.loads(orjson.dumps(states[key]))
    for key in sorted(states):
        out += c.tick(states[key], end)
    return out


def cart_fault(t: int = T0) -> list[dict[str, Any]]:
    """cart saturates; in the same sample its callers' calls slow down, and front's own
    latency rises with them."""
    return [svc("frontend", t, "calls"), svc("frontend", t, "latency"),
            svc("checkout", t, "calls"), svc("cart", t, "saturation"),
            svc("cart", t, "latency")]


class TestServiceIncident:
    """One incident across the fleet, its suspects best first."""

    def test_one_incident_with_the_callee_first(self, check_incident: Check) -> None:
        """Five alerts on three pods (three racks): one service incident, cart first."""
        out = play(Correlator(), cart_fault(), T0 + 60 * MIN)
        for m in out:
            check_incident(m)
        assert {m["scope"] for m in out} == {"service"}
        assert len({m["incident_id"] for m in out}) == 1
        opened = by_status(out, "open")[0]
        assert opened["scope_value"] == "fleet"
        assert opened["suspects"][0]["host"] == "cart"
        assert opened["suspect"] == "host cart"
        assert sorted(opened["hosts"]) == ["cart", "checkout", "frontend"]
        assert "cart" in opened["root_cause_hint"]

    def test_published_after_the_service_grace(self) -> None:
        """Held back service_grace_ms (event time) so same-sample alerts are all in it."""
        c = Correlator(CorrelatorConfig(service_grace_ms=30_000))
        st: dict[str, Any] = {}
        assert c.on_event(st, svc("cart", T0, "saturation")) == []
        assert c.on_event(st, svc("front", T0 + 10_000, "calls")) == []
        out = c.tick(st, T0 + 30_000)
        assert [m["status"] for m in out] == ["open"]
        assert [s["host"] for s in out[0]["suspects"]] == ["cart", "front"]

    def test_domain_from_the_cluster_label(self) -> None:
        """A `cluster` topology label bounds the domain; without one it is the fleet."""
        assert routes_for(svc("a", T0, "errors", topo={"cluster": "eu1"})) == ["service=eu1"]
        assert routes_for(svc("a", T0, "errors")) == ["service=fleet"]
        out = play(Correlator(), [svc("a", T0, "errors", topo={"cluster": "eu1"}),
                                  svc("b", T0, "errors", topo={"cluster": "us2"})],
                   T0 + 60 * MIN)
        assert sorted({m["scope_value"] for m in out}) == ["eu1", "us2"]

    def test_alerts_without_a_signal_stay_host_incidents(self) -> None:
        """Rules without a `signal` label keep the host and rack behaviour."""
        out = play(Correlator(), [alert("g1", T0, rule="cpu_high", rack="r1")], T0 + 60 * MIN)
        assert {m["scope"] for m in out} == {"host"}
        assert "suspects" not in out[0]


class TestBursts:
    """Trouble starting long after the last start is a new incident."""

    def test_later_trouble_is_a_new_incident(self) -> None:
        """Ten minutes later, another service: a second incident with its own suspects."""
        events = [*cart_fault(), svc("payment", T0 + 10 * MIN, "saturation")]
        out = play(Correlator(), events, T0 + 60 * MIN)
        opened = by_status(out, "open")
        assert len(opened) == 2
        assert [o["suspects"][0]["host"] for o in opened] == ["cart", "payment"]

    def test_a_new_episode_on_a_member_is_a_new_burst(self) -> None:
        """cart's alert fires again (a new episode) ten minutes on: a new incident."""
        events = [svc("cart", T0, "saturation", rule="cpu"),
                  svc("cart", T0 + 2 * MIN, "saturation", rule="cpu", status="resolved"),
                  svc("cart", T0 + 10 * MIN, "saturation", rule="cpu")]
        out = play(Correlator(), events, T0 + 60 * MIN)
        assert len(by_status(out, "open")) == 2

    def test_a_slower_rule_on_trouble_that_goes_on_joins(self) -> None:
        """cart's CPU anomaly still fires when its CPU-high rule (`for` 3m) fires five
        minutes on: the same trouble, the same incident."""
        events = [svc("cart", T0, "saturation", rule="cpu_anomaly"),
                  svc("cart", T0 + 5 * MIN, "saturation", rule="cpu_high")]
        assert len(by_status(play(Correlator(), events, T0 + 60 * MIN), "open")) == 1

    def test_an_old_alert_still_firing_holds_nothing(self) -> None:
        """A memory level shift that fires for half an hour does not pull cart's new CPU
        trouble into that old incident."""
        events = [svc("cart", T0, "saturation", rule="mem_anomaly"),
                  svc("cart", T0 + 30 * MIN, "saturation", rule="cpu_anomaly")]
        assert len(by_status(play(Correlator(), events, T0 + 60 * MIN), "open")) == 2

    def test_a_resend_stays_in_its_incident(self) -> None:
        """A re-send of a firing alert (same start) is not new trouble."""
        events = [svc("cart", T0, "saturation", rule="cpu"),
                  svc("cart", T0 + 20 * MIN, "saturation", rule="cpu", start=T0)]
        out = play(Correlator(), events, T0 + 60 * MIN)
        assert len(by_status(out, "open")) == 1

    def test_quiet_incident_resolves(self) -> None:
        """Once its alerts resolve, the incident resolves a window later."""
        c = Correlator()
        events = [svc("cart", T0, "saturation", rule="cpu"),
                  svc("cart", T0 + 3 * MIN, "saturation", rule="cpu", status="resolved")]
        out = play(c, events, T0 + 3 * MIN + c.config.window_ms)
        assert [m["status"] for m in out] == ["open", "resolved"]


class TestRestartsAndLearning:
    """State round trips and the learned graph."""

    def test_round_trip_gives_the_same_messages(self) -> None:
        """Writing the state to JSON after every event changes nothing."""
        events = cart_fault() + cart_fault(T0 + 10 * MIN)
        assert play(Correlator(), events, T0 + 60 * MIN) == \
            play(Correlator(), events, T0 + 60 * MIN, roundtrip=True)

    def test_edges_learned_from_calls_slowing_with_a_callee(self) -> None:
        """front's calls slow down with cart's trouble, again and again: front -> cart."""
        c = Correlator()
        st: dict[str, Any] = {}
        for i in range(3):
            t = T0 + 20 * i * MIN
            c.on_event(st, svc("cart", t, "latency", rule=f"lat{i}"))
            c.on_event(st, svc("front", t, "calls", rule=f"calls{i}"))
        assert st["cg"]["front"]["cart"] == 3.0
        assert "cart" not in st["cg"]


class TestEvidence:
    """What moved on the suspects' dashboards travels with the incident."""

    def test_changed_series_of_the_members(self) -> None:
        """cart's error log rate jumps in the last minute; its steady CPU is not listed."""
        ctx = {"series": {
            "log.errors_per_s": series([(0.0, 0.1, 0.02)] * 8 + [(1.0, 2.0, 1.5)], T0 - 8 * MIN),
            "cpu.usage": series([(0.3, 0.3, 0.3)] * 9, T0 - 8 * MIN),
            "serving.server_latency_p99_s": series([(0.1, 0.1, 0.1)] * 8 + [(0.4, 0.4, 0.4)],
                                                   T0 - 8 * MIN)},
            "recent_faults": {}}
        ev = svc("cart", T0, "errors")
        ev["context"] = ctx
        out = play(Correlator(), [ev], T0 + 60 * MIN)
        changes = by_status(out, "open")[0]["evidence"]["changes"]["cart"]
        assert list(changes) == ["log.errors_per_s", "serving.server_latency_p99_s"]
        assert changes["log.errors_per_s"] == [0.02, 1.5]


class TestTraces:
    """`traces` events teach the service state who is on whose request path."""

    def test_trace_events_build_edges(self) -> None:
        """front logs two sampled ids, cart logs them a little later: front -> cart."""
        c = Correlator()
        st: dict[str, Any] = {}
        for i, host in enumerate(("front", "cart", "front", "cart")):
            ev = {"kind": "traces", "ts": T0 + i * MIN, "host": host, "labels": {},
                  "traces": [[f"h{i // 2}", T0 + i * MIN]]}
            assert routes_for(ev) == ["service=fleet"]
            assert c.on_event(st, route_event(ev, "service=fleet")) == []
        assert st["cg"] == {"front": {"cart": 2.0}}


class TestBigFleets:
    """An incident across many services names at most ten suspects."""

    def test_suspects_are_capped(self) -> None:
        """Thirty services in trouble at once: ten suspects, all thirty counted."""
        events = [svc(f"s{i:02d}", T0, "latency") for i in range(30)]
        opened = by_status(play(Correlator(), events, T0 + 60 * MIN), "open")[0]
        assert len(opened["suspects"]) == 10
        assert opened["evidence"]["services"] == 30
        assert len(opened["hosts"]) == 30
