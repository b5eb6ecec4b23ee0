"""Job-wide NCCL timeouts: one job incident pointing at the rank with the first hard fault."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.incidents import Correlator, route_event, routes_for

from .builders import MIN, T0, alert, by_status, fault, silent

Make = Callable[..., Correlator]

HOSTS = [f"n{i:02d}" for i in range(8)]
RACK = {h: f"r{i // 4}" for i, h in enumerate(HOSTS)}  # the job spans two racks
RANK = {h: str(i) for i, h in enumerate(HOSTS)}


def job_events(culprit: str, *, decoy: str | None = None) -> list[dict[str, Any]]:
    """`culprit` hits an XID, then every other rank times out in NCCL ten minutes later;
    `decoy` has a later hard fault of its own."""
    topo = {"job": "train-42"}
    events = [fault(culprit, T0, "gpu_xid_79", rack=RACK[culprit], topo=topo,
                    labels={"gpu": "5", "rank": RANK[culprit]})]
    if decoy is not None:
        events.append(fault(decoy, T0 + 4 * MIN, "nvlink_error", rack=RACK[decoy], topo=topo,
                            labels={"gpu": "0"}))
    for i, h in enumerate(HOSTS):
        if h != culprit:
            events.append(fault(h, T0 + 10 * MIN + i * 300, "nccl_timeout", rack=RACK[h],
                                topo=topo, labels={"rank": RANK[h]}))
    return sorted(events, key=lambda e: e["ts"])


def single_state(c: Correlator, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    st: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    for e in events:
        out += c.on_event(st, e)
    return out + c.tick(st, T0 + 120 * MIN)


def routed(c: Correlator, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the worker does: one state per rack and per job, events copied to each."""
    states: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for e in events:
        for key in routes_for(e):
            out += c.on_event(states.setdefault(key, {}), route_event(e, key))
    for key in sorted(states):
        out += c.tick(states[key], T0 + 120 * MIN)
    return out


class TestNcclTimeout:
    """A job's NCCL timeouts point at the rank with the first hard fault."""

    def test_job_incident_points_at_the_first_hard_fault(
            self, make_correlator: Make, check_incident: Callable[[dict[str, Any]], None]
    ) -> None:
        """All ranks time out; the job incident names rank 5's host and GPU as the suspect."""
        out = single_state(make_correlator(), job_events("n05"))
        for m in out:
            check_incident(m)
        jobs = [m for m in out if m["scope"] == "job"]
        assert len({m["incident_id"] for m in jobs}) == 1
        opened = by_status(jobs, "open")[0]
        assert opened["scope_value"] == "train-42"
        assert opened["suspect"] == "host n05 gpu 5 (rank 5)"
        first = opened["evidence"]["first_fault"]
        assert first["host"] == "n05"
        assert first["rank"] == "5"
        assert first["fault_class"] == "gpu_xid_79"
        assert "rank 5 on host n05 had the first hard fault" in opened["root_cause_hint"]
        assert "NCCL timeouts on 7 hosts" in opened["root_cause_hint"]
        assert sorted(opened["hosts"]) == HOSTS
        assert opened["fault_classes"] == ["gpu_xid_79", "nccl_timeout"]

    def test_earliest_hard_fault_wins_over_a_later_one(self, make_correlator: Make) -> None:
        """With two hard faults in the job, the earlier one is the suspect."""
        out = single_state(make_correlator(), job_events("n02", decoy="n06"))
        opened = next(m for m in out if m["scope"] == "job" and m["status"] == "open")
        assert opened["evidence"]["first_fault"]["host"] == "n02"
        assert opened["suspect"].startswith("host n02")

    def test_rank_is_learned_from_nccl_lines_when_the_fault_lacks_it(
            self, make_correlator: Make) -> None:
        """A hard fault without a rank label still gets the rank the host's NCCL lines gave."""
        topo = {"job": "j"}
        events = [fault("n01", T0 - MIN, "nccl_error", topo=topo, labels={"rank": "1"},
                        severity="warning"),
                  fault("n01", T0, "kernel_panic", topo=topo)]
        events += [fault(h, T0 + 2 * MIN, "nccl_timeout", topo=topo) for h in ("n02", "n03")]
        out = single_state(make_correlator(), events)
        job = next(m for m in out if m["scope"] == "job")
        assert job["suspect"] == "host n01 (rank 1)"

    def test_timeouts_open_no_host_incidents(self, make_correlator: Make) -> None:
        """NCCL timeouts are symptoms: only the culprit host has a host incident."""
        out = single_state(make_correlator(), job_events("n05"))
        hosts = {m["scope_value"] for m in out if m["scope"] == "host"}
        assert hosts == {"n05"}
        assert not [m for m in out if m["scope"] == "rack"]

    def test_routed_states_give_the_same_job_incident(self, make_correlator: Make) -> None:
        """Per-rack and per-job states (the worker's layout) find the same suspect."""
        one = single_state(make_correlator(), job_events("n05"))
        many = routed(make_correlator(), job_events("n05"))
        key = ("scope", "incident_id", "status", "suspect", "hosts", "root_cause_hint")
        assert sorted([m[k] for k in key] for m in many) == sorted([m[k] for k in key]
                                                                    for m in one)

    def test_without_a_hard_fault_the_job_is_the_suspect(self, make_correlator: Make) -> None:
        """Timeouts with no hard fault anywhere point away from the hosts."""
        events = [fault(h, T0 + i * 100, "nccl_timeout", rack=RACK[h], topo={"job": "j9"})
                  for i, h in enumerate(HOSTS)]
        out = single_state(make_correlator(), events)
        opened = by_status(out, "open")
        assert [(m["scope"], m["suspect"]) for m in opened] == [("job", "job j9")]
        assert "no hard fault" in opened[0]["root_cause_hint"]

    def test_a_single_rank_timing_out_is_no_job_incident(self, make_correlator: Make) -> None:
        """One host is not a group."""
        out = single_state(make_correlator(), [fault("n01", T0, "nccl_timeout",
                                                     topo={"job": "j"})])
        assert out == []

    def test_hard_fault_arriving_after_the_timeouts_updates_the_suspect(
            self, make_correlator: Make) -> None:
        """Logs from different hosts arrive in any order: a late fault still becomes suspect."""
        topo = {"job": "j"}
        c = make_correlator()
        st: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        for h in ("n02", "n03", "n04"):
            out += c.on_event(st, fault(h, T0 + MIN, "nccl_timeout", topo=topo))
        out += c.tick(st, T0 + 2 * MIN)
        out += c.on_event(st, fault("n01", T0, "gpu_xid_48", topo=topo, labels={"gpu": "2"}))
        out += c.tick(st, T0 + 3 * MIN)  # updates come at most every update_interval_ms
        job = [m for m in out if m["scope"] == "job"]
        assert [m["status"] for m in job] == ["open", "updated"]
        assert job[0]["suspect"] == "job j"
        assert job[1]["suspect"] == "host n01 gpu 2"


class TestOtherGroups:
    """Any configured group label forms group incidents."""

    def test_a_configured_switch_label_groups_hosts(self, make_correlator: Make) -> None:
        """Any configured label forms groups: hosts under one leaf switch alerting together."""
        c = make_correlator(group_labels=("switch",))
        events = [alert(h, T0 + i * 1_000, rule="nic_errors", severity="warning",
                        rack=f"r{i}", topo={"switch": "leaf3"}) for i, h in enumerate(["a", "b"])]
        out = single_state(c, events)
        groups = [m for m in out if m["scope"] == "switch"]
        assert by_status(groups, "open")[0]["scope_value"] == "leaf3"
        assert len(by_status(groups, "open")[0]["alerts"]) == 2

    def test_group_covered_by_a_rack_incident_is_inhibited(self, make_correlator: Make) -> None:
        """When a whole rack (and the job on it) goes down, only the rack incident opens."""
        c = make_correlator()
        events = [silent(h, T0 + i * 1_000) for i, h in enumerate(["a1", "a2", "a3"])]
        for e in events:
            e["labels"]["job"] = "j1"
        out = single_state(c, events)
        assert {m["scope"] for m in out} == {"rack"}
        assert c.counters.inhibited >= 1
