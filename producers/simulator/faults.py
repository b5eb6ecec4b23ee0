"""Injected faults: who they hit, when, what evidence they leave, and the ground truth.

A `Fault` is resolved from a `FaultSpec` once (hosts, GPU, job chosen with its own
seeded generator) and then, every interval that overlaps it, sets `Effects` on
its hosts and writes the log lines real systems print. `manifest()` is its ground
truth line. Timing conventions: `start_ms` is the first evidence, `end_ms` the
end; an XID happens at `xid_ms` (start + lead); its log lines carry that exact
time and the `gpu.xid` sample rides in the next batch, as a real agent's would.
Choosing the targets of a spec lives in producers.simulator.placement.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from producers.simulator import loglines as L
from producers.simulator.model import Effects, HostSim, NicEffect
from producers.simulator.topology import NIC_PCI

__all__ = ["CpuSaturation", "Fault", "GpuThrottle", "GpuXid", "LinkFlaps", "MemoryLeak",
           "NcclTimeout", "Silent", "SlowDisk", "StepContext"]


@dataclass
class StepContext:
    """One interval [t, t_next) being built: effects per host, stalled jobs."""

    t: int
    t_next: int
    sims: dict[str, HostSim]
    effects: dict[str, Effects] = field(default_factory=dict)
    stalled_jobs: set[str] = field(default_factory=set)

    def fx(self, host: str) -> Effects:
        e = self.effects.get(host)
        if e is None:
            e = self.effects[host] = Effects()
        return e

    def within(self, instant: int) -> bool:
        """Whether `instant` falls in this interval."""
        return self.t <= instant < self.t_next

    def just_after(self, instant: int) -> bool:
        """Whether this interval's batch is the first one after `instant`."""
        return self.t - (self.t_next - self.t) < instant <= self.t


@dataclass
class Fault:
    """Base: a window, its hosts and a deterministic generator; subclasses add evidence."""

    kind: str
    hosts: list[str]
    rack: str
    start_ms: int
    end_ms: int
    rng: random.Random
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Subclasses precompute their schedules here (from `rng`)."""

    def active(self, t: int) -> bool:
        return self.start_ms <= t < self.end_ms

    def overlaps(self, ctx: StepContext) -> bool:
        step = ctx.t_next - ctx.t
        return ctx.t <= self.end_ms + step and ctx.t_next > self.start_ms - step

    def apply(self, ctx: StepContext) -> None:
        raise NotImplementedError

    def manifest(self) -> dict[str, Any]:
        return {"kind": self.kind, "hosts": list(self.hosts), "rack": self.rack,
                "start_ms": self.start_ms, "end_ms": self.end_ms, "details": dict(self.details)}


class CpuSaturation(Fault):
    def apply(self, ctx: StepContext) -> None:
        if self.active(ctx.t):
            ctx.fx(self.hosts[0]).cpu_saturated = True


class MemoryLeak(Fault):
    """Memory climbs to the limit, swap fills, the OOM killer ends it at `end_ms`."""

    def apply(self, ctx: StepContext) -> None:
        host = self.hosts[0]
        sim = ctx.sims[host]
        if self.active(ctx.t):
            frac = (ctx.t - self.start_ms) / max(self.end_ms - self.start_ms, 1)
            level = sim.mem_base + (0.988 - sim.mem_base) * frac
            fx = ctx.fx(host)
            fx.mem_level = level
            if level > 0.95:
                fx.swap_level = min((level - 0.95) / 0.038, 1.0) * 0.9
        if ctx.within(self.end_ms):
            proc = self.details["process"]
            pid = self.details["pid"]
            rss = int(sim.spec.mem_bytes * 0.55 / 1024)
            for level, msg in L.oom_lines(proc, pid, rss + rss // 3, rss, self.rng):
                sim.kmsg(self.end_ms, level, msg)


class SlowDisk(Fault):
    def apply(self, ctx: StepContext) -> None:
        host = self.hosts[0]
        dev = self.details["device"]
        if self.active(ctx.t):
            fx = ctx.fx(host)
            fx.slow_disk = dev
            fx.iowait += 0.12 + 0.1 * self.rng.random()
        sim = ctx.sims[host]
        at = self.start_ms + 30_000
        while at < self.end_ms:
            if ctx.within(at):
                if dev.startswith("nvme"):
                    ctrl = int(dev[4:].split("n", 1)[0] or 0)
                    level, msg = L.nvme_timeout(ctrl, self.rng)
                else:
                    level, msg = (L.KERN_WARNING, f"sd 2:0:{dev[-1:]}:0: [{dev}] tag#"
                                  f"{self.rng.randrange(64)} timing out command, waited 180s")
                sim.kmsg(at, level, msg)
            at += 90_000


class LinkFlaps(Fault):
    """Errors and drops on an interface, and (optionally) the link going down and up."""

    def __post_init__(self) -> None:
        self.windows: list[tuple[int, int]] = []
        if self.details.get("flap", True):
            step = self.details.get("interval_ms", 10_000)
            t = self.start_ms + self.rng.randrange(5_000, 30_000)
            while t < self.end_ms:
                length = max(15_000, int(step * 1.5)) + self.rng.randrange(0, 10_000)
                self.windows.append((t, min(t + length, self.end_ms)))
                t += length + self.rng.randrange(30_000, 75_000)
        self.err_rate = self.rng.uniform(8.0, 150.0)

    def apply(self, ctx: StepContext) -> None:
        nic = self.details["interface"]
        for host in self.hosts:
            sim = ctx.sims[host]
            if nic not in sim.link_up:
                continue
            if self.active(ctx.t):
                down = any(a <= ctx.t < b for a, b in self.windows)
                ctx.fx(host).nic[nic] = NicEffect(err_rate=self.err_rate, down=down)
            for a, b in self.windows:
                jitter = sim.spec.index % 7 * 13
                if ctx.within(a):
                    level, msg = L.link_line(NIC_PCI.get(nic, "0000:5e:00"), nic, up=False)
                    sim.kmsg(a + jitter, level, msg)
                if ctx.within(b):
                    level, msg = L.link_line(NIC_PCI.get(nic, "0000:5e:00"), nic, up=True)
                    sim.kmsg(b + jitter, level, msg)


class GpuXid(Fault):
    """An XID on one GPU, with the lead-up its kind shows before it."""

    def apply(self, ctx: StepContext) -> None:
        host = self.hosts[0]
        sim = ctx.sims[host]
        gpu = self.details["gpu"]
        xid = self.details["xid"]
        x = self.details["xid_ms"]
        before = self.start_ms <= ctx.t < x
        after = x <= ctx.t < self.end_ms
        kind = self.kind
        if before:
            fx = ctx.fx(host)
            ramp = (ctx.t - self.start_ms) / max(x - self.start_ms, 1)
            if kind == "gpu_thermal_xid":
                if self.details["cause"] == "power":
                    fx.gpu_power_cap.add(gpu)
                    fx.gpu_heat[gpu] = 1.0 + 0.15 * ramp
                else:
                    # Cooling fails (fan, blocked airflow, warm inlet): the GPU heats
                    # until the driver throttles it, and then holds at the limit.
                    fx.gpu_heat[gpu] = 1.0 + 1.2 * min(ramp * 1.7, 1.0)
            elif xid == 74:
                fx.nvlink_rate[gpu] = 2.0 + 60.0 * ramp
            elif xid == 79:
                fx.pcie_rate[gpu] = 1.0 + 40.0 * ramp
        if ctx.within(x):
            pid = self.details["pid"]
            for level, msg in L.xid_lines(xid, self.details["pci"], pid, "python", self.rng,
                                          self.details["uuid"]):
                sim.kmsg(x, level, msg)
            g = sim.gpus[gpu]
            if xid == 48:
                g.dbe += 1
                g.sbe += self.rng.randrange(1, 4)
            elif xid == 63:
                g.remapped += 1
                g.sbe += self.rng.randrange(1, 6)
            elif xid == 64:
                g.remap_failure = True
        if ctx.just_after(x):
            ctx.fx(host).xids.append((gpu, xid))
        if after:
            fx = ctx.fx(host)
            if xid == 79:
                fx.gpu_missing.add(gpu)
            if xid == 74:
                fx.nvlink_rate[gpu] = 30.0
            if xid in (79, 48, 74) and sim.job is not None:
                ctx.stalled_jobs.add(sim.job.job_id)
        if ctx.within(self.end_ms):  # the GPU is reset: volatile state clears
            g = sim.gpus[gpu]
            g.dbe = 0 if xid == 48 else g.dbe
            g.remap_failure = False


class GpuThrottle(Fault):
    """A GPU slows down without an XID: the power brake (clocks at ~45 %) or a cooling
    loss (heat, then thermal slowdown). On a serving host its replica slows with it:
    the queue grows, latency climbs, throughput drops."""

    def apply(self, ctx: StepContext) -> None:
        if not self.active(ctx.t):
            return
        fx = ctx.fx(self.hosts[0])
        gpu = self.details["gpu"]
        if self.details["cause"] == "power":
            fx.gpu_brake.add(gpu)
        else:
            ramp = min((ctx.t - self.start_ms) / 180_000, 1.0)
            fx.gpu_heat[gpu] = 1.0 + 1.2 * ramp


class NcclTimeout(Fault):
    """A collective hangs; after the timeout every rank's watchdog says so."""

    def apply(self, ctx: StepContext) -> None:
        job = self.details["job"]
        if self.active(ctx.t):
            ctx.stalled_jobs.add(job)
        x = self.details["timeout_at_ms"]
        if not ctx.within(x):
            return
        timeout = self.details["timeout_ms"]
        seq_num = self.details["seq_num"]
        numel = self.details["numel"]
        for pos, host in enumerate(self.hosts):
            sim = ctx.sims[host]
            ngpu = len(sim.spec.gpus) or 1
            for local in range(ngpu):
                rank = pos * ngpu + local
                jitter = self.rng.randrange(0, 400)
                ts = x + jitter
                line = L.nccl_watchdog(rank, ts, self.details["pid"] + local, seq_num, numel,
                                       timeout, timeout + 1 + jitter)
                sim.logs.append(_log(ts, f"/var/log/jobs/{job}/rank{rank}.log", line,
                                     {"job": job, "rank": str(rank)}))


class Silent(Fault):
    """Hosts stop publishing; after a power loss they come back rebooted."""

    def apply(self, ctx: StepContext) -> None:
        if self.active(ctx.t):
            for host in self.hosts:
                fx = ctx.fx(host)
                fx.silent = True
                fx.silent_until = self.end_ms
        if self.kind == "rack_power" and ctx.within(self.end_ms):
            for host in self.hosts:
                sim = ctx.sims[host]
                sim.reboot(self.end_ms)
                for level, msg in L.boot_lines("5.15.0-91-generic"):
                    sim.kmsg(self.end_ms, level, msg)


def _log(ts: int, source: str, message: str, labels: dict[str, str]) -> Any:
    from producers.simulator.model import PendingLog

    return PendingLog(ts, source, message, labels)
