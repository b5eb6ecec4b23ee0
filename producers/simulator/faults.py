"""Injected faults: who they hit, when, what evidence they leave, and the ground truth.

A `Fault` is resolved from a `FaultSpec` once (hosts, GPU, job chosen with its own
seeded generator) and then, every interval that overlaps it, sets `Effects` on
its hosts and writes the log lines real systems print. `manifest()` is its ground
truth line. Timing conventions: `start_ms` is the first evidence, `end_ms` the
end; an XID happens at `xid_ms` (start + lead); its log lines carry that exact
time and the `gpu.xid` sample rides in the next batch, as a real agent's would.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from producers.simulator import loglines as L
from producers.simulator.model import Effects, HostSim, NicEffect
from producers.simulator.spec import DEFAULTS, FaultSpec, FaultSpecError, parse_duration_ms
from producers.simulator.topology import NIC_PCI, Topology

__all__ = ["Fault", "StepContext", "resolve_faults"]


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


_CLASSES: dict[str, Callable[..., Fault]] = {
    "cpu_saturation": CpuSaturation,
    "memory_leak": MemoryLeak,
    "slow_disk": SlowDisk,
    "nic_errors": LinkFlaps,
    "rack_switch": LinkFlaps,
    "gpu_xid_79": GpuXid,
    "gpu_xid_48": GpuXid,
    "gpu_xid_63": GpuXid,
    "gpu_xid_64": GpuXid,
    "gpu_xid_74": GpuXid,
    "gpu_thermal_xid": GpuXid,
    "gpu_throttle": GpuThrottle,
    "nccl_timeout": NcclTimeout,
    "rack_power": Silent,
    "host_silent": Silent,
}


class _Chooser:
    """Picks targets, preferring ones no earlier fault has used."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.used_hosts: set[str] = set()
        self.used_racks: set[str] = set()
        self.used_jobs: set[str] = set()

    def host(self, rng: random.Random, want: str | None, gpu: bool, problems: list[str],
             where: str, serving: bool = False) -> str | None:
        names = {h.name for h in self.topo.hosts}
        if want and want != "random":
            if want not in names:
                problems.append(f"{where}: no host {want!r} in the fleet")
                return None
            if gpu and not self.topo.host(want).gpus:
                problems.append(f"{where}: host {want!r} has no GPU")
                return None
            self.used_hosts.add(want)
            return want
        pool = [h.name for h in self.topo.hosts if (h.gpus or not gpu)]
        if gpu:  # a GPU fault shows best on a GPU that is working (training or serving)
            busy = [n for n in pool if n in self.topo.job_of or n in self.topo.serving]
            pool = busy or pool
        if serving:  # a slowdown shows best where requests wait on it
            pool = [n for n in pool if n in self.topo.serving] or pool
        if not pool:
            problems.append(f"{where}: the fleet has no {'GPU ' if gpu else ''}host")
            return None
        fresh = [n for n in pool if n not in self.used_hosts] or pool
        pick = rng.choice(fresh)
        self.used_hosts.add(pick)
        return pick

    def rack(self, rng: random.Random, want: str | None, problems: list[str],
             where: str) -> str | None:
        racks = list(self.topo.racks)
        if want and want != "random":
            if want not in self.topo.racks:
                problems.append(f"{where}: no rack {want!r} (racks: {racks[0]}..{racks[-1]})")
                return None
            return want
        fresh = [r for r in racks if r not in self.used_racks
                 and not set(self.topo.racks[r]) & self.used_hosts] or racks
        pick = rng.choice(fresh)
        self.used_racks.add(pick)
        self.used_hosts.update(self.topo.racks[pick])
        return pick

    def job(self, rng: random.Random, want: str | None, problems: list[str],
            where: str) -> str | None:
        jobs = self.topo.jobs
        if want and want != "random":
            if want not in jobs:
                problems.append(f"{where}: no job {want!r}")
                return None
            return want
        if not jobs:
            problems.append(f"{where}: the fleet runs no training job (no GPU hosts)")
            return None
        multi = [j for j in jobs if len(jobs[j].hosts) >= 2] or list(jobs)
        fresh = [j for j in multi if j not in self.used_jobs
                 and not set(jobs[j].hosts) & self.used_hosts] or multi
        pick = rng.choice(fresh)
        self.used_jobs.add(pick)
        self.used_hosts.update(jobs[pick].hosts)
        return pick


def _gpu_details(kind: str, p: dict[str, str], for_ms: int, host: str, gpu: int,
                 topo: Topology, rng: random.Random, start: int) -> dict[str, Any]:
    """A GPU fault's ground truth: the GPU, and its XID and lead-up or its slowdown."""
    spec_h = topo.host(host)
    details: dict[str, Any] = {"gpu": gpu, "pci": spec_h.gpus[gpu],
                               "uuid": spec_h.gpu_uuids[gpu]}
    if kind == "gpu_throttle":
        details["cause"] = p.get("cause", "power")
        for rep in topo.serving.get(host, ()):
            if gpu in rep.gpus:
                details.update(model=rep.model.name, replica=rep.replica)
        return details
    if kind == "gpu_thermal_xid":
        xid = int(p.get("xid", "79"))
        cause: str | None = p.get("cause", "thermal")
    else:
        xid, cause = int(kind.rsplit("_", 1)[1]), None
    lead = parse_duration_ms(p["lead"]) if "lead" in p else DEFAULTS.get(f"lead_{kind}", 0)
    lead = min(lead, for_ms // 2)
    host_job = topo.jobs.get(topo.job_of.get(host, ""))
    details.update(xid=xid, xid_ms=start + lead, lead_ms=lead,
                   pid=host_job.pid if host_job else rng.randrange(2000, 60000))
    if cause:
        details["cause"] = cause
    if host_job is not None:
        details["job"] = host_job.job_id
    return details


def resolve_faults(specs: list[FaultSpec], topo: Topology, *, seed: int, origin_ms: int,
                   interval_ms: int) -> list[Fault]:
    """Choose targets for every spec; raise FaultSpecError listing every problem."""
    chooser = _Chooser(topo)
    problems: list[str] = []
    faults: list[Fault] = []
    for spec in specs:
        rng = random.Random(f"{seed}:fault:{spec.index}:{spec.kind}")
        where = f"fault {spec.index} ({spec.kind})"
        p = spec.params
        start, end = origin_ms + spec.at_ms, origin_ms + spec.at_ms + spec.for_ms
        details: dict[str, Any] = {}
        kind = spec.kind
        hosts: list[str]
        if kind in ("rack_power", "rack_switch"):
            rack = chooser.rack(rng, p.get("rack"), problems, where)
            if rack is None:
                continue
            hosts = list(topo.racks[rack])
            if kind == "rack_switch":
                details.update(interface="eth0", flap=p.get("flap", "true") != "false",
                               interval_ms=interval_ms, cause="tor_switch")
            else:
                details["cause"] = "power"
        elif kind == "nccl_timeout":
            job_id = chooser.job(rng, p.get("job"), problems, where)
            if job_id is None:
                continue
            job = topo.jobs[job_id]
            hosts = list(job.hosts)
            timeout = parse_duration_ms(p.get("timeout", str(DEFAULTS["timeout"] // 1000)))
            ngpu = len(topo.host(hosts[0]).gpus) or 1
            details.update(job=job_id, timeout_ms=timeout, timeout_at_ms=start + timeout,
                           ranks=len(hosts) * ngpu, seq_num=rng.randrange(1000, 200000),
                           numel=rng.choice((1048576, 4194304, 16777216, 67108864)),
                           pid=job.pid,
                           racks=sorted({topo.host(h).rack for h in hosts}))
        else:
            gpu_kind = kind.startswith("gpu_")
            host = chooser.host(rng, p.get("host"), gpu_kind, problems, where,
                                serving=kind == "gpu_throttle")
            if host is None:
                continue
            hosts = [host]
            spec_h = topo.host(host)
            if gpu_kind:
                ngpu = len(spec_h.gpus)
                want = p.get("gpu", "random")
                gpu = rng.randrange(ngpu) if want == "random" else int(want)
                if gpu >= ngpu:
                    problems.append(f"{where}: host {host} has GPUs 0..{ngpu - 1}, not {gpu}")
                    continue
                details.update(_gpu_details(kind, p, spec.for_ms, host, gpu, topo, rng,
                                            start))
            elif kind == "memory_leak":
                details.update(process=p.get("process", "python"),
                               pid=rng.randrange(2000, 400000), oom_ms=end)
            elif kind == "slow_disk":
                dev = p.get("device") or spec_h.disks[min(1, len(spec_h.disks) - 1)]
                if dev not in spec_h.disks:
                    problems.append(f"{where}: host {host} has disks {', '.join(spec_h.disks)}")
                    continue
                details["device"] = dev
            elif kind == "nic_errors":
                nic = p.get("interface", "eth0")
                if nic not in spec_h.nics:
                    problems.append(f"{where}: host {host} has interfaces "
                                    f"{', '.join(spec_h.nics)}")
                    continue
                details.update(interface=nic, flap=p.get("flap", "true") != "false",
                               interval_ms=interval_ms)
        rack = topo.host(hosts[0]).rack
        cls = _CLASSES[kind]
        faults.append(cls(kind=kind, hosts=hosts, rack=rack, start_ms=start, end_ms=end,
                          rng=rng, details=details))
    if problems:
        raise FaultSpecError(problems)
    return faults
