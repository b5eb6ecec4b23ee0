"""GPU faults: one incident on the host/GPU, with a hint built from the GPU's history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.incidents import Correlator, FaultModel, features_from_context

from .builders import MIN, T0, alert, by_status, fault, gpu_context, series

Make = Callable[..., Correlator]


def xid_scenario(c: Correlator, *, hot: bool, with_alert: bool) -> list[dict[str, Any]]:
    """GPU 3 of a12 heats up for ten minutes (or not), then falls off the bus."""
    st: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    ctx = gpu_context("3", hot=hot, start=T0)
    end = T0 + 10 * MIN
    if with_alert:
        out += c.on_event(st, alert("a12", end - 3 * MIN, rule="gpu_temp_high",
                                    severity="warning", labels={"gpu": "3"}, context=ctx,
                                    summary="GPU 3 temperature above 85 C"))
    out += c.on_event(st, fault("a12", end, "gpu_xid_79", labels={"gpu": "3", "xid": "79"},
                                context=gpu_context("3", hot=hot, start=T0,
                                                    recent_faults={"gpu_xid_79": 1})))
    out += c.on_event(st, fault("a12", end + 2_000, "gpu_xid_79",
                                labels={"gpu": "3", "xid": "79"}))
    if with_alert:
        out += c.on_event(st, alert("a12", end + 4 * MIN, rule="gpu_temp_high",
                                    severity="warning", labels={"gpu": "3"}, status="resolved"))
    out += c.tick(st, end + 60 * MIN)
    return out


class TestGpuXid:
    """An XID becomes one host incident naming the GPU and its history."""

    def test_one_incident_with_the_gpu_as_suspect(
            self, make_correlator: Make, check_incident: Callable[[dict[str, Any]], None]
    ) -> None:
        """An XID 79 gives exactly one incident, on the host, naming host and GPU."""
        out = xid_scenario(make_correlator(), hot=True, with_alert=False)
        for m in out:
            check_incident(m)
        assert len({m["incident_id"] for m in out}) == 1
        assert [m["status"] for m in out] == ["open", "resolved"]
        opened = out[0]
        assert opened["scope"] == "host"
        assert opened["scope_value"] == "a12"
        assert opened["suspect"] == "host a12 gpu 3"
        assert opened["fault_classes"] == ["gpu_xid_79"]
        assert opened["severity"] == "critical"

    def test_hint_names_the_preceding_thermal_excursion(self, make_correlator: Make) -> None:
        """When the GPU ran hot and throttled before the XID, the hint says so."""
        opened = xid_scenario(make_correlator(), hot=True, with_alert=False)[0]
        hint = opened["root_cause_hint"]
        assert "GPU 3 on host a12" in hint
        assert "XID 79" in hint
        assert "fallen off the bus" in hint
        assert "thermal excursion" in hint
        assert "no thermal" not in hint
        history = opened["evidence"]["gpu_history"]
        assert history["thermal_excursion"] is True
        assert history["thermal_excursion_minutes"] == 5
        assert history["thermal_throttle_minutes"] == 5
        assert history["temperature_c"]["max"] == 104.0
        assert history["power_excursion"] is False

    def test_cool_history_says_no_excursion(self, make_correlator: Make) -> None:
        """A GPU that stayed cool gets a hint that rules the thermal cause out."""
        opened = xid_scenario(make_correlator(), hot=False, with_alert=False)[0]
        assert "no thermal or power excursion" in opened["root_cause_hint"]
        assert opened["evidence"]["gpu_history"]["thermal_excursion"] is False

    def test_alert_then_xid_is_still_one_incident(self, make_correlator: Make) -> None:
        """A temperature alert followed by the XID is one incident, upgraded by the fault."""
        out = xid_scenario(make_correlator(), hot=True, with_alert=True)
        assert len({m["incident_id"] for m in out}) == 1
        assert [m["status"] for m in out] == ["open", "updated", "resolved"]
        assert out[0]["fault_classes"] == []
        assert out[0]["severity"] == "warning"
        assert "thermal excursion" in out[0]["root_cause_hint"]
        upd = out[1]
        assert upd["suspect"] == "host a12 gpu 3"
        assert upd["severity"] == "critical"
        assert upd["fault_classes"] == ["gpu_xid_79"]
        assert upd["root_cause_hint"].startswith("GPU 3 on host a12 reported XID 79")

    def test_fault_without_history_says_so(self, make_correlator: Make) -> None:
        """No metric history for the GPU: the hint says it is unknown, not that it was fine."""
        c = make_correlator()
        st: dict[str, Any] = {}
        c.on_event(st, fault("a12", T0, "gpu_ecc_dbe", labels={"gpu": "1"}))
        out = c.tick(st, T0 + MIN)
        assert out[0]["suspect"] == "host a12 gpu 1"
        assert "no metric history" in out[0]["root_cause_hint"]

    def test_fault_probability_is_attached(self, make_correlator: Make,
                                           model: FaultModel) -> None:
        """The host's in-stream fault probability rides on the incident, with its drivers."""
        out = xid_scenario(make_correlator(), hot=True, with_alert=False)
        p = out[0]["fault_probability"]
        ctx = gpu_context("3", hot=True, start=T0, recent_faults={"gpu_xid_79": 1})
        assert p == round(model.score(features_from_context(ctx)), 4)
        assert set(out[0]["evidence"]["probability_drivers"]) <= {"gpu_hot_minutes",
                                                                   "faults_gpu"}
        cool = xid_scenario(make_correlator(), hot=False, with_alert=False)[0]
        assert cool["fault_probability"] is not None
        assert cool["fault_probability"] < p

    def test_no_model_means_no_probability(self) -> None:
        """Without a model (none given and none loadable) the probability is null."""
        c = Correlator(model=None)
        c.model = None
        st: dict[str, Any] = {}
        c.on_event(st, fault("a12", T0, "gpu_xid_79", labels={"gpu": "3"},
                             context=gpu_context("3", hot=True)))
        assert by_status(c.tick(st, T0 + MIN), "open")[0]["fault_probability"] is None


class TestWhichGpu:
    """A kernel XID line names a PCI address, not a GPU index: the GPU is found elsewhere."""

    def xid(self, context: dict[str, Any] | None, code: str = "79") -> dict[str, Any]:
        return fault("a12", T0 + 10 * MIN, f"gpu_xid_{code}",
                     labels={"pci": "0000:3b:00", "xid": code}, context=context)

    def test_from_the_gpu_xid_sample(self, make_correlator: Make) -> None:
        """The agent's gpu.xid sample of one GPU names it."""
        ctx = gpu_context("3", hot=False)
        ctx["series"]["gpu.xid{gpu=3}"] = series([(79.0, 79.0, 79.0)])
        ctx["series"]["gpu.xid{gpu=1}"] = series([(13.0, 13.0, 13.0)])
        c = make_correlator()
        st: dict[str, Any] = {}
        c.on_event(st, self.xid(ctx))
        opened = c.tick(st, T0 + 11 * MIN)[0]
        assert opened["suspect"] == "host a12 gpu 3"
        assert opened["evidence"]["first_fault"]["gpu_from"] == "gpu.xid metric"
        assert opened["evidence"]["first_fault"]["pci"] == "0000:3b:00"
        assert "PCI 0000:3b:00" in opened["root_cause_hint"]

    def test_from_its_precursor(self, make_correlator: Make) -> None:
        """Before XID 79, only one GPU shows PCIe replays: that one, and the hint says why."""
        ctx = gpu_context("2", hot=False)
        ctx["series"].update(gpu_context("5", hot=False)["series"])
        ctx["series"]["gpu.pcie_replay_per_s{gpu=2}"] = series([(0.0, 0.0, 0.0)] * 3)
        ctx["series"]["gpu.pcie_replay_per_s{gpu=5}"] = series([(0.0, 4.0, 2.0)] * 3)
        c = make_correlator()
        st: dict[str, Any] = {}
        c.on_event(st, self.xid(ctx))
        opened = c.tick(st, T0 + 11 * MIN)[0]
        assert opened["suspect"] == "host a12 gpu 5"
        assert "picked by PCIe replay errors" in opened["root_cause_hint"]

    def test_from_a_later_alert(self, make_correlator: Make) -> None:
        """An alert naming one GPU, arriving within the grace period, names it."""
        c = make_correlator()
        st: dict[str, Any] = {}
        c.on_event(st, self.xid(None, "48"))
        c.on_event(st, alert("a12", T0 + 10 * MIN + 5_000, rule="GpuEccUncorrectable",
                             labels={"gpu": "7"}))
        opened = c.tick(st, T0 + 11 * MIN)[0]
        assert opened["suspect"] == "host a12 gpu 7"

    def test_no_guessing_between_equals(self, make_correlator: Make) -> None:
        """Two GPUs with the same evidence: the hint names no GPU."""
        ctx = gpu_context("2", hot=True)
        ctx["series"].update(gpu_context("5", hot=True)["series"])
        c = make_correlator()
        st: dict[str, Any] = {}
        c.on_event(st, self.xid(ctx))
        opened = c.tick(st, T0 + 11 * MIN)[0]
        assert opened["suspect"] == "host a12"
        assert opened["root_cause_hint"].startswith("A GPU (PCI 0000:3b:00) on host a12")
