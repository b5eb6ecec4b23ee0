"""`rackwatch train`: fit the fault-probability model and write the model file.

    rackwatch train --events RUN.jsonl --manifest RUN.manifest.jsonl -o model.json
    rackwatch train --from-clickhouse --since 7d -o model.json

Optionally `--eval-events/--eval-manifest` of a second run (another seed) to report
precision and recall on data the model never saw. Workers load the written file
(see docs/incidents.md).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from common.config import Config

__all__ = ["register"]

log = logging.getLogger(__name__)

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _duration_ms(text: str) -> int:
    """`90s`, `10m`, `7d`, `1500ms`; a bare number is seconds."""
    t = text.strip().lower()
    for unit in ("ms", "s", "m", "h", "d"):
        if t.endswith(unit) and t[: -len(unit)].replace(".", "", 1).isdigit():
            return round(float(t[: -len(unit)]) * _UNITS[unit])
    if t.replace(".", "", 1).isdigit():
        return round(float(t) * 1000)
    raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 10m, 7d)")


def _simulated(events: str, manifest: str, args: argparse.Namespace) -> tuple[list[Any],
                                                                              list[Any]]:
    from streams.incidents.dataset import read_jsonl, snapshots, truth_from_manifest

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
    truth = truth_from_manifest(read_jsonl(manifest), kinds)
    snaps = snapshots(read_jsonl(events), truth, horizon_ms=args.horizon, step_ms=args.step)
    return snaps, truth


def _from_store(cfg: Config, args: argparse.Namespace) -> tuple[list[Any], list[Any]]:
    from sinks.store import open_store
    from sinks.training import store_events, store_truth
    from streams.incidents.context import FEATURE_SERIES
    from streams.incidents.dataset import Truth, snapshots

    until = int(time.time() * 1000)
    since = until - args.since
    store = open_store(cfg, migrate=False)
    try:
        truth = [Truth(*row) for row in store_truth(store, since, until)]
        snaps = snapshots(store_events(store, since, until, names=FEATURE_SERIES), truth,
                          horizon_ms=args.horizon, step_ms=args.step)
    finally:
        store.close()
    return snaps, truth


def _train(args: argparse.Namespace, cfg: Config) -> int:
    from streams.incidents.fitting import fit, report
    from streams.incidents.training import TrainingError

    if args.from_clickhouse == bool(args.events or args.manifest):
        print("train: give either --from-clickhouse or both --events and --manifest",
              file=sys.stderr)
        return 2
    if not args.from_clickhouse and not (args.events and args.manifest):
        print("train: --events and --manifest go together", file=sys.stderr)
        return 2
    if bool(args.eval_events) != bool(args.eval_manifest):
        print("train: --eval-events and --eval-manifest go together", file=sys.stderr)
        return 2
    try:
        if args.from_clickhouse:
            snaps, _ = _from_store(cfg, args)
            source: dict[str, Any] = {"source": "clickhouse", "since_ms": args.since}
        else:
            snaps, _ = _simulated(args.events, args.manifest, args)
            source = {"source": "simulator", "events": Path(args.events).name,
                      "manifest": Path(args.manifest).name}
        meta = {"trained_on": source, "step_ms": args.step}
        model = fit(snaps, l2=args.l2, horizon_ms=args.horizon, meta=meta)
        if args.eval_events:
            held, held_truth = _simulated(args.eval_events, args.eval_manifest, args)
            model.meta["held_out"] = report(model, held, held_truth, args.horizon)
    except OSError as e:  # a missing or unreadable input: a usage error, naming the path
        print(f"train: cannot read {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 2
    except ValueError as e:  # TrainingError is a ValueError
        kind = "training" if isinstance(e, TrainingError) else "input"
        print(f"train: {kind} error: {e}", file=sys.stderr)
        return 1
    model.save(args.output)
    summary = {"model": str(args.output), "training": model.meta.get("training"),
               "held_out": model.meta.get("held_out")}
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    t = sub.add_parser("train", help="fit the fault-probability model from history")
    t.add_argument("--events", help="JSON-lines events of a simulator run (`simulate -o`)")
    t.add_argument("--manifest", help="its ground-truth manifest (`simulate --manifest`)")
    t.add_argument("--from-clickhouse", action="store_true",
                   help="train on the store: metrics and logs, incidents as the truth")
    t.add_argument("--since", type=_duration_ms, default=_duration_ms("7d"),
                   help="with --from-clickhouse: how far back (default 7d)")
    t.add_argument("--eval-events", help="events of a held-out run to report on")
    t.add_argument("--eval-manifest", help="manifest of the held-out run")
    t.add_argument("--kinds", help="comma-separated manifest kinds to count as faults "
                                   "(default: all)")
    t.add_argument("--horizon", type=_duration_ms, default=_duration_ms("10m"),
                   help="label: a fault within this long (default 10m)")
    t.add_argument("--step", type=_duration_ms, default=_duration_ms("60s"),
                   help="one snapshot per host this often (default 60s)")
    t.add_argument("--l2", type=float, default=10.0, help="L2 penalty (default 10)")
    t.add_argument("-o", "--output", default="model.json", help="model file to write")
    t.set_defaults(func=_train)
