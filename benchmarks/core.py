"""Throughput of the processing core against a minimal Python loop, measured in the same run.

The core figure is the replay path without Kafka or a store: every metric batch of a
simulated fleet goes through `Runtime.on_metrics` (decode, dedup, normalise, smooth,
windows, rules and anomaly scores, rows serialised into one message per batch), the
host states kept in a dict as replay keeps them. The baseline is the least a Python
worker could do with the same messages: parse each one and update one EWMA per sample.
Their ratio is the figure the performance target is stated in (samples/s of the core
over samples/s of the baseline; the target is at least 0.3).

Core and baseline alternate, `--repeats` times each, so that both see the same load on
a shared machine; the ratio is taken per pair, and each figure is given as the median
with its spread (min..max). The host state size is the orjson encoding of each host's
state after the run (what the worker writes to its changelog after every batch).

    python -m benchmarks.core                       # 50 hosts x 40 batches, demo faults
    python -m benchmarks.core --hosts 20 --batches 200 --repeats 7
    python -m benchmarks.core --profile             # cProfile of one core run
    python -m benchmarks.core --json                # + the figures as a JSON line
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from typing import Any

import orjson

__all__ = ["Figures", "baseline_run", "core_run", "main", "metric_messages"]


def metric_messages(hosts: int, batches: int, faults: str, seed: int) -> list[bytes]:
    """The simulator's metric batches, serialised as the topic carries them."""
    from producers.simulator import Fleet, SimOptions

    opts = SimOptions(hosts=hosts, batches=batches, faults=faults, seed=seed,
                      background_logs=False)
    return [orjson.dumps(e) for e in Fleet(opts).events() if e["schema"] == "rackwatch.metrics/v1"]


def core_run(raws: list[bytes]) -> tuple[float, dict[str, Any]]:
    """Seconds for the whole core over the messages, and the host states it leaves."""
    from streams.rules import default_rules
    from streams.runtime import Runtime

    rt = Runtime(default_rules(), check_wall_clock=False)
    states: dict[str, Any] = {}
    get = states.get
    t0 = time.perf_counter()
    for raw in raws:
        out = rt.on_metrics(raw, get, wall_ms=0)
        if out.state is not None and out.host is not None:
            states[out.host] = out.state
    return time.perf_counter() - t0, states


def baseline_run(raws: list[bytes], tau_ms: float = 60_000.0) -> float:
    """Seconds for the minimal loop: parse each batch, one EWMA per sample.

    Written as the performance issue states it (module attributes looked up in the
    loop, one tuple per series), so that ratios compare with the issue's figures.
    """
    st: dict[tuple[str, str], tuple[int, float]] = {}
    t0 = time.perf_counter()
    for raw in raws:
        b = orjson.loads(raw)
        h = b["host"]
        ts = b["ts"]
        for s in b["samples"]:
            k = (h, s["name"])
            prev = st.get(k)
            if prev is None:
                st[k] = (ts, s["value"])
            else:
                a = 1 - math.exp(-(ts - prev[0]) / tau_ms)
                st[k] = (ts, a * s["value"] + (1 - a) * prev[1])
    return time.perf_counter() - t0


class Figures:
    """Medians and spreads of the repeated measurements."""

    def __init__(self, samples: int, batches: int, core_s: list[float],
                 base_s: list[float], state_bytes: list[int]) -> None:
        self.samples = samples
        self.batches = batches
        self.core_sps = [samples / t for t in core_s]
        self.base_sps = [samples / t for t in base_s]
        self.ratio = [b / c for c, b in zip(core_s, base_s, strict=True)]
        self.us_per_sample = [t / samples * 1e6 for t in core_s]
        self.state_bytes = state_bytes

    @staticmethod
    def _fmt(xs: list[float], spec: str) -> str:
        return (f"{statistics.median(xs):{spec}}  "
                f"[{min(xs):{spec}} .. {max(xs):{spec}}]")

    def as_json(self) -> dict[str, Any]:
        """Every repeat's figures (what `python -m benchmarks.run` reads)."""
        return {"samples": self.samples, "batches": self.batches, "core_sps": self.core_sps,
                "baseline_sps": self.base_sps, "ratios": self.ratio,
                "us_per_sample": self.us_per_sample, "state_bytes": self.state_bytes,
                "state_bytes_median": statistics.median(self.state_bytes)}

    def report(self) -> str:
        per_host = self.state_bytes
        return "\n".join([
            f"messages {self.batches}, samples {self.samples} "
            f"({self.samples / self.batches:.0f} per batch), repeats {len(self.ratio)}",
            f"core      samples/s  {self._fmt(self.core_sps, ',.0f')}",
            f"baseline  samples/s  {self._fmt(self.base_sps, ',.0f')}",
            f"ratio (core / baseline)  {self._fmt(self.ratio, '.3f')}   target >= 0.3",
            f"core us/sample       {self._fmt(self.us_per_sample, '.2f')}",
            f"host state bytes     median {statistics.median(per_host):,.0f}  "
            f"[{min(per_host):,} .. {max(per_host):,}] over {len(per_host)} hosts",
        ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.core", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--batches", type=int, default=40, help="batches (intervals) per host")
    p.add_argument("--faults", default="demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--profile", action="store_true", help="cProfile one core run instead")
    p.add_argument("--json", action="store_true",
                   help="also print the figures as one JSON line (last line of output)")
    args = p.parse_args(argv)
    raws = metric_messages(args.hosts, args.batches, args.faults, args.seed)
    if not raws:
        print("core: the simulator produced no metric batches", file=sys.stderr)
        return 1
    samples = sum(len(orjson.loads(r)["samples"]) for r in raws)
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(core_run, raws)
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return 0
    core_s: list[float] = []
    base_s: list[float] = []
    states: dict[str, Any] = {}
    for _ in range(max(1, args.repeats)):
        dt, states = core_run(raws)
        core_s.append(dt)
        base_s.append(baseline_run(raws))
    sizes = [len(orjson.dumps(s)) for s in states.values()]
    figures = Figures(samples, len(raws), core_s, base_s, sizes)
    print(figures.report())
    if args.json:
        print(orjson.dumps(figures.as_json()).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
