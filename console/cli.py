"""`rackwatch console`: serve the web console until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import webbrowser

from common.config import Config

__all__ = ["register"]


def _cmd(args: argparse.Namespace, cfg: Config) -> int:
    from console.app import serve_console
    from console.settings import ConsoleSettings

    if getattr(args, "verbose", 0) < 2:  # the console says itself when the broker is away
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = ConsoleSettings.from_config(
        cfg, host=args.host, port=args.port, rules=args.rules,
        scrape=tuple(args.scrape) if args.scrape else None)

    def ready(url: str) -> None:
        print(f"rackwatch console on {url}  (Ctrl-C to stop)", flush=True)
        if args.open:
            webbrowser.open(url)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve_console(cfg, settings, stop, on_ready=ready,
                            open_embedded=args.open_store)

    try:
        asyncio.run(main())
    except OSError as e:
        print(f"console: {e}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    c = sub.add_parser("console", help="serve the web console (fleet, alerts, hosts, logs, "
                                       "pipeline health)",
                       description="Serve the live web console on localhost (see "
                                   "docs/console.md). Read-only.")
    c.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    c.add_argument("--port", type=int, help="port (default 8470; 0: any free port)")
    c.add_argument("--scrape", action="append", metavar="URL",
                   help="a metrics endpoint for the health panel (repeatable; default: the "
                        "worker's /metrics and the sink's /ping as configured)")
    c.add_argument("--rules", help="the worker's rule file, for the threshold lines "
                                   "(default: [worker].rules, else the shipped rules)")
    c.add_argument("--open-store", action="store_true",
                   help="open the embedded store directly when no sink serves it (only "
                        "while no sink runs: chDB admits one process per store)")
    c.add_argument("--open", action="store_true", help="open the page in a browser")
    c.set_defaults(func=_cmd)
