"""Precision and recall of the fault-probability model on a held-out simulated run.

Two simulated fleets with many injected faults, same size and mix, different seeds:
the model is fitted on the first (seed `--train-seed`) and judged on the second
(`--eval-seed`), which it never saw. Figures, both on the held-out run:

- snapshot level: every host-minute is a prediction, positive when the host is in a
  fault or will be within the horizon (10 min);
- fault level: an injected fault is caught when an affected host scored above the
  threshold between the horizon before it and its end; lead = how long before the fault
  the first such score came (negative: after it began).

The baseline, measured on the same run, is the rule an operator would write without a
model: "flag a host that logged a fault in the last 10 minutes or has a GPU at 85 °C".

    python -m benchmarks.fault_model                    # 48 hosts x 4 h per run
    python -m benchmarks.fault_model --write-default streams/incidents/default_model.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from streams.incidents.dataset import Snapshot, Truth, snapshots, truth_from_manifest
from streams.incidents.fitting import fit, report
from streams.incidents.model import FaultModel

__all__ = ["baseline_model", "fault_spec", "main", "simulate"]

HORIZON_MS = 600_000
EXTRA_WINDOWED = ("cpu.iowait", "net.*_errors_per_s", "net.*_drops_per_s")

# (kind, relative frequency, extra parameters); leads are drawn per fault.
_MIX: list[tuple[str, int, str]] = [
    ("gpu_thermal_xid", 5, "lead"),
    ("gpu_xid_79", 4, "lead"),
    ("gpu_xid_74", 4, "lead"),
    ("gpu_xid_48", 3, ""),
    ("gpu_xid_63", 2, ""),
    ("gpu_xid_64", 1, ""),
    ("memory_leak", 4, ""),
    ("nic_errors", 3, ""),
    ("slow_disk", 3, ""),
    ("cpu_saturation", 3, ""),
    ("host_silent", 2, ""),
    ("nccl_timeout", 1, ""),
    ("rack_switch", 1, ""),
]


def fault_spec(seed: int, duration_s: float, faults: int) -> str:
    """A random but seeded fault spec: `faults` faults spread over the run."""
    rng = random.Random(f"fault-model-bench:{seed}")
    kinds = [k for k, w, _ in _MIX for _ in range(w)]
    extra = {k: e for k, _, e in _MIX}
    first, last = 15 * 60, max(16 * 60, int(duration_s) - 20 * 60)
    parts = []
    for _ in range(faults):
        kind = rng.choice(kinds)
        at = rng.randrange(first, last)
        params = f"(lead={rng.randrange(60, 360)}s)" if extra[kind] == "lead" else ""
        parts.append(f"{kind}{params}@{at}s")
    return "\n".join(parts)  # one per line (a long one-line spec is also tried as a path)


def simulate(seed: int, hosts: int, duration_s: float, interval_s: float,
             faults: int, windowed: tuple[str, ...] | None = None
             ) -> tuple[list[Snapshot], list[Truth]]:
    """Snapshots and truth of one simulated run (in process, nothing written)."""
    from producers.simulator.fleet import Fleet
    from producers.simulator.options import SimOptions

    opts = SimOptions(hosts=hosts, interval_s=interval_s, seed=seed, duration_s=duration_s,
                      faults=fault_spec(seed, duration_s, faults))
    fleet = Fleet(opts)
    truth = truth_from_manifest(fleet.manifest())
    return snapshots(fleet.events(), truth, horizon_ms=HORIZON_MS, windowed=windowed), truth


def baseline_model() -> FaultModel:
    """The no-model rule as a degenerate model: any recent fault or a GPU at 85 °C."""
    return FaultModel(intercept=-1.0, threshold=0.5,
                      coefficients={"faults_gpu": 100.0, "faults_other": 100.0,
                                    "gpu_hot_minutes": 100.0})


def _line(name: str, r: dict[str, Any]) -> str:
    f = r["fault_level"]
    lead = f"{f['median_lead_s']:.0f}s" if f["median_lead_s"] is not None else "-"
    auc = f"{r['auc']:.3f}" if r["auc"] is not None else "  -  "
    return (f"{name:10s} precision {r['precision']:.3f}  recall {r['recall']:.3f}  "
            f"F1 {r['f1']:.3f}  AUC {auc}  | faults caught {f['caught']}/{f['faults']} "
            f"(recall {f['recall']:.3f}, median lead {lead})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=48)
    p.add_argument("--hours", type=float, default=4.0)
    p.add_argument("--interval", type=float, default=30.0, help="simulated agent interval (s)")
    p.add_argument("--faults", type=int, default=40, help="faults injected per run")
    p.add_argument("--train-seed", type=int, default=1)
    p.add_argument("--eval-seed", type=int, default=2)
    p.add_argument("--l2", type=float, default=10.0)
    p.add_argument("--window-extra", action="store_true",
                   help="as if the worker also kept windows of cpu.iowait and the network "
                        "error/drop rates (not its default today)")
    p.add_argument("--write-default", metavar="PATH", help="also save the fitted model here")
    p.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    args = p.parse_args(argv)
    try:
        import producers.simulator.fleet  # noqa: F401
    except ImportError as e:
        print(f"fault_model: the simulator is not available ({e})", file=sys.stderr)
        return 1
    duration = args.hours * 3600
    started = time.monotonic()
    windowed = None
    if args.window_extra:
        from streams.core.metrics import DEFAULT_WINDOWED

        windowed = (*DEFAULT_WINDOWED, *EXTRA_WINDOWED)
    train_snaps, _ = simulate(args.train_seed, args.hosts, duration, args.interval, args.faults,
                              windowed)
    eval_snaps, eval_truth = simulate(args.eval_seed, args.hosts, duration, args.interval,
                                      args.faults, windowed)
    meta = {"trained_on": {"source": "simulator", "hosts": args.hosts, "hours": args.hours,
                           "interval_s": args.interval, "faults": args.faults,
                           "seed": args.train_seed, "generator": "benchmarks/fault_model.py",
                           "windowed_extra": list(EXTRA_WINDOWED) if windowed else []}}
    model = fit(train_snaps, l2=args.l2, horizon_ms=HORIZON_MS, meta=meta)
    held = report(model, eval_snaps, eval_truth, HORIZON_MS)
    base = report(baseline_model(), eval_snaps, eval_truth, HORIZON_MS)
    model.meta["held_out"] = {"seed": args.eval_seed, **held}
    model.meta["baseline_held_out"] = base
    print(f"fleet: {args.hosts} hosts x {args.hours:g} h, {args.faults} faults per run, "
          f"agent every {args.interval:g}s; train seed {args.train_seed}, "
          f"held-out seed {args.eval_seed}"
          + ("; iowait and network errors windowed" if windowed else ""))
    print(f"snapshots: train {len(train_snaps)} ({sum(s.label for s in train_snaps)} positive), "
          f"held-out {held['snapshots']} ({held['positives']} positive); "
          f"threshold {model.threshold:.3f}")
    print(_line("model", held))
    print(_line("baseline", base))
    print(f"model recall on snapshots in a fault: {held['recall_during']:.3f}, "
          f"ahead of one (within the horizon, before its first evidence): "
          f"{held['recall_ahead']:.3f}")
    fl = held["fault_level"]
    if fl["with_hard_failure"]:
        lead = fl["median_lead_before_hard_failure_s"]
        print(f"faults with a later hard failure (XID, OOM kill) flagged before it: "
              f"{fl['flagged_before_hard_failure']}/{fl['with_hard_failure']}"
              + (f", median {lead:.0f}s ahead" if lead is not None else ""))
    print(f"faults caught by kind (model): {held['fault_level']['by_kind']}")
    if base["f1"]:
        print(f"F1 ratio model/baseline: {held['f1'] / base['f1']:.2f}")
    print(f"({time.monotonic() - started:.1f}s)")
    if args.write_default:
        model.save(args.write_default)
        print(f"model written to {args.write_default}")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": held, "baseline": base}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
