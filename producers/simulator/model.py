"""One simulated host's dynamics, and the per-interval effects faults impose on it.

Normal behaviour: a diurnal-ish load curve with noise on CPU hosts; on GPU hosts a
training job drives correlated GPU utilisation, power, temperature (a first-order
lag towards a power-dependent target), SM clock, InfiniBand traffic and data-disk
reads, with periodic checkpoints (utilisation dips, write bursts). Faults do not
edit samples after the fact: they set `Effects` that the model obeys, so the
evidence stays physically consistent (a hotter GPU throttles, loses clock and
power; a stalled job idles every GPU of every rank).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from producers.events import sample
from producers.kmsg import format_kmsg
from producers.simulator.loglines import syslog_line
from producers.simulator.serving import HEADROOM, ReplicaSim, ReplicaSpec
from producers.simulator.topology import HostSpec, Job
from schemas.events import Sample

__all__ = ["Effects", "GpuState", "HostSim", "NicEffect", "PendingLog"]

Add = Callable[[Sample], None]
MB = 1_000_000
TDP_W, IDLE_W, MAX_CLOCK = 700.0, 70.0, 1980.0
THROTTLE_C = 87.0
KERNEL = "5.15.0-91-generic"


@dataclass(slots=True)
class NicEffect:
    err_rate: float = 0.0
    down: bool = False


@dataclass(slots=True)
class Effects:
    """What active faults impose on a host for one interval."""

    silent: bool = False
    silent_until: int = 0  # logs stamped before this are never shipped
    cpu_saturated: bool = False
    mem_level: float | None = None
    swap_level: float | None = None
    slow_disk: str | None = None
    iowait: float = 0.0
    nic: dict[str, NicEffect] = field(default_factory=dict)
    stalled: bool = False
    gpu_missing: set[int] = field(default_factory=set)
    gpu_heat: dict[int, float] = field(default_factory=dict)  # cooling loss factor (1 = none)
    gpu_power_cap: set[int] = field(default_factory=set)
    gpu_brake: set[int] = field(default_factory=set)  # hardware slowdown: clocks at ~45 %
    nvlink_rate: dict[int, float] = field(default_factory=dict)
    pcie_rate: dict[int, float] = field(default_factory=dict)
    xids: list[tuple[int, int]] = field(default_factory=list)  # (gpu, xid) this interval


@dataclass(slots=True)
class GpuState:
    temp: float = 35.0
    sbe: int = 0
    dbe: int = 0
    remapped: int = 0
    remap_failure: bool = False
    last_sbe: int = 0
    last_dbe: int = 0


@dataclass(slots=True)
class PendingLog:
    ts: int
    source: str
    message: str
    labels: dict[str, str] | None = None  # extra labels (job, rank, gpu)


def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x


class HostSim:
    """The moving parts of one host; `render` produces one interval's samples."""

    def __init__(self, spec: HostSpec, job: Job | None, seed: int, start_ms: int,
                 replicas: list[ReplicaSpec] | None = None) -> None:
        self.spec = spec
        self.job = job
        self.rng = random.Random(f"{seed}:host:{spec.name}")
        self.replicas = [ReplicaSim(r) for r in replicas or ()]
        self.serve_rng = random.Random(f"{seed}:serving:{spec.name}")
        rng = self.rng
        self.metrics_seq = 0
        self.logs_seq = 0
        self.kmsg_seq = rng.randrange(1500, 4000)
        uptime_s = rng.uniform(86400, 90 * 86400)
        self.boot_ms = start_ms - int(uptime_s * 1000)
        self.mem_base = rng.uniform(0.25, 0.45) + (0.2 if job else 0.0)
        self.fs_used = [rng.uniform(0.25, 0.7) for _ in spec.mounts]
        self.procs = rng.randrange(550, 900)
        self.load = [0.0, 0.0, 0.0]
        self.gpus = [GpuState() for _ in spec.gpus]
        self.link_up = dict.fromkeys(spec.nics, True)
        self.logs: list[PendingLog] = []
        self.warm = False

    # -- logs --------------------------------------------------------------------------
    def kmsg(self, ts_ms: int, level: int, message: str,
             labels: dict[str, str] | None = None) -> None:
        """A kernel message, as the agent ships /dev/kmsg records."""
        self.kmsg_seq += 1
        usec = max(ts_ms - self.boot_ms, 0) * 1000
        self.logs.append(PendingLog(ts_ms, "kmsg", format_kmsg(level, self.kmsg_seq, usec,
                                                               message), labels))

    def syslog(self, ts_ms: int, program: str, pid: int | None, message: str) -> None:
        self.logs.append(PendingLog(ts_ms, "/var/log/syslog",
                                    syslog_line(ts_ms, self.spec.name, program, pid, message)))

    def reboot(self, ts_ms: int) -> None:
        """Power came back: new boot, volatile counters cleared, kernel log restarts."""
        self.boot_ms = ts_ms - 45_000
        self.kmsg_seq = 0
        self.load = [0.0, 0.0, 0.0]
        for g in self.gpus:
            g.sbe = g.dbe = 0
            g.remap_failure = False
        for r in self.replicas:
            r.restart()
        self.warm = False

    # -- metrics -----------------------------------------------------------------------
    def render(self, t_ms: int, dt_s: float, fx: Effects | None, stalled: bool) -> list[Sample]:
        """One interval's samples under the effects `fx` (None: a normal interval)."""
        spec, rng = self.spec, self.rng
        rnd = rng.random
        day = 2 * math.pi * ((t_ms / 86_400_000.0) % 1.0)
        diurnal = 0.5 + 0.35 * math.sin(day + spec.phase)
        job = self.job
        checkpoint = False
        load = 0.75 + 0.5 * diurnal  # requests on a serving host follow the daily curve
        if spec.role == "gpu" and self.replicas:
            running = False  # no training I/O; the GPUs follow the requests
            gpu_target = min(0.3 + 0.6 * load / HEADROOM, 0.95)
            cpu = 0.10 + 0.08 * rnd()
        elif spec.role == "gpu":
            running = job is not None and not stalled and not (fx and fx.stalled)
            if running and job is not None:
                checkpoint = ((t_ms // 1000 + job.pid) % 1800) < 60
            gpu_target = (0.06 if checkpoint else job.util) if running and job else 0.0
            cpu = (0.22 + 0.1 * rnd()) if running else (0.02 + 0.02 * rnd())
        else:
            running = False
            gpu_target = 0.0
            cpu = _clip(0.15 + 0.6 * diurnal + (rnd() - 0.5) * 0.08)
        if fx is not None and fx.cpu_saturated:
            cpu = 0.97 + 0.03 * rnd()
        iowait = 0.002 + 0.004 * rnd() + (fx.iowait if fx else 0.0)
        out: list[Sample] = []
        add = out.append
        system = cpu * (0.12 + 0.05 * rnd())
        add(sample("cpu.usage", round(_clip(cpu), 4)))
        add(sample("cpu.user", round(cpu - system, 4)))
        add(sample("cpu.system", round(system, 4)))
        add(sample("cpu.iowait", round(min(iowait, 1.0 - cpu) if cpu < 1 else 0.0, 4)))
        if spec.per_core:
            for c in range(spec.cores):
                core = _clip(cpu + (rnd() - 0.5) * 0.2) if cpu < 0.97 else 0.97 + 0.03 * rnd()
                add(sample("cpu.core.usage", round(core, 4), {"cpu": str(c)}))
        runq = cpu * spec.cores * (1.0 if cpu < 0.95 else 2.0 + rnd())
        a1 = 1 - math.exp(-dt_s / 60)
        a5 = 1 - math.exp(-dt_s / 300)
        a15 = 1 - math.exp(-dt_s / 900)
        if not self.warm:
            self.load = [runq, runq, runq]
        ld = self.load
        ld[0] += (runq - ld[0]) * a1
        ld[1] += (runq - ld[1]) * a5
        ld[2] += (runq - ld[2]) * a15
        add(sample("load.1m", round(ld[0], 2)))
        add(sample("load.5m", round(ld[1], 2)))
        add(sample("load.15m", round(ld[2], 2)))
        add(sample("proc.count", float(self.procs + rng.randrange(-5, 6))))
        self._memory(fx, add)
        for i, (mount, _size) in enumerate(spec.mounts):
            self.fs_used[i] = min(self.fs_used[i] + rnd() * 2e-7 * dt_s, 0.99)
            used = self.fs_used[i]
            add(sample("fs.usage", round(used, 5), {"mount": mount}))
        self._disks(fx, running, checkpoint, diurnal, add)
        self._nets(fx, running, gpu_target, diurnal, add)
        add(sample("host.uptime_s", round((t_ms - self.boot_ms) / 1000.0, 1)))
        if spec.gpus:
            clocks = self._gpus(fx, gpu_target, dt_s, add)
            for replica in self.replicas:
                replica.step(self.serve_rng, dt_s, load, clocks, MAX_CLOCK, add)
        self.warm = True
        return out

    def _memory(self, fx: Effects | None, add: Add) -> None:
        spec, rnd = self.spec, self.rng.random
        level = self.mem_base + (rnd() - 0.5) * 0.01
        if fx is not None and fx.mem_level is not None:
            level = fx.mem_level
        level = _clip(level, 0.01, 0.995)
        used = int(spec.mem_bytes * level)
        add(sample("mem.usage", round(level, 4)))
        add(sample("mem.used_bytes", float(used)))
        add(sample("mem.total_bytes", float(spec.mem_bytes)))
        swap = fx.swap_level if fx is not None and fx.swap_level is not None else 0.0
        add(sample("swap.usage", round(swap, 4)))

    def _disks(self, fx: Effects | None, running: bool, checkpoint: bool, diurnal: float,
               add: Add) -> None:
        spec, rnd = self.spec, self.rng.random
        for n, dev in enumerate(spec.disks):
            if n == 0:  # the OS disk: quiet
                rb, wb, busy = 40e3 * rnd(), 300e3 + 400e3 * rnd(), 0.005 + 0.01 * rnd()
            elif spec.role == "gpu":
                if checkpoint:
                    rb, wb, busy = 20 * MB * rnd(), (1500 + 800 * rnd()) * MB, 0.85 + 0.1 * rnd()
                elif running:
                    rb, wb, busy = (250 + 400 * rnd()) * MB, 5 * MB * rnd(), 0.2 + 0.2 * rnd()
                else:
                    rb, wb, busy = MB * rnd(), MB * rnd(), 0.01 * rnd()
            elif spec.role == "storage":
                rb = (150 + 250 * diurnal + 50 * rnd()) * MB
                wb = (80 + 120 * diurnal + 30 * rnd()) * MB
                busy = _clip(0.25 + 0.4 * diurnal + 0.05 * rnd())
            else:
                rb, wb = (5 + 40 * diurnal * rnd()) * MB, (10 + 30 * diurnal * rnd()) * MB
                busy = 0.03 + 0.1 * diurnal * rnd()
            if fx is not None and fx.slow_disk == dev:
                # Busy all the time, moving almost nothing: a failing or throttled device.
                total = (3 + 25 * rnd()) * MB
                rb, wb, busy = total * 0.7, total * 0.3, 0.93 + 0.06 * rnd()
                riops, wiops = 120 + 200 * rnd(), 40 + 80 * rnd()
            else:
                riops, wiops = rb / 131072 + 5 * rnd(), wb / 131072 + 5 * rnd()
            labels = {"device": dev}
            add(sample("disk.read_bytes_per_s", round(rb, 1), labels))
            add(sample("disk.write_bytes_per_s", round(wb, 1), {"device": dev}))
            add(sample("disk.read_iops", round(riops, 2), {"device": dev}))
            add(sample("disk.write_iops", round(wiops, 2), {"device": dev}))
            add(sample("disk.busy", round(_clip(busy), 4), {"device": dev}))

    def _nets(self, fx: Effects | None, running: bool, gpu_target: float, diurnal: float,
              add: Add) -> None:
        spec, rnd = self.spec, self.rng.random
        for nic in spec.nics:
            if nic == "ib0":
                base = gpu_target * (18e9 + 4e9 * rnd()) if running else 1e5 * rnd()
            elif spec.role == "gpu":
                base = (5 + 20 * rnd()) * MB
            else:
                base = (40 + 400 * diurnal + 30 * rnd()) * MB
            rx, tx = base * (0.95 + 0.1 * rnd()), base * (0.95 + 0.1 * rnd())
            err_rx = err_tx = drop_rx = drop_tx = 0.0
            up = True
            eff = fx.nic.get(nic) if fx is not None else None
            if eff is not None:
                up = not eff.down
                err_rx = eff.err_rate * (0.5 + rnd())
                err_tx = eff.err_rate * 0.1 * rnd()
                drop_rx = eff.err_rate * (1 + 2 * rnd())
                drop_tx = eff.err_rate * 0.2 * rnd()
                if not up:
                    rx = tx = 0.0
                else:
                    rx *= 0.6
                    tx *= 0.6
            mtu = 4096 if nic == "ib0" else 9000
            labels = {"interface": nic}
            add(sample("net.rx_bytes_per_s", round(rx, 1), labels))
            add(sample("net.tx_bytes_per_s", round(tx, 1), {"interface": nic}))
            add(sample("net.rx_packets_per_s", round(rx / mtu + rnd(), 2), {"interface": nic}))
            add(sample("net.tx_packets_per_s", round(tx / mtu + rnd(), 2), {"interface": nic}))
            add(sample("net.rx_errors_per_s", round(err_rx, 2), {"interface": nic}))
            add(sample("net.tx_errors_per_s", round(err_tx, 2), {"interface": nic}))
            add(sample("net.rx_drops_per_s", round(drop_rx, 2), {"interface": nic}))
            add(sample("net.tx_drops_per_s", round(drop_tx, 2), {"interface": nic}))
            add(sample("net.link_up", 1.0 if up else 0.0, {"interface": nic}))

    def _gpus(self, fx: Effects | None, target: float, dt_s: float, add: Add
              ) -> list[float | None]:
        """Each GPU's samples; returns the SM clock of each (None: the GPU is gone)."""
        rnd = self.rng.random
        alpha = 1 - math.exp(-dt_s / 45.0)
        clocks: list[float | None] = []
        for i, g in enumerate(self.gpus):
            if fx is not None and i in fx.gpu_missing:
                clocks.append(None)
                continue  # fallen off the bus: NVML cannot read it, the agent has nothing
            util = _clip(target + (rnd() - 0.5) * 0.04) if target > 0 else 0.0
            power = IDLE_W + util * (TDP_W - IDLE_W) * (0.88 + 0.08 * rnd())
            heat = fx.gpu_heat.get(i, 1.0) if fx is not None else 1.0
            capped = fx is not None and i in fx.gpu_power_cap
            if not self.warm:
                g.temp = 30.0 + power * 0.065 * heat
            clock = MAX_CLOCK if util > 0.02 else 345.0
            # The driver slows the clocks as the GPU nears its slowdown temperature; less
            # clock, less power, less heat: a hot GPU settles just above the threshold.
            thermal = g.temp >= THROTTLE_C
            if thermal:
                clock = max(MAX_CLOCK * (1 - (g.temp - 84.0) * 0.06), 900.0)
                power = IDLE_W + (power - IDLE_W) * clock / MAX_CLOCK
            if capped:
                power = TDP_W * (0.99 + 0.01 * rnd())
                clock = min(clock, 1410.0 + 60 * rnd())
            braked = fx is not None and i in fx.gpu_brake
            if braked and util > 0.02:  # the power brake slows the clocks hard
                slow = MAX_CLOCK * (0.42 + 0.04 * rnd())
                power = IDLE_W + (power - IDLE_W) * slow / clock
                clock = min(clock, slow)
            clocks.append(clock)
            target_c = 30.0 + power * 0.065 * heat
            g.temp += (target_c - g.temp) * alpha
            lab = {"gpu": str(i)}
            add(sample("gpu.utilization", round(util, 4), lab))
            add(sample("gpu.mem.usage", round(0.78 + 0.04 * rnd(), 4) if target > 0 else 0.0,
                       {"gpu": str(i)}))
            add(sample("gpu.temperature", round(g.temp + (rnd() - 0.5), 1), {"gpu": str(i)}))
            add(sample("gpu.power_watts", round(power, 1), {"gpu": str(i)}))
            add(sample("gpu.sm_clock_mhz", float(round(clock)), {"gpu": str(i)}))
            add(sample("gpu.throttle.thermal", 1.0 if thermal else 0.0, {"gpu": str(i)}))
            add(sample("gpu.throttle.power", 1.0 if capped or braked else 0.0, {"gpu": str(i)}))
            if rnd() < 2e-4:
                g.sbe += 1
            add(sample("gpu.ecc.sbe_volatile", float(g.sbe), {"gpu": str(i)}))
            add(sample("gpu.ecc.dbe_volatile", float(g.dbe), {"gpu": str(i)}))
            # The agent's rates of the same counters (a reset reads as no errors).
            add(sample("gpu.ecc.sbe_per_s", round(max(g.sbe - g.last_sbe, 0) / dt_s, 4),
                       {"gpu": str(i)}))
            add(sample("gpu.ecc.dbe_per_s", round(max(g.dbe - g.last_dbe, 0) / dt_s, 4),
                       {"gpu": str(i)}))
            g.last_sbe, g.last_dbe = g.sbe, g.dbe
            add(sample("gpu.remapped_rows", float(g.remapped), {"gpu": str(i)}))
            pcie = fx.pcie_rate.get(i, 0.0) if fx is not None else 0.0
            add(sample("gpu.pcie_replay_per_s", round(pcie * (0.7 + 0.6 * rnd()), 2),
                       {"gpu": str(i)}))
            nvl = fx.nvlink_rate.get(i, 0.0) if fx is not None else 0.0
            add(sample("gpu.nvlink_errors_per_s", round(nvl * (0.7 + 0.6 * rnd()), 2),
                       {"gpu": str(i)}))
            if g.remap_failure:
                add(sample("gpu.remap_failure", 1.0, {"gpu": str(i)}))
        if fx is not None:
            for gpu, xid in fx.xids:
                add(sample("gpu.xid", float(xid), {"gpu": str(gpu)}))
        return clocks
