"""Host metrics from psutil: one reader that makes the calls, one pure converter.

`PsutilReader.read()` is the imperative edge: it makes exactly the psutil calls the
agent needs (the benchmark's "floor" makes the same ones) and keeps psutil's own
tuples. `HostMetrics.samples()` turns two consecutive snapshots into catalogue
samples: fractions from CPU-time deltas, per-second rates from counter deltas that
survive wrap and reset (producers.rates), and gauges as they are. Tests feed it
hand-made snapshots.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import psutil

from producers.events import sample
from producers.problems import Problems
from producers.rates import CounterRates
from schemas.events import Sample

__all__ = ["HostMetrics", "HostMetricsOptions", "HostSnapshot", "PsutilReader", "is_whole_disk"]

# psutil tuples are read by attribute; tests may pass any object with the same fields.
Times = Any


class DiskCounters(NamedTuple):
    read_bytes: float
    write_bytes: float
    read_count: float
    write_count: float
    busy_time_ms: float


class NetCounters(NamedTuple):
    bytes_recv: float
    bytes_sent: float
    packets_recv: float
    packets_sent: float
    errin: float
    errout: float
    dropin: float
    dropout: float


@dataclass(slots=True)
class HostSnapshot:
    """Everything one interval reads from the OS; a field is None when it could not be read."""

    now: float
    cpu: Times | None = None
    per_cpu: list[Times] | None = None
    load: tuple[float, float, float] | None = None
    mem: Times | None = None  # total, available, used
    swap: Times | None = None  # total, used
    fs: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # total, used, free
    disks: dict[str, DiskCounters] | None = None
    nets: dict[str, NetCounters] | None = None
    links: dict[str, bool] | None = None
    procs: int | None = None
    boot_time: float | None = None


@dataclass(frozen=True, slots=True)
class HostMetricsOptions:
    """What to collect; the defaults suit a GPU server."""

    per_core: bool = True
    skip_interfaces: tuple[str, ...] = ("lo",)
    skip_disk_prefixes: tuple[str, ...] = ("loop", "ram", "zram", "sr", "fd")
    mount_refresh_s: float = 60.0
    skip_fstypes: tuple[str, ...] = ("squashfs", "overlay", "tmpfs", "devtmpfs", "iso9660")


def is_whole_disk(name: str, sys_block: str = "/sys/block") -> bool:
    """True for a whole block device (sda, nvme0n1, dm-0), False for partitions.

    Partitions double-count their disk's I/O; Linux lists only whole devices under
    /sys/block. Elsewhere every device counts.
    """
    if not sys.platform.startswith("linux") or not os.path.isdir(sys_block):
        return True
    return os.path.exists(os.path.join(sys_block, name.replace("/", "!")))


_CPU_IDLE = ("idle", "iowait")
_CPU_GUEST = ("guest", "guest_nice")  # already counted in user/nice on Linux


def cpu_fractions(prev: Times, cur: Times) -> dict[str, float] | None:
    """Busy, user, system, iowait and steal fractions between two cpu_times readings.

    Kernel CPU counters occasionally step back (iowait is known to); negative deltas
    count as zero. None when no time elapsed.
    """
    deltas: dict[str, float] = {}
    total = 0.0
    for name in cur._fields:
        if name in _CPU_GUEST:
            continue
        d = getattr(cur, name) - getattr(prev, name, 0.0)
        d = d if d > 0 else 0.0
        deltas[name] = d
        total += d
    if total <= 0:
        return None
    idle = sum(deltas.get(n, 0.0) for n in _CPU_IDLE)
    out = {
        "cpu.usage": (total - idle) / total,
        "cpu.user": (deltas.get("user", 0.0) + deltas.get("nice", 0.0)) / total,
        "cpu.system": (deltas.get("system", 0.0) + deltas.get("irq", 0.0)
                       + deltas.get("softirq", 0.0)) / total,
    }
    if "iowait" in deltas:
        out["cpu.iowait"] = deltas["iowait"] / total
    if "steal" in deltas:
        out["cpu.steal"] = deltas["steal"] / total
    return out


def _frac(x: float) -> float:
    return round(min(max(x, 0.0), 1.0), 5)


# Plausibility caps for counter rates: a faster apparent rate is a reset, not traffic.
_DISK_MAX = (1e11, 1e11, 1e8, 1e8, 2000.0)  # bytes/s, bytes/s, ops/s, ops/s, busy ms per s
_NET_MAX = (1e11, 1e11, 1e9, 1e9, 1e9, 1e9, 1e9, 1e9)


class HostMetrics:
    """Pure: snapshots in, samples out. Holds only the previous snapshot and counter baselines."""

    def __init__(self, options: HostMetricsOptions | None = None) -> None:
        self.options = options or HostMetricsOptions()
        self._prev: HostSnapshot | None = None
        self.disk_rates = CounterRates(max_rates=_DISK_MAX)
        self.net_rates = CounterRates(max_rates=_NET_MAX)
        self._ever_up: set[str] = set()

    def samples(self, snap: HostSnapshot) -> list[Sample]:
        """Samples for the interval ending at `snap`; rates need a previous snapshot."""
        prev, self._prev = self._prev, snap
        out: list[Sample] = []
        if prev is not None and snap.cpu is not None and prev.cpu is not None:
            fr = cpu_fractions(prev.cpu, snap.cpu)
            if fr is not None:
                out.extend(sample(k, _frac(v)) for k, v in fr.items())
        if (self.options.per_core and prev is not None and snap.per_cpu is not None
                and prev.per_cpu is not None and len(prev.per_cpu) == len(snap.per_cpu)):
            for i, (a, b) in enumerate(zip(prev.per_cpu, snap.per_cpu, strict=True)):
                fr = cpu_fractions(a, b)
                if fr is not None:
                    out.append(sample("cpu.core.usage", _frac(fr["cpu.usage"]), {"cpu": str(i)}))
        if snap.load is not None:
            out.append(sample("load.1m", snap.load[0]))
            out.append(sample("load.5m", snap.load[1]))
            out.append(sample("load.15m", snap.load[2]))
        if snap.procs is not None:
            out.append(sample("proc.count", float(snap.procs)))
        self._memory(snap, out)
        for mount, (total, used, free) in snap.fs.items():
            if total > 0 and used + free > 0:
                # df's convention: used / (used + available to users). Blocks reserved for
                # root are neither, so used / total reads low (6 % where df says 16 %).
                labels = {"mount": mount}
                out.append(sample("fs.usage", _frac(used / (used + free)), labels))
                out.append(sample("fs.free_bytes", float(free), {"mount": mount}))
        self._disks(snap, out)
        self._nets(snap, out)
        if snap.boot_time is not None:
            out.append(sample("host.uptime_s", round(max(snap.now - snap.boot_time, 0.0), 1)))
        return out

    @staticmethod
    def _memory(snap: HostSnapshot, out: list[Sample]) -> None:
        mem = snap.mem
        if mem is not None and mem.total > 0:
            used = mem.total - mem.available
            out.append(sample("mem.usage", _frac(used / mem.total)))
            out.append(sample("mem.used_bytes", float(used)))
            out.append(sample("mem.available_bytes", float(mem.available)))
            out.append(sample("mem.total_bytes", float(mem.total)))
        swap = snap.swap
        if swap is not None:
            out.append(sample("swap.usage", _frac(swap.used / swap.total) if swap.total else 0.0))
            out.append(sample("swap.used_bytes", float(swap.used)))

    def _disks(self, snap: HostSnapshot, out: list[Sample]) -> None:
        if snap.disks is None:
            return
        self.disk_rates.keep_only(snap.disks)
        for dev, counters in snap.disks.items():
            rates = self.disk_rates.update(dev, snap.now, counters)
            if rates is None:
                continue
            rb, wb, rc, wc, busy_ms = rates
            if rb is not None:
                out.append(sample("disk.read_bytes_per_s", round(rb, 1), {"device": dev}))
            if wb is not None:
                out.append(sample("disk.write_bytes_per_s", round(wb, 1), {"device": dev}))
            if rc is not None:
                out.append(sample("disk.read_iops", round(rc, 2), {"device": dev}))
            if wc is not None:
                out.append(sample("disk.write_iops", round(wc, 2), {"device": dev}))
            if busy_ms is not None:
                out.append(sample("disk.busy", _frac(busy_ms / 1000.0), {"device": dev}))

    _NET_NAMES = ("net.rx_bytes_per_s", "net.tx_bytes_per_s", "net.rx_packets_per_s",
                  "net.tx_packets_per_s", "net.rx_errors_per_s", "net.tx_errors_per_s",
                  "net.rx_drops_per_s", "net.tx_drops_per_s")

    def _nets(self, snap: HostSnapshot, out: list[Sample]) -> None:
        # Ports that have never been up since the agent started (spare NICs, ifb
        # devices) are noise: a permanent "link down" would page someone for nothing.
        if snap.links is not None:
            self._ever_up.update(nic for nic, up in snap.links.items() if up)
        used = self._ever_up if snap.links is not None else None
        if snap.nets is not None:
            self.net_rates.keep_only(snap.nets)
            for nic, counters in snap.nets.items():
                if used is not None and nic not in used:
                    continue
                rates = self.net_rates.update(nic, snap.now, counters)
                if rates is None:
                    continue
                for name, rate in zip(self._NET_NAMES, rates, strict=True):
                    if rate is not None:
                        out.append(sample(name, round(rate, 2), {"interface": nic}))
        if snap.links is not None:
            for nic, up in snap.links.items():
                if nic in self._ever_up:
                    out.append(sample("net.link_up", 1.0 if up else 0.0,
                                      {"interface": nic}))


class PsutilReader:
    """The psutil calls of one interval, each guarded: a failing source is reported once."""

    def __init__(self, options: HostMetricsOptions | None = None, *,
                 problems: Problems | None = None,
                 clock: Callable[[], float] | None = None,
                 whole_disk: Callable[[str], bool] = is_whole_disk) -> None:
        import time

        self.options = options or HostMetricsOptions()
        self.problems = problems or Problems()
        self._clock = clock or time.time
        self._whole_disk = whole_disk
        self._disk_ok: dict[str, bool] = {}
        self._mounts: list[str] = []
        self._mounts_at = float("-inf")
        self._boot_time: float | None = None

    def _guard(self, key: str, fn: Callable[[], Any]) -> Any:
        try:
            value = fn()
        except (OSError, psutil.Error, RuntimeError, ValueError) as e:
            self.problems.report(f"psutil:{key}", f"cannot read {key}: {e}")
            return None
        self.problems.clear(f"psutil:{key}", f"reading {key} works again")
        return value

    def _keep_disk(self, name: str) -> bool:
        ok = self._disk_ok.get(name)
        if ok is None:
            ok = (not name.startswith(self.options.skip_disk_prefixes)
                  and self._whole_disk(name))
            self._disk_ok[name] = ok
        return ok

    def mounts(self, now: float) -> list[str]:
        """Mount points worth watching, refreshed every `mount_refresh_s`."""
        if now - self._mounts_at >= self.options.mount_refresh_s:
            self._mounts_at = now
            parts = self._guard("disk_partitions", lambda: psutil.disk_partitions(all=False))
            if parts is not None:
                skip = self.options.skip_fstypes
                seen = ["/"]
                for p in parts:
                    if p.fstype not in skip and p.mountpoint not in seen:
                        seen.append(p.mountpoint)
                self._mounts = seen
        return self._mounts

    def read(self) -> HostSnapshot:
        """One snapshot; never raises for an unreadable source."""
        now = self._clock()
        opts = self.options
        snap = HostSnapshot(now=now)
        snap.cpu = self._guard("cpu_times", psutil.cpu_times)
        if opts.per_core:
            snap.per_cpu = self._guard("cpu_times_percpu", lambda: psutil.cpu_times(percpu=True))
        snap.load = self._guard("getloadavg", psutil.getloadavg)
        snap.mem = self._guard("virtual_memory", psutil.virtual_memory)
        snap.swap = self._guard("swap_memory", psutil.swap_memory)
        for mount in self.mounts(now):
            usage = self._guard(f"disk_usage {mount}",
                                lambda m=mount: psutil.disk_usage(m))  # type: ignore[misc]
            if usage is not None:
                snap.fs[mount] = (usage.total, usage.used, usage.free)
        disks: Mapping[str, Any] | None = self._guard(
            "disk_io_counters", lambda: psutil.disk_io_counters(perdisk=True, nowrap=False))
        if disks is not None:
            snap.disks = {
                name: DiskCounters(d.read_bytes, d.write_bytes, d.read_count, d.write_count,
                                   getattr(d, "busy_time", 0))
                for name, d in disks.items() if self._keep_disk(name)
            }
        nets: Mapping[str, Any] | None = self._guard(
            "net_io_counters", lambda: psutil.net_io_counters(pernic=True, nowrap=False))
        skip = opts.skip_interfaces
        if nets is not None:
            snap.nets = {
                name: NetCounters(n.bytes_recv, n.bytes_sent, n.packets_recv, n.packets_sent,
                                  n.errin, n.errout, n.dropin, n.dropout)
                for name, n in nets.items() if not name.startswith(skip)
            }
        stats: Mapping[str, Any] | None = self._guard("net_if_stats", psutil.net_if_stats)
        if stats is not None:
            snap.links = {name: bool(s.isup) for name, s in stats.items()
                          if not name.startswith(skip)}
        pids = self._guard("pids", psutil.pids)
        snap.procs = len(pids) if pids is not None else None
        if self._boot_time is None:
            self._boot_time = self._guard("boot_time", psutil.boot_time)
        snap.boot_time = self._boot_time
        return snap
