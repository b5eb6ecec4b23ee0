"""Place (rack) incidents: what makes one, and the host incidents it takes over."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.incidents import Correlator

from .builders import MIN, T0, alert, by_status, fault, silent

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


class TestRackFailure:
    """Several hosts of a rack failing together make one rack incident."""

    def test_several_hosts_of_a_rack_make_one_rack_incident(
            self, make_correlator: Make, check_incident: Callable[[dict[str, Any]], None]
    ) -> None:
        """Four hosts of one rack going silent within the window give exactly one incident,
        on the rack, naming the rack as suspect, and no per-host incident at all."""
        c = make_correlator()
        events = [silent(h, T0 + i * 5_000) for i, h in enumerate(["a1", "a2", "a3", "a4"])]
        out = run(c, events, end=T0 + 60 * MIN)
        for m in out:
            check_incident(m)
        assert {m["scope"] for m in out} == {"rack"}
        assert len({m["incident_id"] for m in out}) == 1
        opened = by_status(out, "open")
        assert len(opened) == 1
        assert opened[0]["suspect"] == "rack r07"
        assert opened[0]["scope_value"] == "r07"
        assert opened[0]["severity"] == "critical"
        assert "went silent" in opened[0]["root_cause_hint"]
        assert len(by_status(out, "resolved")) == 1
        assert by_status(out, "resolved")[0]["hosts"] == ["a1", "a2", "a3", "a4"]

    def test_mixed_alerts_and_silence_name_the_rack(self, make_correlator: Make) -> None:
        """Alerts and silences from different hosts of one rack count together."""
        c = make_correlator()
        events = [alert("a1", T0, rule="gpu_temp_high", severity="warning"),
                  silent("a2", T0 + 10_000),
                  fault("a3", T0 + 20_000, "nic_link_down", severity="warning")]
        out = run(c, events)
        assert [(m["status"], m["scope"]) for m in out] == [("open", "rack")]
        assert out[0]["hosts"] == ["a1", "a2", "a3"]
        assert out[0]["fault_classes"] == ["nic_link_down"]
        assert len(out[0]["alerts"]) == 1
        assert out[0]["evidence"]["silent_hosts"] == ["a2"]

    def test_two_hosts_are_not_a_rack_incident(self, make_correlator: Make) -> None:
        """Below the threshold each host gets its own incident, after the grace period."""
        c = make_correlator()
        out = run(c, [alert("a1", T0), alert("a2", T0 + 1_000)], end=T0 + MIN)
        opened = by_status(out, "open")
        assert sorted(m["scope_value"] for m in opened) == ["a1", "a2"]
        assert {m["scope"] for m in opened} == {"host"}
        assert {m["suspect"] for m in opened} == {"host a1", "host a2"}

    def test_hosts_spread_beyond_the_window_stay_separate(self, make_correlator: Make) -> None:
        """Three hosts failing further apart than the window are not a rack failure."""
        c = make_correlator(window_ms=5 * MIN)
        events = [fault(h, T0 + i * 6 * MIN, "kernel_panic") for i, h in enumerate(["a1", "a2",
                                                                                    "a3"])]
        out = run(c, events, end=T0 + 60 * MIN)
        assert {m["scope"] for m in out} == {"host"}
        assert len(by_status(out, "open")) == 3

    def test_fraction_of_a_small_rack_is_enough(self, make_correlator: Make) -> None:
        """Two of a four-host rack (50 %) make a rack incident when the rack size is known."""
        c = make_correlator(rack_sizes={"r07": 4})
        out = run(c, [silent("a1", T0), silent("a2", T0 + 1_000)])
        assert [(m["status"], m["scope"]) for m in out] == [("open", "rack")]
        assert out[0]["evidence"]["rack_size"] == 4
        assert "2 of 4 hosts" in out[0]["root_cause_hint"]

    def test_fraction_needs_a_known_rack_size(self, make_correlator: Make) -> None:
        """Without a rack size, two hosts stay two host incidents."""
        c = make_correlator()
        out = run(c, [silent("a1", T0), silent("a2", T0 + 1_000)], end=T0 + MIN)
        assert {m["scope"] for m in out} == {"host"}

    def test_racks_do_not_mix(self, make_correlator: Make) -> None:
        """Hosts of different racks never add up to a rack incident."""
        c = make_correlator()
        events = [silent("a1", T0, rack="r1"), silent("b1", T0, rack="r2"),
                  silent("c1", T0, rack="r3")]
        out = run(c, events, end=T0 + MIN)
        assert {m["scope"] for m in out} == {"host"}

    def test_host_published_before_the_rack_formed_is_resolved_as_merged(
            self, make_correlator: Make) -> None:
        """A host incident already out (grace over) is resolved with a pointer to the rack."""
        c = make_correlator(grace_ms=30_000)
        events = [silent("a1", T0), silent("a2", T0 + 40_000), silent("a3", T0 + 50_000)]
        out = run(c, events)
        assert [(m["status"], m["scope"]) for m in out] == [
            ("open", "host"), ("open", "rack"), ("resolved", "host")]
        rack_id = out[1]["incident_id"]
        assert out[2]["evidence"]["merged_into"] == rack_id
        assert rack_id in out[2]["root_cause_hint"]
        assert out[1]["evidence"]["merged"] == [out[0]["incident_id"]]
        assert out[1]["opened_at"] == out[0]["opened_at"]

    def test_late_host_joins_the_open_rack_incident(self, make_correlator: Make) -> None:
        """A host of the rack failing while the rack incident is open updates it."""
        c = make_correlator()
        events = [silent(h, T0 + i * 1_000) for i, h in enumerate(["a1", "a2", "a3"])]
        events.append(alert("a4", T0 + 2 * MIN, rule="mem_high", severity="warning"))
        out = run(c, events, end=T0 + 3 * MIN)
        assert [(m["status"], m["scope"]) for m in out] == [("open", "rack"),
                                                            ("updated", "rack")]
        assert out[1]["hosts"] == ["a1", "a2", "a3", "a4"]
        assert out[0]["incident_id"] == out[1]["incident_id"]


class TestWhatMakesARack:
    """The same kind of trouble, not a coincidence of different ones."""

    def test_different_device_faults_are_a_coincidence(self, make_correlator: Make) -> None:
        """A disk error, an ECC error and an XID on three hosts are three host incidents."""
        c = make_correlator()
        events = [fault("a1", T0, "disk_io_error", severity="critical"),
                  fault("a2", T0 + 10_000, "gpu_xid_48", labels={"gpu": "1"}),
                  alert("a3", T0 + 20_000, rule="GpuTooHot", labels={"gpu": "0"})]
        out = run(c, events, end=T0 + 2 * MIN)
        assert {m["scope"] for m in out} == {"host"}
        assert len(by_status(out, "open")) == 3

    def test_the_same_device_problem_on_several_hosts_is_the_rack(
            self, make_correlator: Make) -> None:
        """Three hosts with the same GPU temperature alert: one rack incident, cooling."""
        c = make_correlator()
        events = [alert(h, T0 + i * 10_000, rule="GpuTooHot", severity="warning",
                        labels={"gpu": str(i)}) for i, h in enumerate(["a1", "a2", "a3"])]
        out = run(c, events)
        assert [(m["status"], m["scope"]) for m in out] == [("open", "rack")]
        assert out[0]["evidence"]["common"] == "GpuTooHot"
        assert "rack cooling" in out[0]["root_cause_hint"]

    def test_the_same_fault_class_on_several_hosts_is_the_rack(self,
                                                              make_correlator: Make) -> None:
        """Three hosts logging the same XID together point at what they share."""
        c = make_correlator()
        events = [fault(h, T0 + i * 5_000, "gpu_xid_79") for i, h in enumerate(["a1", "a2",
                                                                                  "a3"])]
        out = run(c, events)
        assert [(m["status"], m["scope"]) for m in out] == [("open", "rack")]
        assert "XID 79" in out[0]["root_cause_hint"]

    def test_network_faults_count_with_silences(self, make_correlator: Make) -> None:
        """Link-down faults and silences together are the rack's shared trouble."""
        c = make_correlator()
        events = [fault("a1", T0, "nic_link_down", severity="warning"), silent("a2", T0),
                  fault("a3", T0, "ib_error", severity="warning")]
        out = run(c, events)
        assert [(m["status"], m["scope"]) for m in out] == [("open", "rack")]
        assert "lost network links (1 went silent)" in out[0]["root_cause_hint"]
        assert "top-of-rack switch or its uplink" in out[0]["root_cause_hint"]

    def test_interface_alerts_are_network_trouble(self, make_correlator: Make) -> None:
        """Alerts on a network interface, on three hosts at once, point at the switch."""
        c = make_correlator()
        events = [alert(h, T0, rule="NicErrors", severity="warning",
                        labels={"interface": "eth0"}) for h in ("a1", "a2", "a3")]
        out = run(c, events)
        assert [(m["status"], m["scope"]) for m in out] == [("open", "rack")]
        assert "top-of-rack switch" in out[0]["root_cause_hint"]

    def test_nccl_alerts_are_symptoms(self, make_correlator: Make) -> None:
        """A log-rule alert about NCCL timeouts opens no host incident."""
        c = make_correlator()
        out = run(c, [alert("a1", T0, rule="FaultRepeated", severity="warning",
                            labels={"fault_class": "nccl_timeout"})], end=T0 + 60 * MIN)
        assert out == []


class TestNoRackNoPlace:
    """Hosts without a rack are in no shared place; a configured label can be one."""

    def test_rackless_hosts_failing_together_stay_apart(self, make_correlator: Make) -> None:
        """Three pods without a rack (or with the 'unknown' older agents send) silent
        within a minute: three host incidents, never a rack incident."""
        c = make_correlator()
        for rack in ("", "unknown"):
            events = [silent(h, T0 + i * 1_000, rack=rack) for i, h in enumerate("abc")]
            out = run(c, events, end=T0 + 60 * MIN)
            assert {m["scope"] for m in out} == {"host"}
            assert len(by_status(out, "open")) == 3

    def test_a_configured_place_label_groups_pods_by_node(self, make_correlator: Make) -> None:
        """place_labels=("node",): three pods of one node failing is a node incident."""
        c = make_correlator(place_labels=("node",))
        events = [alert(h, T0 + i * 1_000, rack="", topo={"node": "n7"})
                  for i, h in enumerate(("p1", "p2", "p3"))]
        opened = by_status(run(c, events, end=T0 + 60 * MIN), "open")
        assert [(m["scope"], m["scope_value"], m["suspect"]) for m in opened] == [
            ("node", "n7", "node n7")]
        assert "node n7" in opened[0]["root_cause_hint"]
