"""Where each fault lands: a `FaultSpec` resolved to hosts, a rack, a job or a GPU.

Targets are chosen with the fault's own seeded generator, preferring ones no earlier
fault has used, so faults stay apart and a run is repeatable; every problem in the
specs (an unknown host, a GPU index out of range) is collected and raised together.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from producers.simulator.faults import (
    CpuSaturation,
    Fault,
    GpuThrottle,
    GpuXid,
    LinkFlaps,
    MemoryLeak,
    NcclTimeout,
    Silent,
    SlowDisk,
)
from producers.simulator.spec import DEFAULTS, FaultSpec, FaultSpecError, parse_duration_ms
from producers.simulator.topology import Topology

__all__ = ["resolve_faults"]


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
