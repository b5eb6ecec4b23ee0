"""The cost model: CPU-seconds per million samples, per process and per part of one.

Rates on a shared 2-core machine swing with the neighbours' load; the CPU time a
process spends on a given amount of work swings much less, so the pipeline benchmark
reports both. The CPU of a process is read from /proc (user + system, every thread,
finished threads included). The sink says which OS threads are its event loop and its
writer (`threads` in its /ping status); every other thread of the sink belongs to the
embedded ClickHouse engine (its pipeline and merge pools). The sink also counts the
writer's CPU spent inside store calls (`store_cpu_s`: the client's serialisation and the
engine's work on the calling thread), so the embedded store's share is the engine's
threads plus that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CpuSnapshot", "per_million", "process_cpu", "sink_parts"]

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_cpu(path: Path) -> float:
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def process_cpu(pid: int) -> float:
    """User + system seconds of a process so far (its finished threads included)."""
    return _stat_cpu(Path(f"/proc/{pid}/stat"))


@dataclass
class CpuSnapshot:
    """CPU of a set of processes, and of some named threads of each, at one moment."""

    total: dict[str, float] = field(default_factory=dict)
    parts: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def take(cls, pids: Mapping[str, int],
             tids: Mapping[str, Mapping[str, int]] | None = None) -> CpuSnapshot:
        """`pids`: role -> process id; `tids`: role -> {part name: OS thread id}."""
        snap = cls()
        for role, pid in pids.items():
            try:
                snap.total[role] = process_cpu(pid)
            except (FileNotFoundError, ProcessLookupError):
                snap.total[role] = 0.0
            snap.parts[role] = {}
            for part, tid in (tids or {}).get(role, {}).items():
                try:
                    snap.parts[role][part] = _stat_cpu(Path(f"/proc/{pid}/task/{tid}/stat"))
                except (FileNotFoundError, ProcessLookupError):
                    snap.parts[role][part] = 0.0
        return snap

    def since(self, before: CpuSnapshot) -> CpuSnapshot:
        """The CPU spent between `before` and this snapshot."""
        out = CpuSnapshot()
        for role, t in self.total.items():
            out.total[role] = t - before.total.get(role, 0.0)
            prev = before.parts.get(role, {})
            out.parts[role] = {n: s - prev.get(n, 0.0)
                               for n, s in self.parts.get(role, {}).items()}
        return out


def sink_parts(spent: CpuSnapshot, role: str, store_cpu_s: float | None) -> dict[str, float]:
    """Split the sink's CPU: event loop (Kafka, batching, acknowledgements), writer
    (columns, journal, bookkeeping) and the embedded store (the engine's own threads,
    plus the writer's time inside store calls when the sink reported it)."""
    parts = spent.parts.get(role, {})
    total = spent.total.get(role, 0.0)
    loop = parts.get("loop", 0.0)
    writer = parts.get("writer", 0.0)
    inside = min(writer, store_cpu_s) if store_cpu_s is not None else 0.0
    return {"sink_loop": loop, "sink_writer": writer - inside,
            "store": max(0.0, total - loop - writer) + inside}


def per_million(seconds: Mapping[str, float], samples: int) -> dict[str, float]:
    """CPU-seconds per million samples."""
    return {k: v * 1e6 / samples for k, v in seconds.items()} if samples else {}
