"""Agent CPU time per interval against the floor: the same psutil calls and nothing else.

Three measurements, each repeated (median and spread reported), all CPU time of this
process (user + system), so other load on the machine does not count:

- floor: a loop making exactly the psutil calls the agent makes per interval;
- agent core: the agent's per-interval work without the event loop: read, convert,
  build the batch, serialise, compress with the publisher's codec, queue it;
- agent loop: the real `run_agent` loop (timers, log polling, state saves, publisher
  task) at a short interval with an in-memory transport that compresses like Kafka.

The ratio agent / floor is the overhead the agent adds; at a 1 s interval the agent's
CPU time per interval divided by one second is its share of one core.

    python -m benchmarks.agent_cpu                 # 5 repeats
    python -m benchmarks.agent_cpu --repeats 3 --intervals 200 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from common.config import Config
from common.kafka import pick_compression
from producers.agent import AgentOptions, AgentWork, run_agent
from producers.buffer import Record, SpillBuffer
from producers.events import encode
from producers.publisher import Publisher

__all__ = ["main"]


def _codec() -> tuple[str, Callable[[bytes], bytes]]:
    from aiokafka import codec

    name = pick_compression()
    if name == "zstd":
        return name, codec.zstd_encode
    return name, codec.gzip_encode


def floor(intervals: int, interval_s: float = 0.0) -> float:
    """CPU seconds per interval of the bare psutil calls the agent makes.

    With `interval_s` the loop sleeps between intervals like an agent does (caches go
    cold while a process sleeps, so a paced loop costs more per call than a tight one).
    """
    mounts: list[str] = ["/"]
    start = time.process_time()
    next_tick = time.monotonic()
    for i in range(intervals):
        if interval_s:
            next_tick += interval_s
            time.sleep(max(next_tick - time.monotonic(), 0.0))
        if i % 60 == 0:
            mounts = ["/", *(p.mountpoint for p in psutil.disk_partitions(all=False))]
        psutil.cpu_times()
        psutil.cpu_times(percpu=True)
        psutil.getloadavg()
        psutil.virtual_memory()
        psutil.swap_memory()
        for m in dict.fromkeys(mounts):
            psutil.disk_usage(m)
        psutil.disk_io_counters(perdisk=True, nowrap=False)
        psutil.net_io_counters(pernic=True, nowrap=False)
        psutil.net_if_stats()
        psutil.pids()
    return (time.process_time() - start) / intervals


class _Compressing:
    """A transport that does the CPU work a Kafka producer does per record, then drops it."""

    description = "memory (compressing)"

    def __init__(self, compress: Callable[[bytes], bytes]) -> None:
        self.compress = compress
        self.bytes_in = 0
        self.bytes_out = 0

    async def start(self) -> None:
        return None

    async def send(self, records: Sequence[Record]) -> list[BaseException | None]:
        for r in records:
            self.bytes_in += len(r.value)
            self.bytes_out += len(self.compress(r.value))
        return [None] * len(records)

    async def stop(self) -> None:
        return None


def agent_core(intervals: int, home: Path) -> float:
    """CPU seconds per interval of the agent's own per-interval work, no event loop."""
    _, compress = _codec()
    cfg = Config(home=home)
    opts = AgentOptions.from_config(cfg, host="bench", labels={"rack": "bench"}, gpu=False,
                                    state_dir=home / "core")
    agent = AgentWork(cfg, opts, gpu_source=None, clock=time.time)
    buf = SpillBuffer(max_items=intervals + 10, memory_items=intervals + 10, spill_path=None)
    agent.publisher = Publisher(_Compressing(compress), buf)
    agent.metrics.samples(agent.reader.read())
    start = time.process_time()
    for _ in range(intervals):
        batch = agent.collect()
        value = encode(batch)
        compress(value)
        agent.publisher.publish(agent.metrics_topic, agent.key, value)
        if len(buf) > 100:
            buf.pop(len(buf.peek(100)))
    return (time.process_time() - start) / intervals


def _loop_run(intervals: int, home: Path, interval_s: float) -> tuple[float, int]:
    _, compress = _codec()
    cfg = Config(home=home)
    opts = AgentOptions.from_config(cfg, host="bench", labels={"rack": "bench"}, gpu=False,
                                    interval_s=interval_s, duration_s=intervals * interval_s,
                                    state_dir=home / "loop", flush_timeout_s=1.0)
    transport = _Compressing(compress)
    start = time.process_time()
    stats = asyncio.run(run_agent(cfg, stop=asyncio.Event(), options=opts, transport=transport))
    return time.process_time() - start, stats.batches


def agent_loop(intervals: int, home: Path, interval_s: float) -> float:
    """Marginal CPU seconds per interval of the real agent loop.

    Two runs, short and long; the difference divided by the extra batches removes the
    fixed start-up and shutdown cost, which a long-running agent does not pay per interval.
    """
    short_cpu, short_n = _loop_run(max(intervals // 4, 5), home, interval_s)
    long_cpu, long_n = _loop_run(intervals, home, interval_s)
    return (long_cpu - short_cpu) / max(long_n - short_n, 1)


def _summary(values: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(values) * 1000, "min_ms": min(values) * 1000,
            "max_ms": max(values) * 1000}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--intervals", type=int, default=300, help="intervals per repeat")
    p.add_argument("--loop-interval", type=float, default=0.1,
                   help="interval of the paced floor and the agent loop (s)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    floors, paced, cores, loops = [], [], [], []
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        for _ in range(args.repeats):
            floors.append(floor(args.intervals))
            paced.append(floor(args.intervals, args.loop_interval))
            cores.append(agent_core(args.intervals, home))
            loops.append(agent_loop(args.intervals, home, args.loop_interval))
    fl, co, lo = statistics.median(floors), statistics.median(cores), statistics.median(loops)
    fp = statistics.median(paced)
    with tempfile.TemporaryDirectory() as d:
        probe = AgentWork(Config(home=Path(d)), AgentOptions(host="x", gpu=False,
                                                          state_dir=Path(d)),
                       gpu_source=None, clock=time.time)
        probe.metrics.samples(probe.reader.read())
        time.sleep(0.05)
        samples = len(probe.collect()["samples"])
    result: dict[str, Any] = {
        "cpus": psutil.cpu_count(), "samples_per_batch": samples, "codec": _codec()[0],
        "repeats": args.repeats, "intervals": args.intervals,
        "loop_interval_s": args.loop_interval,
        "floor": _summary(floors), "floor_paced": _summary(paced), "agent_core": _summary(cores),
        "agent_loop": _summary(loops),
        "ratio_core_to_floor": co / fl, "ratio_loop_to_paced_floor": lo / fp,
        "core_share_at_1s_pct": lo * 100,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"agent CPU per interval ({result['cpus']} CPUs, {samples} samples per batch, "
          f"{result['codec']}; median of {args.repeats}, [min..max])")
    for name, key in (("floor, tight loop", "floor"), ("agent core, tight loop", "agent_core"),
                      (f"floor, every {args.loop_interval:g}s", "floor_paced"),
                      (f"agent loop, every {args.loop_interval:g}s", "agent_loop")):
        s = result[key]
        print(f"  {name:<28} {s['median_ms']:7.3f} ms  [{s['min_ms']:.3f} .. {s['max_ms']:.3f}]")
    print(f"  ratio core/floor {result['ratio_core_to_floor']:.2f}x, "
          f"loop/paced floor {result['ratio_loop_to_paced_floor']:.2f}x (target <= 2x)")
    print(f"  at a 1 s interval: {result['core_share_at_1s_pct']:.3f} % of one core "
          "(target < 0.5 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
