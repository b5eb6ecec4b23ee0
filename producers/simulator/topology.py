"""The static shape of a simulated fleet: racks, hosts, roles, GPUs, training jobs."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from producers.simulator.options import SimOptions
from producers.simulator.serving import ReplicaSpec, assign_serving

__all__ = ["HostSpec", "Job", "Topology", "build_topology"]

# HGX H100 8-GPU boards enumerate their GPUs on these buses.
GPU_BUSES = ("0000:18:00", "0000:2a:00", "0000:3a:00", "0000:5d:00",
             "0000:9a:00", "0000:ab:00", "0000:ba:00", "0000:db:00",
             "0000:1b:00", "0000:2c:00", "0000:3c:00", "0000:5f:00",
             "0000:9c:00", "0000:ad:00", "0000:bc:00", "0000:dd:00")
NIC_PCI = {"eth0": "0000:5e:00", "ib0": "0000:0c:00"}
GIB = 1 << 30


@dataclass(frozen=True)
class HostSpec:
    """One host's fixed properties."""

    index: int
    name: str
    rack: str
    role: str  # gpu | cpu | storage
    labels: dict[str, str]
    cores: int
    mem_bytes: int
    swap_bytes: int
    disks: tuple[str, ...]
    nics: tuple[str, ...]
    mounts: tuple[tuple[str, int], ...]  # (mount point, size bytes)
    gpus: tuple[str, ...]  # PCI bus of each GPU
    gpu_uuids: tuple[str, ...]
    per_core: bool
    phase: float  # offset of this host's diurnal curve, radians
    ts_offset_ms: int  # agents are not clock-aligned: each host reports a bit after the tick


@dataclass
class Job:
    """A training job spread over some GPU hosts; rank = host position * GPUs + GPU."""

    job_id: str
    hosts: list[str]
    util: float
    pid: int


@dataclass
class Topology:
    hosts: list[HostSpec]
    racks: dict[str, list[str]]
    jobs: dict[str, Job]
    job_of: dict[str, str] = field(default_factory=dict)
    serving: dict[str, list[ReplicaSpec]] = field(default_factory=dict)  # host -> replicas

    def host(self, name: str) -> HostSpec:
        return self.hosts[self._index[name]]

    def __post_init__(self) -> None:
        self._index = {h.name: i for i, h in enumerate(self.hosts)}


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _rack_role(r: int, racks: int) -> str:
    if racks >= 5 and r == racks - 1:
        return "storage"
    if racks >= 5 and r % 5 == 4:
        return "cpu"
    return "gpu"


def build_topology(opts: SimOptions) -> Topology:
    """Deterministic for the options' seed."""
    rng = random.Random(f"{opts.seed}:topology")
    n, racks = opts.hosts, opts.rack_count
    hosts: list[HostSpec] = []
    rack_members: dict[str, list[str]] = {}
    slots: dict[int, int] = {}
    interval_ms = opts.interval_ms
    for i in range(n):
        r = i * racks // n
        rack = f"r{r:02d}"
        role = _rack_role(r, racks)
        if role == "gpu" and opts.gpus_per_host == 0:
            role = "cpu"
        slot = slots[r] = slots.get(r, 0) + 1
        name = f"{rack}-{role[:4]}{slot:02d}" if role != "storage" else f"{rack}-stor{slot:02d}"
        labels = {"rack": rack, "cluster": f"c{r // 8 + 1}", "zone": f"z{(r // 4) % 3 + 1}",
                  "role": role}
        if role == "gpu":
            ngpu = opts.gpus_per_host
            spec = HostSpec(i, name, rack, role, labels, 128, 2048 * GIB, 8 * GIB,
                            ("nvme0n1", "nvme1n1"), ("eth0", "ib0"),
                            (("/", 960 * GIB), ("/data", 7680 * GIB)),
                            GPU_BUSES[:ngpu], tuple(_uuid(rng) for _ in range(ngpu)),
                            False, rng.uniform(0, 6.283), 0)
        elif role == "cpu":
            spec = HostSpec(i, name, rack, role, labels, 32, 512 * GIB, 8 * GIB,
                            ("nvme0n1", "nvme1n1"), ("eth0",),
                            (("/", 960 * GIB), ("/data", 3840 * GIB)), (), (), True,
                            rng.uniform(0, 6.283), 0)
        else:
            spec = HostSpec(i, name, rack, role, labels, 16, 256 * GIB, 8 * GIB,
                            ("nvme0n1", "sda", "sdb", "sdc"), ("eth0",),
                            (("/", 480 * GIB), ("/data", 64 * 1024 * GIB)), (), (), True,
                            rng.uniform(0, 6.283), 0)
        offset = rng.randrange(0, max(1, min(1000, interval_ms // 4)))
        spec = dataclasses.replace(spec, ts_offset_ms=offset)
        hosts.append(spec)
        rack_members.setdefault(rack, []).append(name)
    jobs: dict[str, Job] = {}
    job_of: dict[str, str] = {}
    gpu_hosts = [h.name for h in hosts if h.role == "gpu"]
    i = 0
    while i < len(gpu_hosts):
        size = rng.choice((1, 2, 4, 4, 8, 8, 16))
        members = gpu_hosts[i:i + size]
        i += size
        if rng.random() < 0.1:
            continue  # idle hosts, waiting for work
        job = Job(f"job-{rng.randrange(10000, 99999)}", members, rng.uniform(0.88, 0.98),
                  rng.randrange(2000, 60000))
        while job.job_id in jobs:
            job.job_id = f"job-{rng.randrange(10000, 99999)}"
        jobs[job.job_id] = job
        for m in members:
            job_of[m] = job.job_id
    # Some groups serve models instead (their own generator: training is unchanged).
    serving = assign_serving(opts.serving, opts.seed, [j.hosts for j in jobs.values()],
                             opts.gpus_per_host)
    for job_id in [j for j, job in jobs.items() if job.hosts[0] in serving]:
        for m in jobs.pop(job_id).hosts:
            del job_of[m]
    return Topology(hosts, rack_members, jobs, job_of, serving)
