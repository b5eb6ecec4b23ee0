"""The scorecard: injected faults against the alerts and incidents that caught them."""

from __future__ import annotations

from typing import Any

import orjson

from producers.simulator import Fleet, SimOptions
from rackwatch.demo import DEMO_SEED, DEMO_TAU_S, demo_faults, demo_rules
from rackwatch.scorecard import expected_suspect, score
from schemas.ids import ALERT, INCIDENT
from streams.core.smoothing import SmoothingParams
from streams.core.timefmt import ms_to_rfc3339
from streams.replay import replay_lines
from streams.rules import load_rules

T0 = 1_700_000_000_000


def fault(kind: str, hosts: list[str], start_s: int, end_s: int, **details: Any
          ) -> dict[str, Any]:
    return {"kind": kind, "hosts": hosts, "rack": hosts[0].split("-")[0],
            "start_ms": T0 + start_s * 1000, "end_ms": T0 + end_s * 1000, "details": details}


def alert(rule: str, host: str, at_s: int, status: str = "firing") -> dict[str, Any]:
    at = ms_to_rfc3339(T0 + at_s * 1000)
    return {"schema": ALERT, "fingerprint": f"{rule}-{host}", "status": status, "rule": rule,
            "host": host, "starts_at": at, "updated_at": at}


def incident(iid: str, hosts: list[str], at_s: int, suspect: str) -> dict[str, Any]:
    return {"schema": INCIDENT, "incident_id": iid, "status": "open", "hosts": hosts,
            "suspect": suspect, "opened_at": ms_to_rfc3339(T0 + at_s * 1000)}


class TestMatching:
    def test_caught_with_delay_and_suspect(self) -> None:
        """The first alert on a fault's host in its window, the delay, and the suspect."""
        card = score([fault("gpu_xid_79", ["r1-g1"], 10, 100)],
                     [alert("GpuXid", "r1-g1", 25), alert("GpuXid", "r1-g1", 30)],
                     [incident("i1", ["r1-g1"], 26, "host r1-g1 gpu 3")])
        f = card.faults[0]
        assert (f.alert_rule, f.delay_ms, f.suspect, f.suspect_right) == (
            "GpuXid", 15_000, "host r1-g1 gpu 3", True)
        assert card.perfect and card.false_alerts == []

    def test_missed_fault_and_false_alarm(self) -> None:
        """No alert in the window is a miss; an alert matching no fault is a false alarm."""
        card = score([fault("cpu_saturation", ["r1-a"], 10, 100)],
                     [alert("CpuHigh", "r1-a", 500), alert("CpuHigh", "r2-b", 50)])
        assert not card.faults[0].caught and not card.perfect
        assert [(r, h) for r, h, _ in card.false_alerts] == [("CpuHigh", "r2-b"),
                                                             ("CpuHigh", "r1-a")]

    def test_wrong_suspect_is_reported_as_such(self) -> None:
        """An incident that names the wrong host is found, and marked wrong."""
        card = score([fault("slow_disk", ["r1-a"], 0, 60)], [alert("DiskSlow", "r1-a", 30)],
                     [incident("i", ["r1-a", "r1-b"], 31, "host r1-b")])
        assert card.faults[0].suspect == "host r1-b" and not card.faults[0].suspect_right
        assert "WRONG" in card.render()

    def test_a_hosts_alert_is_the_first_of_its_own_fault_not_its_racks(self) -> None:
        """A disk fault inside a rack that loses power: the disk's alert is the disk's."""
        card = score([fault("rack_power", ["r1-a", "r1-b"], 50, 120),
                      fault("slow_disk", ["r1-a"], 40, 100)],
                     [alert("DiskSlow", "r1-a", 45), alert("HostSilent", "r1-b", 80)])
        by_kind = {f.kind: f for f in card.faults}
        assert by_kind["slow_disk"].alert_rule == "DiskSlow"
        assert by_kind["rack_power"].alert_rule == "HostSilent"

    def test_excluded_hosts_are_not_false_alarms(self) -> None:
        """The demo's real agent is outside the simulation."""
        card = score([], [alert("CpuHigh", "this-host", 5)], exclude_hosts=["this-host"])
        assert card.false_alerts == []

    def test_expected_suspects(self) -> None:
        """Host faults name the host, rack faults the rack, a hung job the job."""
        assert expected_suspect(fault("gpu_xid_48", ["r1-a"], 0, 1)) == "r1-a"
        assert expected_suspect(fault("rack_power", ["r3-a", "r3-b"], 0, 1)) == "rack r3"
        assert expected_suspect(fault("nccl_timeout", ["r1-a"], 0, 1, job="j-7")) == "job j-7"


class TestDemoScenario:
    def test_every_default_fault_is_caught_with_the_right_suspect(self, tmp_path: Any) -> None:
        """The demo's own scenario, replayed as the demo runs it (its rules, its EWMA time
        constant, 40 hosts every 2 s): every injected fault alerts (the throttled serving
        replica with the serving rule), its incident names the right place, and nothing
        else alerts."""
        opts = SimOptions(hosts=40, interval_s=2, seed=DEMO_SEED, faults=demo_faults(40),
                          duration_s=240)
        fleet = Fleet(opts)
        rules = load_rules(demo_rules(tmp_path))
        out = [orjson.loads(x) for x in replay_lines(
            (orjson.dumps(e) for e in fleet.events()), rules, {"alerts", "incidents"},
            smoothing=SmoothingParams.of(DEMO_TAU_S, 5))]
        card = score(fleet.manifest(), [m for m in out if m["schema"] == ALERT],
                     [m for m in out if m["schema"] == INCIDENT])
        assert len(card.faults) == 8
        assert card.perfect, card.render()
        throttled = next(f for f in card.faults if f.kind == "gpu_throttle")
        assert throttled.alert_rule == "ServingLatencyHigh", card.render()
        assert card.false_alerts == [] and card.false_incidents == []
