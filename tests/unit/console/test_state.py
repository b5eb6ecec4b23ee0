"""The console's picture of the fleet: ordering, grouping, fading, worst severities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from console.state import (
    NO_GROUP,
    FleetState,
    alert_from_message,
    group_of,
    incident_from_message,
    rfc3339_ms,
    worst,
)
from tests.browser.fakes import alert_message, iso

T0 = 1_800_000_000_000


def alert(host: str = "r01-gpu05", rule: str = "GpuTooHot", severity: str = "critical",
          status: str = "firing", at: int = T0, fp: str = "fp1", gpu: str | None = "3",
          rack: str = "r01") -> dict[str, Any]:
    return alert_from_message(alert_message(host, rack, rule, severity, status, at,
                                            fingerprint=fp, gpu=gpu, started_ms=T0))


def incident(iid: str = "inc-1", status: str = "open", at: int = T0) -> dict[str, Any]:
    return incident_from_message({
        "schema": "rackwatch.incident/v1", "incident_id": iid, "status": status,
        "scope": "host", "scope_value": "r01-gpu05", "suspect": "host r01-gpu05 gpu 3",
        "root_cause_hint": "XID 48", "fault_probability": 0.9, "hosts": ["r01-gpu05"],
        "alerts": ["fp1"], "fault_classes": ["gpu_xid_48"], "severity": "critical",
        "opened_at": iso(T0), "updated_at": iso(at),
        "resolved_at": iso(at) if status == "resolved" else None, "evidence": {}})


class TestParsing:
    """Messages become views with epoch-millisecond times."""

    def test_rfc3339(self) -> None:
        """Z and offsets read the same; None stays None."""
        assert rfc3339_ms("2027-01-15T08:00:00.250Z") == 1_800_000_000_250 - 1_800_000_000_000 \
            + int(datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp() * 1000)
        assert rfc3339_ms("2027-01-15T09:00:00.250+01:00") == \
            rfc3339_ms("2027-01-15T08:00:00.250Z")
        assert rfc3339_ms(None) is None

    def test_alert_view(self) -> None:
        """The alert's fields, its rack and summary, times in ms."""
        a = alert()
        assert (a["rack"], a["summary"], a["starts_ms"], a["ends_ms"]) == \
            ("r01", "GpuTooHot on r01-gpu05", T0, None)


class TestGrouping:
    """Hosts are grouped by rack, else another topology label, else 'no rack'."""

    def test_group_of(self) -> None:
        """The first label present wins; none present is 'no rack', never an invented rack."""
        assert group_of({"rack": "r01", "cluster": "c1"}) == ("rack", "r01")
        assert group_of({"cluster": "c1", "zone": "z1"}) == ("cluster", "cluster c1")
        assert group_of({"rack": "", "role": "edge"}) == ("role", "role edge")
        assert group_of({}) == ("", NO_GROUP)

    def test_alert_without_topology_keeps_the_host_group(self) -> None:
        """A host learned from the inventory keeps its group when an alert lacks labels."""
        s = FleetState()
        s.add_host("edge1", {"cluster": "c7"})
        a = alert(host="edge1", rack="")
        a["labels"] = {"host": "edge1"}
        s.apply_alert(a, T0)
        assert s.hosts["edge1"].group == "cluster c7"

    def test_gpus_accumulate_in_order(self) -> None:
        """GPU ids merge and sort as numbers (2 before 10)."""
        s = FleetState()
        s.add_host("h", {"rack": "r1"}, ["10", "2"])
        assert s.add_host("h", {"rack": "r1"}, ["2"]) is None
        entry = s.add_host("h", {"rack": "r1"}, ["1"])
        assert entry is not None and entry.gpus == ["1", "2", "10"]


class TestOrdering:
    """Changes are idempotent and ordered by their own time, whatever their arrival order."""

    @given(st.permutations(range(6)), st.integers(0, 5))
    def test_latest_state_wins(self, order: list[int], dup: int) -> None:
        """Any arrival order (with a duplicate) ends at the latest change's state."""
        changes = [alert(status="firing" if i % 2 == 0 else "resolved", at=T0 + i * 1000)
                   for i in range(6)]
        s = FleetState()
        for i in [*order, dup]:
            s.apply_alert(changes[i], T0)
        assert s.alerts["fp1"] == changes[5]

    def test_stale_and_duplicate_are_not_news(self) -> None:
        """An older or identical state returns None (nothing to push to pages)."""
        s = FleetState()
        assert s.apply_alert(alert(at=T0 + 5), T0)[0] is not None
        assert s.apply_alert(alert(at=T0 + 5), T0)[0] is None
        assert s.apply_alert(alert(at=T0 + 1), T0)[0] is None
        assert s.apply_alert(alert(status="resolved", at=T0 + 5), T0)[0] is not None

    def test_incident_ordering(self) -> None:
        """Incidents too: the latest update wins, a resolution at the same time wins."""
        s = FleetState()
        s.apply_incident(incident(status="updated", at=T0 + 9), T0)
        assert s.apply_incident(incident(at=T0 + 1), T0) is None
        assert s.apply_incident(incident(status="resolved", at=T0 + 9), T0) is not None


class TestFading:
    """Resolved alerts and incidents stay `fade_ms` after being seen resolved."""

    def test_prune_after_fade(self) -> None:
        """Pruned only once the fade time has passed since the console saw the resolution."""
        s = FleetState(fade_ms=60_000)
        s.apply_alert(alert(), T0)
        s.apply_alert(alert(status="resolved", at=T0 + 10), T0 + 10)
        s.apply_incident(incident(status="resolved"), T0 + 20)
        assert s.prune(T0 + 59_000) == ([], [])
        assert s.prune(T0 + 70_000) == (["fp1"], ["inc-1"])
        assert not s.alerts and not s.incidents

    def test_refiring_cancels_the_fade(self) -> None:
        """An alert that fires again is not pruned."""
        s = FleetState(fade_ms=60_000)
        s.apply_alert(alert(status="resolved", at=T0), T0)
        s.apply_alert(alert(at=T0 + 1), T0 + 1)
        assert s.prune(T0 + 120_000) == ([], [])

    def test_shedding_drops_resolved_first(self) -> None:
        """Over max_alerts, resolved then oldest firing alerts go."""
        s = FleetState(max_alerts=2)
        s.apply_alert(alert(fp="a", at=T0 + 1), T0)
        s.apply_alert(alert(fp="b", status="resolved", at=T0 + 2), T0)
        s.apply_alert(alert(fp="c", at=T0 + 3), T0)
        assert sorted(s.alerts) == ["a", "c"]


class TestViews:
    """Worst severities per host and GPU, filters, newest first."""

    def test_fleet_worst_and_gpus(self) -> None:
        """A host's cell takes its worst firing alert; GPUs their own."""
        s = FleetState()
        s.add_host("r01-gpu05", {"rack": "r01"}, ["0", "3"])
        s.add_host("r01-gpu06", {"rack": "r01"})
        s.add_host("edge", {"cluster": "c1"})
        s.apply_alert(alert(fp="w", severity="warning", gpu=None, rule="CpuHigh"), T0)
        s.apply_alert(alert(fp="c"), T0)
        s.apply_alert(alert(fp="gone", host="r01-gpu06", status="resolved"), T0)
        groups = {g["group"]: g for g in s.fleet()}
        assert list(groups) == ["r01", "cluster c1"]
        h5, h6 = groups["r01"]["hosts"]
        assert (h5["worst"], h5["active_alerts"]) == ("critical", 2)
        assert h5["gpu_worst"] == {"3": "critical"}
        assert h6["worst"] is None
        assert s.counts() == {"hosts": 3, "critical": 1, "warning": 0, "info": 0}

    def test_alert_list_filters(self) -> None:
        """Severity, group, rule and active-only filters; newest start first."""
        s = FleetState()
        s.add_host("a", {"rack": "r1"})
        s.add_host("b", {"rack": "r2"})
        first = alert(host="a", fp="1", rack="r1")
        second = {**alert(host="b", fp="2", rack="r2", severity="warning", rule="CpuHigh"),
                  "starts_ms": T0 + 5}
        s.apply_alert(first, T0)
        s.apply_alert(second, T0)
        assert [a["fingerprint"] for a in s.alert_list()] == ["2", "1"]
        assert [a["fingerprint"] for a in s.alert_list(group="r1")] == ["1"]
        assert [a["fingerprint"] for a in s.alert_list(severity="warning")] == ["2"]
        assert [a["fingerprint"] for a in s.alert_list(rule="GpuTooHot")] == ["1"]
        assert s.alert_list()[0]["group"] == "r2"

    def test_worst(self) -> None:
        """critical > warning > info; unknown words and empty give None."""
        assert worst(["info", "critical", "warning"]) == "critical"
        assert worst(["", "bogus"]) is None
