"""Reading correlation events, and routing them to per-rack and per-group states."""

from __future__ import annotations

from streams.incidents import route_event, routes_for
from streams.incidents.events import Signal, read_event

from .builders import T0, alert, fault, silent


def read(ev: dict[str, object]) -> Signal:
    sig = read_event(ev, ("job",))
    assert isinstance(sig, Signal), sig
    return sig


class TestReadEvent:
    """Correlation events read into signals, or the reason they cannot be."""

    def test_alert(self) -> None:
        """An alert event keeps fingerprint, severity, GPU and summary."""
        sig = read(alert("a1", T0, rule="gpu_temp", severity="warning", labels={"gpu": "2"},
                         summary="hot"))
        assert (sig.kind, sig.host, sig.rack, sig.gpu, sig.severity, sig.summary) == (
            "alert", "a1", "r07", "2", "warning", "hot")
        assert sig.affects_host and not sig.silent

    def test_resolved_and_info_alerts_affect_nothing(self) -> None:
        """Resolutions and info alerts do not make a host unwell."""
        assert not read(alert("a1", T0, status="resolved")).affects_host
        assert not read(alert("a1", T0, severity="info")).affects_host

    def test_silence_alert_rule_names(self) -> None:
        """A firing host-silent (absent / no data) alert marks the host silent."""
        assert read(alert("a1", T0, rule="host_silent")).silent
        assert read(alert("a1", T0, rule="metrics_absent")).silent
        assert not read(alert("a1", T0, rule="host_silent", status="resolved")).silent
        assert read(silent("a1", T0)).silent

    def test_fault_severity(self) -> None:
        """Critical classes or levels are critical; corrected/low-level ones are minor."""
        assert read(fault("a1", T0, "gpu_xid_79")).severity == "critical"
        assert read(fault("a1", T0, "oom_kill", severity="warning")).severity == "warning"
        assert read(fault("a1", T0, "disk_io_error", severity="critical")).severity == \
            "critical"
        minor = read(fault("a1", T0, "gpu_ecc_sbe"))
        assert minor.severity == "info" and not minor.affects_host
        nccl = read(fault("a1", T0, "nccl_timeout", severity="critical"))
        assert nccl.symptom and not nccl.affects_host and nccl.severity == "warning"

    def test_generic_and_novel_faults_open_nothing_alone(self) -> None:
        """A fault from the line's own words or a new template is minor (it feeds the
        context) unless the line itself is critical or worse; catalogue faults as before."""
        for source in ("generic", "novel"):
            sig = read(fault("a1", T0, "generic_storage", severity="error", source=source))
            assert sig.severity == "info" and not sig.affects_host
        fatal = read(fault("a1", T0, "generic_hardware", severity="critical", source="generic"))
        assert fatal.severity == "critical" and fatal.affects_host
        known = read(fault("a1", T0, "oom_kill", severity="error", source="catalogue"))
        assert known.severity == "warning" and known.affects_host

    def test_groups_from_topology_and_record_labels(self) -> None:
        """The job may come from the host's labels or from the log record's labels."""
        assert read(fault("a1", T0, "nccl_timeout", labels={"job": "j1", "rank": "3"})
                    ).groups == {"job": "j1"}
        sig = read(fault("a1", T0, "mce", topo={"job": "j2"}))
        assert sig.groups == {"job": "j2"}

    def test_reasons_for_unusable_events(self) -> None:
        """Each unusable event comes back as a reason string."""
        assert read_event([], ("job",)) == "not an object"
        assert "unknown kind" in str(read_event({"kind": "x", "ts": 1}, ()))
        assert "bad ts" in str(read_event({"kind": "silent", "ts": -1, "host": "a"}, ()))
        assert "without a host" in str(read_event({"kind": "silent", "ts": 1}, ()))


class TestRouting:
    """The state keys an event must reach."""

    def test_routes_are_the_rack_then_the_groups(self) -> None:
        """One key for the rack state, one per configured group the event belongs to."""
        ev = fault("a1", T0, "nccl_timeout", rack="r3", labels={"job": "j1"})
        assert routes_for(ev) == ["rack=r3", "job=j1"]
        assert routes_for(silent("a1", T0, rack="r3")) == ["rack=r3"]

    def test_a_host_without_a_place_is_in_no_shared_one(self) -> None:
        """No rack (or the `unknown` older agents send) is no place: the host's own state."""
        assert routes_for({"kind": "silent", "ts": 1, "host": "a"}) == ["host=a"]
        assert routes_for(silent("a1", T0, rack="unknown")) == ["host=a1"]
        assert read(silent("a1", T0, rack="unknown")).place is None

    def test_route_event_copies(self) -> None:
        """Routing adds the key to a copy and leaves the original alone."""
        ev = silent("a1", T0)
        routed = route_event(ev, "rack=r07")
        assert routed["route"] == "rack=r07"
        assert "route" not in ev
        assert read(routed).route == ("rack", "r07")
