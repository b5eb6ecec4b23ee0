"""`rackwatch agent` and `rackwatch simulate`: flags, validation, signals.

Every configuration problem (file and flags together) is reported at once, with
the offending key, before anything starts; exit code 2. SIGINT and SIGTERM stop
cleanly: the publisher flushes, and what it cannot deliver is kept on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import orjson

from common.config import Config, ConfigError

__all__ = ["register"]

T = TypeVar("T")


def _labels(pairs: list[str] | None, problems: list[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            problems.append(f"--label {pair!r}: expected KEY=VALUE")
            continue
        out[key.strip()] = value.strip()
    return out


def _run(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run `main(stop)` with SIGINT/SIGTERM setting `stop`."""

    async def runner() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        return await main(stop)

    return asyncio.run(runner())


def _agent(args: argparse.Namespace, cfg: Config) -> int:
    from producers.agent import AgentOptions, collect_once, run_agent

    problems: list[str] = []
    labels = _labels(args.label, problems)
    if labels is not None:
        labels = {**cfg.agent.labels, **labels}
    opts = AgentOptions.from_config(
        cfg, interval_s=args.interval, host=args.host, labels=labels,
        log_patterns=tuple(cfg.agent.log_paths) + tuple(args.log or ()) if args.log else None,
        kmsg=True if args.kmsg else None, gpu=False if args.no_gpu else None,
        duration_s=args.duration)
    problems += opts.problems()
    if problems:
        print(ConfigError(problems), file=sys.stderr)
        return 2
    if args.once:
        batch = collect_once(opts)
        sys.stdout.write(orjson.dumps(batch, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    try:
        stats = _run(lambda stop: run_agent(cfg, stop=stop, options=opts))
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    print(f"agent: {stats.batches} batches, {stats.log_events} log events, {stats.sent} sent, "
          f"{stats.buffered} kept for the next start, {stats.dropped} dropped, "
          f"{stats.problems} source problems", file=sys.stderr)
    return 0


def _simulate(args: argparse.Namespace, cfg: Config) -> int:
    from producers.simulator import FaultSpecError, Fleet, SimOptions, parse_faults, run_simulator

    opts = SimOptions(hosts=args.hosts, racks=args.racks, interval_s=args.interval,
                      seed=args.seed, faults=args.faults or "", duration_s=args.duration,
                      batches=args.batches, realtime=args.realtime, rate=args.rate,
                      output=Path(args.output) if args.output else None,
                      manifest=Path(args.manifest) if args.manifest else None,
                      start_ms=args.start_ms, epoch=args.epoch, serving=args.serving)
    problems = opts.problems()
    try:
        parse_faults(opts.faults)
    except FaultSpecError as e:
        problems += e.problems
    if not problems:
        try:  # the faults' targets (hosts, racks, jobs) exist only once the fleet is built
            Fleet(opts, origin_ms=opts.start_ms or 0)
        except FaultSpecError as e:
            problems += e.problems
    if problems:
        print(ConfigError(problems), file=sys.stderr)
        return 2
    try:
        stats = _run(lambda stop: run_simulator(cfg, opts, stop=stop))
    except (ConfigError, FaultSpecError) as e:
        print(e, file=sys.stderr)
        return 2
    rate = stats.batches / stats.elapsed_s if stats.elapsed_s > 0 else 0.0
    print(f"simulate: {stats.steps} intervals, {stats.batches} batches ({stats.samples} samples, "
          f"{rate:.0f} batches/s), {stats.log_events} log events, {stats.faults_started} faults"
          + (f", {stats.buffered} kept for the next start" if stats.buffered else ""),
          file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `agent` and `simulate` to the rackwatch command."""
    a = sub.add_parser("agent", help="run this host's agent (metrics, GPU, logs, kernel log)")
    a.add_argument("--interval", type=float, help="seconds between batches "
                                                  "(default [agent].interval_s, 10)")
    a.add_argument("--host", help="host id (default: this machine's name)")
    a.add_argument("--label", action="append", metavar="KEY=VALUE",
                   help="topology label, repeatable (rack, cluster, zone, role, ...)")
    a.add_argument("--log", action="append", metavar="GLOB", help="log files to tail, repeatable")
    a.add_argument("--kmsg", action="store_true", help="ship kernel messages from /dev/kmsg")
    a.add_argument("--no-gpu", action="store_true", help="do not look for GPUs (NVML)")
    a.add_argument("--duration", type=float, help="stop after this many seconds")
    a.add_argument("--once", action="store_true",
                   help="print one metric batch as JSON and exit (publishes nothing)")
    a.set_defaults(func=_agent)

    s = sub.add_parser("simulate", help="a simulated GPU fleet with injected faults")
    s.add_argument("--hosts", type=int, default=300, help="virtual hosts (default 300)")
    s.add_argument("--racks", type=int, help="racks (default: one per 16 hosts)")
    s.add_argument("--interval", type=float, default=10.0, help="seconds of event time between "
                                                                "batches (default 10)")
    s.add_argument("--seed", type=int, default=0, help="random seed (same seed, same events)")
    s.add_argument("--faults", default="", help="fault spec, scenario (demo, all) or file; "
                                                "see docs/simulator.md")
    s.add_argument("--duration", type=float, help="seconds of event time to simulate "
                                                  "(default: 3600 fast, until stopped realtime)")
    s.add_argument("--batches", type=int, help="or: this many intervals (batches per host)")
    pace = s.add_mutually_exclusive_group()
    pace.add_argument("--realtime", dest="realtime", action="store_true",
                      help="event time follows the wall clock (demo)")
    pace.add_argument("--fast", dest="realtime", action="store_false",
                      help="as fast as possible (default; benchmarks)")
    s.add_argument("--rate", type=float, help="cap on metric batches per second")
    s.add_argument("--serving", type=float, default=0.25,
                   help="share of GPU hosts that serve models instead of training (default "
                        "0.25; 0: none)")
    s.add_argument("--output", metavar="FILE.jsonl",
                   help="write events to this file instead of Kafka")
    s.add_argument("--manifest", metavar="FILE.jsonl", help="write the injected faults here")
    s.add_argument("--epoch", help="producer epoch on every event (default: a fresh one per "
                                   "run to Kafka, none with --output)")
    s.add_argument("--start-ms", type=int, help="event time of the first interval, epoch ms "
                                                "(default: now realtime, a fixed epoch fast)")
    s.set_defaults(func=_simulate, realtime=False)
