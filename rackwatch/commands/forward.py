"""`rackwatch forward`: alert state changes to Alertmanager and webhooks (forwarder/)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys

import orjson

from common.config import Config, ConfigError

__all__ = ["register"]


def _with_flags(cfg: Config, args: argparse.Namespace) -> Config:
    """--alertmanager / --webhook add targets to the configured ones (checked alike)."""
    from common.checks import config_problems

    f = cfg.forwarder
    forwarder = dataclasses.replace(
        f, alertmanager_urls=f.alertmanager_urls + tuple(args.alertmanager or ()),
        webhook_urls=f.webhook_urls + tuple(args.webhook or ()))
    out = dataclasses.replace(cfg, forwarder=forwarder)
    problems = [p for p in config_problems(out, "--alertmanager/--webhook")
                if "[forwarder]" in p]
    if problems:
        raise ConfigError(problems)
    return out


async def _main(cfg: Config) -> int:
    from prometheus_client import CollectorRegistry

    from common.selfmetrics import serve
    from common.topics import ensure_topics
    from forwarder.service import (
        TargetRunner,
        describe,
        make_session,
        readiness,
        run_runners,
    )
    from forwarder.stats import ForwarderCollector
    from forwarder.targets import targets

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await ensure_topics(cfg, ("alerts",))
    session = make_session(cfg)
    runners = [TargetRunner(cfg, t, session) for t in targets(cfg)]
    f = cfg.forwarder
    endpoint = None
    if f.metrics_port:
        endpoint = await serve("forwarder", CollectorRegistry(), f.metrics_host,
                               f.metrics_port, ready=lambda: readiness(runners),
                               collectors=[ForwarderCollector(lambda: [r.stats for r in runners])])
    try:
        await run_runners(runners, stop)
    finally:
        if endpoint is not None:
            await endpoint.close()
        await session.close()
    summary = describe({r.target.name: r.stats for r in runners})
    print(orjson.dumps(summary).decode(), file=sys.stderr)
    return 0


def _forward(args: argparse.Namespace, cfg: Config) -> int:
    cfg = _with_flags(cfg, args)
    f = cfg.forwarder
    if not (f.alertmanager_urls or f.webhook_urls):
        raise ConfigError(["forward: no targets: set [forwarder] alertmanager_urls or "
                           "webhook_urls, or give --alertmanager URL / --webhook URL"])
    return asyncio.run(_main(cfg))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("forward", help="send alert state changes to Alertmanager and "
                                       "webhooks (at least once, each target on its own)",
                       description="Consume the alerts topic and deliver every state change "
                                   "to the configured targets ([forwarder] in the "
                                   "configuration); see docs/forwarding.md.")
    p.add_argument("--alertmanager", action="append", metavar="URL",
                   help="an Alertmanager (http://host:9093), besides [forwarder] "
                        "alertmanager_urls; repeatable")
    p.add_argument("--webhook", action="append", metavar="URL",
                   help="a URL that receives Alertmanager's webhook payload, besides "
                        "[forwarder] webhook_urls; repeatable")
    p.set_defaults(func=_forward)
