"""Subcommands of the stream processors: `worker`, `replay`, `alerts`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import IO, Any, NoReturn

from common.config import Config

__all__ = ["register"]


def _load_rules(path: str | None, cfg: Config):  # type: ignore[no-untyped-def]
    from streams.rules import default_rules, load_rules

    chosen = path or cfg.worker.rules
    return (load_rules(chosen) if chosen else default_rules()), (chosen or None)


def correlator_settings(cfg: Config):  # type: ignore[no-untyped-def]
    """The worker's correlator settings from `[correlator]`; an impossible one is a
    configuration error (named, no traceback)."""
    from common.config import ConfigError
    from streams.incidents.config import from_section

    try:
        return from_section(cfg.correlator)
    except ValueError as e:
        raise ConfigError([str(e)]) from None


def faust_worker(app: Any, loglevel: str, stdout: IO[str] | None = None) -> Any:
    """faust's Worker for `app`, without its terminal spinner unless stdout is a terminal
    (the spinner writes cursor codes such as ESC[?25l into a log file)."""
    import faust

    out = stdout or sys.stdout
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False, quiet=True,
                          stdout=out)
    if not out.isatty():
        worker.spinner = None
    return worker


def _worker(args: argparse.Namespace, cfg: Config) -> NoReturn:
    from common.topics import ensure_topics
    from streams.handling import routing_of
    from streams.worker import build_app

    rules, rules_path = _load_rules(args.rules, cfg)
    correlator_settings(cfg)  # checked before anything starts
    routing_of(cfg)  # a bad routing tree stops the worker here, with every problem named
    asyncio.run(ensure_topics(cfg))
    app = build_app(cfg, rules, rules_path=rules_path)
    worker = faust_worker(app, args.loglevel)
    # Runs until SIGTERM/SIGINT, then exits the process itself (SystemExit).
    worker.execute_from_commandline()
    raise SystemExit(0)  # execute_from_commandline exits itself; this says so to mypy


def _replay(args: argparse.Namespace, cfg: Config) -> int:
    from streams.core.smoothing import SmoothingParams
    from streams.handling import routing_of
    from streams.replay import EMITTABLE, replay

    emit = {e.strip() for e in args.emit.split(",") if e.strip()}
    unknown = emit - set(EMITTABLE)
    if unknown:
        print(f"replay: cannot emit {', '.join(sorted(unknown))} "
              f"(choose from {', '.join(EMITTABLE)})", file=sys.stderr)
        return 2
    rules, _ = _load_rules(args.rules, cfg)
    smoothing = SmoothingParams.of(cfg.worker.ewma_tau_s, cfg.worker.wma_window)
    correlator = correlator_settings(cfg)
    routing = routing_of(cfg)
    if args.output and args.output != "-":
        with open(args.output, "wb") as out:
            stats = replay(args.events, rules, emit, out, smoothing, correlator, routing)
    else:
        stats = replay(args.events, rules, emit, sys.stdout.buffer, smoothing, correlator,
                       routing)
    print(stats.describe(), file=sys.stderr)
    return 0


def _alerts(args: argparse.Namespace, cfg: Config) -> int:
    from rackwatch.follow import follow_alerts

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow_alerts(cfg, from_beginning=args.from_beginning,
                                  as_json=args.json, limit=args.limit))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    w = sub.add_parser("worker", help="run a stream-processing worker (join the consumer group)")
    w.add_argument("--rules", help="rule file (YAML); default: the shipped rule set")
    w.add_argument("--loglevel", default="warning")
    w.set_defaults(func=_worker)

    r = sub.add_parser("replay", help="run the processing core over a JSON-lines event file")
    r.add_argument("events", help="JSON-lines file of metric batches / log events ('-': stdin)")
    r.add_argument("--rules", help="rule file (YAML); default: the shipped rule set")
    r.add_argument("--emit", default="alerts",
                   help="comma-separated: alerts,metrics,logs,deadletter,incidents")
    r.add_argument("-o", "--output", help="output JSON-lines file (default: stdout)")
    r.set_defaults(func=_replay)

    a = sub.add_parser("alerts", help="follow the alerts topic")
    a.add_argument("--from-beginning", action="store_true")
    a.add_argument("--json", action="store_true", help="print raw JSON lines")
    a.add_argument("--limit", type=int, default=0, help="stop after this many (0: never)")
    a.set_defaults(func=_alerts)
