"""node_exporter's host metrics as the agent's own `HostSnapshot`.

A fleet that already runs node_exporter should not need a second host collector: the
agent scrapes it and turns its families into the snapshot psutil would have given
(`producers.hostmetrics.HostSnapshot`), so the very same `HostMetrics` converter makes
the catalogue samples (`cpu.usage` from CPU-second deltas, reset-safe disk and network
rates, df-style `fs.usage`). Set `[agent] host_metrics = false` so psutil is not read
as well.

node_exporter's names (its default collectors): `node_cpu_seconds_total{cpu,mode}`,
`node_load1|5|15`, `node_memory_{MemTotal,MemAvailable,SwapTotal,SwapFree}_bytes`,
`node_filesystem_{size,free,avail}_bytes{mountpoint,fstype}`,
`node_disk_{read_bytes,written_bytes,reads_completed,writes_completed,io_time_seconds}_total
{device}`, `node_network_{receive,transmit}_{bytes,packets,errs,drop}_total{device}`,
`node_network_up{device}`, `node_boot_time_seconds`. Partitions, loop and RAM disks,
`lo` and pseudo file systems are skipped as the psutil reader skips them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import NamedTuple, TypeVar

from producers.exporters.exposition import Family, LabelKey
from producers.hostmetrics import DiskCounters, HostMetricsOptions, HostSnapshot, NetCounters

__all__ = ["NODE_FAMILIES", "node_snapshot"]

T = TypeVar("T")


class CpuTimes(NamedTuple):
    user: float
    nice: float
    system: float
    idle: float
    iowait: float
    irq: float
    softirq: float
    steal: float


class Memory(NamedTuple):
    total: float
    available: float
    used: float


class Swap(NamedTuple):
    total: float
    used: float


_DISK = ("read_bytes", "written_bytes", "reads_completed", "writes_completed", "io_time_seconds")
_NET = ("receive_bytes", "transmit_bytes", "receive_packets", "transmit_packets",
        "receive_errs", "transmit_errs", "receive_drop", "transmit_drop")
_FS = ("size_bytes", "free_bytes", "avail_bytes")
_MEM = ("MemTotal", "MemAvailable", "SwapTotal", "SwapFree")

NODE_FAMILIES = frozenset({
    "node_cpu_seconds", "node_load1", "node_load5", "node_load15", "node_boot_time_seconds",
    "node_network_up",
    *(f"node_memory_{m}_bytes" for m in _MEM),
    *(f"node_filesystem_{f}" for f in _FS),
    *(f"node_disk_{d}" for d in _DISK),
    *(f"node_network_{n}" for n in _NET),
})

# node_exporter's own default device exclusion: partitions, RAM, loop and floppy disks.
_PARTITION = re.compile(r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p|mmcblk\d+p)\d+$")


def _label(key: LabelKey, name: str) -> str:
    for k, v in key:
        if k == name:
            return v
    return ""


def _values(families: dict[str, Family], name: str) -> dict[LabelKey, float]:
    fam = families.get(name)
    if fam is None:
        return {}
    return {k: v for k, v in fam.series.items() if isinstance(v, float)}


def _one(families: dict[str, Family], name: str) -> float | None:
    vals = _values(families, name)
    return next(iter(vals.values())) if vals else None


def node_snapshot(families: dict[str, Family], now: float,
                  options: HostMetricsOptions | None = None) -> HostSnapshot | None:
    """The host snapshot node_exporter's families describe; None when there are none."""
    if not NODE_FAMILIES & families.keys():
        return None
    opts = options or HostMetricsOptions()
    snap = HostSnapshot(now=now)
    _cpu(families, snap)
    loads = [_one(families, f"node_load{n}") for n in (1, 5, 15)]
    if all(v is not None for v in loads):
        snap.load = (loads[0] or 0.0, loads[1] or 0.0, loads[2] or 0.0)
    mem = {m: _one(families, f"node_memory_{m}_bytes") for m in _MEM}
    if mem["MemTotal"] is not None and mem["MemAvailable"] is not None:
        snap.mem = Memory(mem["MemTotal"], mem["MemAvailable"],
                          mem["MemTotal"] - mem["MemAvailable"])
    if mem["SwapTotal"] is not None and mem["SwapFree"] is not None:
        snap.swap = Swap(mem["SwapTotal"], mem["SwapTotal"] - mem["SwapFree"])
    _filesystems(families, snap, opts)
    snap.disks = _per_device(families, "node_disk_", _DISK, DiskCounters, opts, disks=True)
    snap.nets = _per_device(families, "node_network_", _NET, NetCounters, opts, disks=False)
    up = _values(families, "node_network_up")
    if up:
        snap.links = {_label(k, "device"): v >= 1 for k, v in up.items()
                      if _label(k, "device") not in opts.skip_interfaces}
    snap.boot_time = _one(families, "node_boot_time_seconds")
    return snap


def _cpu(families: dict[str, Family], snap: HostSnapshot) -> None:
    per: dict[str, dict[str, float]] = defaultdict(dict)
    for key, v in _values(families, "node_cpu_seconds").items():
        per[_label(key, "cpu")][_label(key, "mode")] = v
    if not per:
        return
    times = [CpuTimes(*(modes.get(f, 0.0) for f in CpuTimes._fields)) for _, modes in
             sorted(per.items(), key=lambda kv: (len(kv[0]), kv[0]))]
    snap.per_cpu = times
    snap.cpu = CpuTimes(*(sum(getattr(t, f) for t in times) for f in CpuTimes._fields))


def _filesystems(families: dict[str, Family], snap: HostSnapshot,
                 opts: HostMetricsOptions) -> None:
    size, free, avail = (_values(families, f"node_filesystem_{f}") for f in _FS)
    for key, total in size.items():
        if _label(key, "fstype") in opts.skip_fstypes or key not in free or key not in avail:
            continue
        mount = _label(key, "mountpoint")
        if mount and mount not in snap.fs:
            snap.fs[mount] = (total, total - free[key], avail[key])


def _per_device(families: dict[str, Family], prefix: str, fields: tuple[str, ...],
                   cls: type[T], opts: HostMetricsOptions, *, disks: bool
                   ) -> dict[str, T] | None:
    columns = [_values(families, prefix + f) for f in fields]
    if not any(columns):
        return None
    devices: dict[str, list[float]] = {}
    for i, col in enumerate(columns):
        for key, v in col.items():
            dev = _label(key, "device")
            devices.setdefault(dev, [0.0] * len(fields))[i] = v
    out: dict[str, T] = {}
    for dev, vals in devices.items():
        if disks:
            if _PARTITION.match(dev) or dev.startswith(opts.skip_disk_prefixes):
                continue
            vals[4] *= 1000.0  # io_time seconds -> the milliseconds psutil gives
        elif dev in opts.skip_interfaces:
            continue
        out[dev] = cls(*vals)
    return out
