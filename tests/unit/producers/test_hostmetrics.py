"""psutil snapshots to catalogue samples: fractions, rates, resets, unreadable sources."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import psutil
import pytest

from producers.hostmetrics import (
    DiskCounters,
    HostMetrics,
    HostSnapshot,
    NetCounters,
    PsutilReader,
    cpu_fractions,
)
from producers.problems import Problems
from schemas.catalogue import CATALOGUE

CPU = namedtuple("CPU", "user nice system idle iowait irq softirq steal guest guest_nice")
Mem = namedtuple("Mem", "total available used")
Swap = namedtuple("Swap", "total used")


def cpu(user: float, system: float, idle: float, iowait: float = 0.0, steal: float = 0.0,
        guest: float = 0.0) -> Any:
    return CPU(user, 0.0, system, idle, iowait, 0.0, 0.0, steal, guest, 0.0)


def values(samples: list[Any], name: str) -> dict[str, float]:
    return {next(iter(s.get("labels", {"": ""}).values())): s["value"]
            for s in samples if s["name"] == name}


class TestCpuFractions:
    def test_busy_excludes_idle_and_iowait(self) -> None:
        """cpu.usage is the share of time neither idle nor waiting for I/O."""
        fr = cpu_fractions(cpu(0, 0, 0), cpu(30, 10, 50, iowait=10))
        assert fr is not None
        assert fr["cpu.usage"] == pytest.approx(0.4)
        assert fr["cpu.iowait"] == pytest.approx(0.1)
        assert fr["cpu.user"] == pytest.approx(0.3)

    def test_guest_time_is_not_double_counted(self) -> None:
        """Linux counts guest time inside user time; it must not inflate the total."""
        fr = cpu_fractions(cpu(0, 0, 0), cpu(50, 0, 50, guest=40))
        assert fr is not None
        assert fr["cpu.usage"] == pytest.approx(0.5)

    def test_counter_stepping_back_counts_as_zero(self) -> None:
        """A CPU counter that goes backwards (known iowait quirk) cannot go negative."""
        fr = cpu_fractions(cpu(10, 10, 10, iowait=5), cpu(20, 10, 20, iowait=4))
        assert fr is not None
        assert 0 <= fr["cpu.iowait"] <= 1
        assert fr["cpu.usage"] == pytest.approx(0.5)

    def test_no_elapsed_time(self) -> None:
        """Identical readings give no fractions rather than a division by zero."""
        assert cpu_fractions(cpu(1, 1, 1), cpu(1, 1, 1)) is None


def snap(now: float, disk: float, nic: float, up: bool = True) -> HostSnapshot:
    return HostSnapshot(
        now=now, cpu=cpu(now * 2, now, now * 7), per_cpu=[cpu(now, 0, now), cpu(0, 0, 2 * now)],
        load=(1.0, 0.5, 0.25), mem=Mem(100, 25, 75), swap=Swap(0, 0),
        fs={"/": (1000.0, 250.0, 650.0)},  # 100 reserved for root: df says 250 / 900
        disks={"sda": DiskCounters(disk, disk / 2, disk / 4096, 1.0, now * 500)},
        nets={"eth0": NetCounters(nic, nic, 1, 1, 0, 0, 0, 0),
              "eth1": NetCounters(0, 0, 0, 0, 0, 0, 0, 0)},
        links={"eth0": up, "eth1": False}, procs=300, boot_time=now - 100)


class TestHostMetrics:
    def test_first_snapshot_has_gauges_but_no_rates(self) -> None:
        """Rates need two snapshots; gauges are there at once."""
        out = HostMetrics().samples(snap(10.0, 1e6, 1e6))
        names = {s["name"] for s in out}
        assert "mem.usage" in names and "load.1m" in names
        assert "disk.read_bytes_per_s" not in names and "cpu.usage" not in names

    def test_rates_and_fractions(self) -> None:
        """Disk, network and busy rates come from counter deltas over the interval."""
        m = HostMetrics()
        m.samples(snap(10.0, 1e6, 2e6))
        out = m.samples(snap(12.0, 5e6, 6e6))
        assert values(out, "disk.read_bytes_per_s")["sda"] == pytest.approx(2e6)
        assert values(out, "disk.busy")["sda"] == pytest.approx(0.5)
        assert values(out, "net.rx_bytes_per_s")["eth0"] == pytest.approx(2e6)
        assert values(out, "mem.usage")[""] == pytest.approx(0.75)
        assert values(out, "cpu.usage")[""] == pytest.approx(0.3)
        assert set(values(out, "cpu.core.usage")) == {"0", "1"}
        assert values(out, "fs.usage")["/"] == pytest.approx(250 / 900, abs=1e-5)  # as df

    def test_counter_reset_does_not_spike(self) -> None:
        """A disk whose counters restart (device re-added) yields no read rate, not a huge one."""
        m = HostMetrics()
        m.samples(snap(10.0, 9e12, 1e6))
        out = m.samples(snap(11.0, 1e3, 2e6))
        assert "sda" not in values(out, "disk.read_bytes_per_s")
        out = m.samples(snap(12.0, 2e3, 3e6))
        assert values(out, "disk.read_bytes_per_s")["sda"] == pytest.approx(1e3)

    def test_never_up_interfaces_are_skipped(self) -> None:
        """A spare port that was never up reports nothing, so it cannot page anyone."""
        m = HostMetrics()
        m.samples(snap(1.0, 0, 0))
        out = m.samples(snap(2.0, 0, 0))
        assert set(values(out, "net.link_up")) == {"eth0"}
        assert "eth1" not in values(out, "net.rx_bytes_per_s")

    def test_link_going_down_is_reported(self) -> None:
        """An interface that was up and goes down reports link_up 0."""
        m = HostMetrics()
        m.samples(snap(1.0, 0, 0, up=True))
        out = m.samples(snap(2.0, 0, 0, up=False))
        assert values(out, "net.link_up")["eth0"] == 0.0

    def test_all_names_are_catalogued(self) -> None:
        """Every sample name the agent emits is in the metric catalogue."""
        m = HostMetrics()
        m.samples(snap(1.0, 0, 0))
        out = m.samples(snap(2.0, 1e6, 1e6))
        assert {s["name"] for s in out} <= set(CATALOGUE)


class TestPsutilReader:
    def test_reads_this_host(self) -> None:
        """A real read of this machine yields the main gauges."""
        reader = PsutilReader()
        m = HostMetrics()
        m.samples(reader.read())
        out = m.samples(reader.read())
        names = {s["name"] for s in out}
        assert {"mem.usage", "load.1m", "proc.count", "host.uptime_s"} <= names
        assert all(0 <= s["value"] <= 1 for s in out if CATALOGUE[s["name"]].unit == "fraction")

    def test_failing_source_is_reported_once_and_skipped(
            self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
        """A source that raises (vanished device) is logged once, counted, and skipped."""
        def broken(*a: Any, **k: Any) -> Any:
            raise OSError("No such device")

        monkeypatch.setattr(psutil, "disk_io_counters", broken)
        problems = Problems()
        reader = PsutilReader(problems=problems)
        for _ in range(3):
            s = reader.read()
            assert s.disks is None and s.mem is not None
        assert problems.counts["psutil:disk_io_counters"] == 3
        assert sum("disk_io_counters" in r.message for r in caplog.records) == 1

    def test_partitions_are_not_counted_twice(self) -> None:
        """Only whole disks are kept: partitions would double-count their disk's I/O."""
        reader = PsutilReader(whole_disk=lambda name: not name[-1].isdigit() or "nvme" in name)
        assert reader._keep_disk("sda") and not reader._keep_disk("sda1")
        assert not reader._keep_disk("loop0")
