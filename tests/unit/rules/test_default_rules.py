"""The shipped rule set against the operations baseline, scenario by scenario."""

from __future__ import annotations

import pytest

from streams.rules import anomaly_bridge, default_rules
from tests.unit.rules.helpers import Host, log_record, point, summary


def host() -> Host:
    return Host(default_rules())


def fired(h: Host) -> list[str]:
    return [m["rule"] for m in h.sent if m["status"] == "firing"]


class TestBaseline:
    def test_cpu_above_80_percent_for_5_minutes(self) -> None:
        """Smoothed CPU above 80 % fires after 5 minutes and clears below 75 %."""
        h = host()
        for t in range(0, 310, 10):
            h.batch(t, point("cpu.usage", 0.85, t))
        h.batch(320, point("cpu.usage", 0.77, 320))
        h.batch(330, point("cpu.usage", 0.74, 330))
        assert summary(h.sent) == [("CpuHigh", "firing", 300, 300),
                                   ("CpuHigh", "resolved", 300, 330)]
        assert h.sent[0]["annotations"]["summary"] == "CPU at 85% on h1"

    def test_cpu_at_80_percent_is_fine(self) -> None:
        """Exactly 80 % is not above 80 %."""
        h = host()
        for t in range(0, 600, 10):
            h.batch(t, point("cpu.usage", 0.80, t))
        assert h.sent == []

    def test_memory_above_70_percent(self) -> None:
        """Memory above 70 % for 5 minutes fires."""
        h = host()
        for t in range(0, 310, 10):
            h.batch(t, point("mem.usage", 0.72, t))
        assert fired(h) == ["MemoryHigh"]

    def test_slow_disk_only_while_busy(self) -> None:
        """Below 50 MB/s fires only while the disk is more than 90 % busy."""
        h = host()
        dev = {"device": "nvme0n1"}
        for t in range(0, 300, 10):
            h.batch(t, point("disk.busy", 0.05, t, dev),
                    point("disk.read_bytes_per_s", 1e5, t, dev),
                    point("disk.write_bytes_per_s", 0.0, t, dev))
        assert h.sent == []
        for t in range(300, 430, 10):
            h.batch(t, point("disk.busy", 0.97, t, dev),
                    point("disk.read_bytes_per_s", 20e6, t, dev),
                    point("disk.write_bytes_per_s", 5e6, t, dev))
        assert summary(h.sent) == [("DiskSlow", "firing", 420, 420)]
        assert h.sent[0]["value"] == pytest.approx(25e6)
        assert "nvme0n1" in h.sent[0]["annotations"]["summary"]

    def test_host_silent(self) -> None:
        """A host without metrics for a minute is silent (critical)."""
        h = host()
        h.batch(0, point("cpu.usage", 0.1, 0))
        h.tick(61)
        assert [(m["rule"], m["severity"]) for m in h.sent] == [("HostSilent", "critical")]

    def test_gpu_too_hot(self) -> None:
        """A GPU above 85 °C for a minute fires per GPU."""
        h = host()
        for t in range(0, 70, 10):
            h.batch(t, point("gpu.temperature", 91, t, {"gpu": "3"}),
                    point("gpu.temperature", 60, t, {"gpu": "4"}))
        assert [(m["rule"], m["labels"]["gpu"]) for m in h.sent] == [("GpuTooHot", "3")]

    def test_gpu_ecc_errors(self) -> None:
        """Any uncorrectable ECC error fires at once and stays firing a while."""
        h = host()
        h.batch(0, point("gpu.ecc.dbe_per_s", 0.1, 0, {"gpu": "0"}))
        h.batch(10, point("gpu.ecc.dbe_per_s", 0.0, 10, {"gpu": "0"}))
        h.batch(300, point("gpu.ecc.dbe_per_s", 0.0, 300, {"gpu": "0"}))
        assert fired(h) == ["GpuEccUncorrectable"]
        assert [m["status"] for m in h.sent] == ["firing"]  # keep_firing_for 10m

    def test_retired_pages_increase(self) -> None:
        """A growing retired-page counter fires (a rate rule)."""
        h = host()
        h.batch(10, point("gpu.retired_pages", 3, 10, {"gpu": "1"}, prev=(0, 2)))
        assert fired(h) == ["GpuRetiredPagesIncreasing"]

    def test_anomaly_rule(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A GPU temperature far outside its usual spread is an (info) anomaly."""
        monkeypatch.setattr(anomaly_bridge, "load", lambda: None)
        h = host()
        h.batch(0, point("gpu.temperature", 60, 0, {"gpu": "0"}, ewma=55, ewvar=1.0))
        h.batch(10, point("gpu.temperature", 65, 10, {"gpu": "0"}, ewma=55.5, ewvar=1.0))
        assert [(m["rule"], m["severity"], m["labels"]["category"]) for m in h.sent] == [
            ("GpuTemperatureAnomaly", "info", "anomaly")]

    def test_hardware_fault_in_logs_mutes_the_repetition_alert(self) -> None:
        """A critical fault class fires at once; its repetition alert is inhibited."""
        h = host()
        h.logs(0, [log_record(t, fault_class="gpu_xid_79") for t in (0, 1, 2, 3)])
        h.logs(5, [log_record(t, fault_class="nccl_timeout") for t in (4, 5, 6)])
        assert fired(h) == ["HardwareFaultLogged", "FaultRepeated"]
        assert h.sent[1]["labels"]["fault_class"] == "nccl_timeout"

    def test_novel_template_is_an_info_alert_once(self) -> None:
        """A novel fault raises NewFaultTemplate (info) per template; a generic fault
        repeated raises FaultRepeated like any classified fault."""
        h = host()
        h.logs(0, [log_record(0, fault_class="generic_storage", fault_source="novel",
                              template_id="t7")])
        assert [(m["rule"], m["severity"], m["labels"]["template_id"]) for m in h.sent] == [
            ("NewFaultTemplate", "info", "t7")]
        h.logs(5, [log_record(t, fault_class="generic_network", fault_source="generic")
                   for t in (5, 6, 7)])
        assert fired(h) == ["NewFaultTemplate", "FaultRepeated"]

    def test_silent_host_mutes_the_rest(self) -> None:
        """While HostSilent fires, new alerts of that host are held back."""
        h = host()
        h.batch(0, point("gpu.temperature", 60, 0, {"gpu": "0"}))
        h.tick(70)
        h.logs(80, [log_record(80, fault_class="gpu_ecc_dbe")])
        assert fired(h) == ["HostSilent"]
