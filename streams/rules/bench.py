"""Measure RuleEngine.evaluate() per point with the default rules: `python -m streams.rules.bench`.

A realistic batch is one host's ~100 samples (CPU, memory, filesystems, disks,
NICs, 8 GPUs). Hosts are evaluated round-robin with their own state, as a worker
does. Reported: microseconds per point and per batch, and the JSON size of a host's
rule state (what the changelog stores).
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import orjson

from streams.rules import anomaly_bridge
from streams.rules.engine import RuleEngine
from streams.rules.model import Point, RuleSet
from streams.rules.parse import load_rules

__all__ = ["host_batch", "main", "measure"]


def _metrics() -> list[tuple[str, dict[str, str], float]]:
    m: list[tuple[str, dict[str, str], float]] = []
    for name in ("cpu.usage", "cpu.user", "cpu.system", "cpu.iowait", "cpu.steal"):
        m.append((name, {}, 0.3))
    for name in ("load.1m", "load.5m", "load.15m"):
        m.append((name, {}, 4.0))
    for name in ("mem.usage", "mem.used_bytes", "mem.available_bytes", "swap.usage"):
        m.append((name, {}, 0.5))
    for mount in ("/", "/data"):
        m.append(("fs.usage", {"mount": mount}, 0.4))
        m.append(("fs.free_bytes", {"mount": mount}, 1e11))
    for dev in ("nvme0n1", "nvme1n1"):
        for name, v in (("disk.busy", 0.2), ("disk.read_bytes_per_s", 2e8),
                        ("disk.write_bytes_per_s", 1e8), ("disk.read_iops", 1e3),
                        ("disk.write_iops", 5e2)):
            m.append((name, {"device": dev}, v))
    for nic in ("eth0", "ib0"):
        for name in ("net.rx_bytes_per_s", "net.tx_bytes_per_s", "net.rx_errors_per_s",
                     "net.tx_errors_per_s", "net.rx_drops_per_s", "net.link_up"):
            m.append((name, {"interface": nic}, 1.0))
    for gpu in range(8):
        for name, v in (("gpu.utilization", 0.9), ("gpu.mem.usage", 0.6),
                        ("gpu.temperature", 65.0), ("gpu.power_watts", 550.0),
                        ("gpu.ecc.sbe_per_s", 0.0), ("gpu.ecc.dbe_per_s", 0.0),
                        ("gpu.retired_pages", 0.0), ("gpu.sm_clock_mhz", 1980.0)):
            m.append((name, {"gpu": str(gpu)}, v))
    return m


METRICS = _metrics()


def host_batch(ts: int, rng: random.Random, prev_ts: int | None,
               hot: bool = False) -> list[Point]:
    """One host's batch at `ts`: values jitter ~2 % around a level; `hot` puts the
    CPU and one GPU beyond their thresholds (alerts firing)."""
    out = []
    for name, labels, level in METRICS:
        v = level * (1.0 + rng.uniform(-0.02, 0.02))
        if hot and (name == "cpu.usage" or (name == "gpu.temperature" and labels["gpu"] == "0")):
            v = 0.95 if name == "cpu.usage" else 92.0
        out.append(Point(name, labels, ts, v, v, v, (0.01 * level) ** 2 + 1e-12,
                         v if prev_ts is not None else None, prev_ts))
    return out


def measure(rules: RuleSet, hosts: int, batches: int, hot: bool = False,
            seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    engine = RuleEngine(rules)
    states: list[dict[str, Any]] = [{} for _ in range(hosts)]
    t0 = 1_704_067_200_000
    # build the batches first: only evaluate() is timed
    plan = [(h, t0 + i * 10_000, host_batch(t0 + i * 10_000, rng,
                                            t0 + (i - 1) * 10_000 if i else None, hot))
            for i in range(batches) for h in range(hosts)]
    messages = 0
    start = time.perf_counter()
    for h, ts, points in plan:
        messages += len(engine.evaluate(states[h], f"h{h}", {"rack": "r1"}, points, ts))
    elapsed = time.perf_counter() - start
    n_points = sum(len(p) for _, _, p in plan)
    sizes = [len(orjson.dumps(s)) for s in states]
    return {"points": n_points, "batches": len(plan), "messages": messages,
            "us_per_point": elapsed / n_points * 1e6, "us_per_batch": elapsed / len(plan) * 1e6,
            "state_bytes_max": max(sizes), "state_bytes_mean": sum(sizes) / len(sizes)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", help="rule file (default: the shipped rules)")
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--batches", type=int, default=40, help="batches per host")
    ap.add_argument("--fallback", action="store_true",
                    help="anomaly rules use the z-score fallback, not streams.anomaly")
    args = ap.parse_args(argv)
    if args.fallback:
        setattr(anomaly_bridge, "load", lambda: None)  # noqa: B010 -- a benchmark switch
    from streams.rules import DEFAULT_RULES_PATH

    rules = load_rules(args.rules or DEFAULT_RULES_PATH)
    detector = "fallback z-score" if anomaly_bridge.load() is None else "streams.anomaly"
    for hot in (False, True):
        r = measure(rules, args.hosts, args.batches, hot)
        print(f"{'alerts firing' if hot else 'all quiet':14} anomaly={detector}: "
              f"{r['us_per_point']:.2f} us/point, {r['us_per_batch']:.0f} us/batch of "
              f"{r['points'] // r['batches']} points, {r['messages']} messages, "
              f"state {r['state_bytes_mean']:.0f} B/host (max {r['state_bytes_max']})")


if __name__ == "__main__":
    main()
