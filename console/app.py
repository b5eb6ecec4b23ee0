"""Running the console: `serve_console` on an event loop, `start_console` on a thread.

`rackwatch console` runs `serve_console` until Ctrl-C or SIGTERM. Another program (the
demo) calls `start_console(cfg)`, which serves on a thread of its own and returns the
URL and a function that stops it. Both start the same tasks beside the web server: the
store bootstrap and host inventory, the topics' follower, the health scraper and the
push loop that sends pages the batched changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from common import __version__
from common.config import Config, mask_dsn
from console.api import Api
from console.hub import Hub
from console.live import follow_topics, store_loop
from console.reader import Reader, RunQueryReader
from console.scrape import scrape_loop
from console.server import build_app
from console.settings import ConsoleSettings, default_scrape_urls, load_console_rules
from console.state import FleetState

__all__ = ["console_info", "serve_console", "start_console"]

log = logging.getLogger(__name__)

# A task fed the hub by something other than the topics (a test, the benchmark).
Feeder = Callable[[Hub, asyncio.Event], Awaitable[None]]


async def _push_loop(hub: Hub, interval_s: float, stop: asyncio.Event,
                     clock: Callable[[], float]) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
        now = int(clock() * 1000)
        hub.prune(now)
        hub.flush(now)


def console_info(cfg: Config, scrape: Sequence[str], started_ms: int) -> dict[str, Any]:
    """What /api/status says about where the console reads from (no secrets)."""
    return {"version": __version__, "store_dsn": mask_dsn(cfg.clickhouse_dsn),
            "kafka_bootstrap": cfg.bootstrap,
            "topics": [cfg.topic("alerts"), cfg.topic("incidents")],
            "scrape": list(scrape), "started_ms": started_ms, "url": ""}


async def _feed(feeder: Feeder, hub: Hub, stop: asyncio.Event) -> None:
    await feeder(hub, stop)


async def _listen(runner: web.AppRunner, host: str, port: int) -> str:
    """Serve on (host, port); a port in use falls back to a free one, said in the log."""
    for attempt in (port, 0) if port else (0,):
        site = web.TCPSite(runner, host, attempt)
        try:
            await site.start()
        except OSError as e:
            if e.errno != errno.EADDRINUSE or attempt == 0:
                raise
            log.warning("console: port %d is in use; serving on a free port instead", port)
            continue
        bound = runner.addresses[-1][1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{bound}/"
    raise OSError("no port to serve on")  # pragma: no cover  (the loop always returns)


async def serve_console(cfg: Config, settings: ConsoleSettings, stop: asyncio.Event, *,
                        reader: Reader | None = None, follow: bool = True,
                        feeders: Sequence[Feeder] = (), open_embedded: bool = False,
                        on_ready: Callable[[str], None] | None = None,
                        clock: Callable[[], float] = time.time) -> None:
    """Serve the console until `stop` is set; `on_ready(url)` once it listens."""
    hub = Hub(FleetState(settings.group_labels, int(settings.fade_s * 1000),
                         settings.max_alerts))
    reader = reader or RunQueryReader(cfg, open_embedded=open_embedded)
    urls = settings.scrape or default_scrape_urls(cfg)
    info = console_info(cfg, urls, int(clock() * 1000))
    api = Api(hub, reader, load_console_rules(cfg, settings), settings, clock, info)
    runner = web.AppRunner(build_app(api, bind_host=settings.host), access_log=None,
                           shutdown_timeout=1.0)
    await runner.setup()
    tasks: list[asyncio.Task[None]] = []
    try:
        url = await _listen(runner, settings.host, settings.port)
        info["url"] = url
        tasks.append(asyncio.create_task(store_loop(reader, hub, settings, stop, clock)))
        tasks.append(asyncio.create_task(_push_loop(hub, settings.push_interval_s, stop,
                                                    clock)))
        if follow:
            tasks.append(asyncio.create_task(follow_topics(cfg, hub, settings, stop, clock)))
        tasks.extend(asyncio.create_task(_feed(f, hub, stop)) for f in feeders)
        if urls:
            tasks.append(asyncio.create_task(scrape_loop(
                urls, hub, settings.scrape_interval_s, settings.scrape_timeout_s, stop, clock)))
        log.info("console: serving on %s", url)
        if on_ready is not None:
            on_ready(url)
        await stop.wait()
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        hub.close()
        await runner.cleanup()
        reader.close()


def start_console(cfg: Config, *, timeout_s: float = 30.0, open_embedded: bool = False,
                  reader: Reader | None = None, follow: bool = True,
                  feeders: Sequence[Feeder] = (),
                  **overrides: Any) -> tuple[str, Callable[[], None]]:
    """Serve the console on a thread of its own: (its URL, a function that stops it).

    `overrides` are ConsoleSettings fields (host, port, scrape, rules, ...); `reader`,
    `follow` and `feeders` replace the store and the topics (tests, the benchmark).
    Raises RuntimeError when it did not start within `timeout_s`.
    """
    settings = ConsoleSettings.from_config(cfg, **overrides)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()
    result: dict[str, Any] = {}

    def ready(url: str) -> None:
        result["url"] = url
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve_console(
                cfg, settings, stop, on_ready=ready, open_embedded=open_embedded,
                reader=reader, follow=follow, feeders=feeders))
        except Exception as e:  # said to the caller, who is waiting on `started`
            result["error"] = e
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="rackwatch-console", daemon=True)
    thread.start()
    if not started.wait(timeout_s) or "url" not in result:
        raise RuntimeError(f"the console did not start: {result.get('error', 'timed out')}")

    def stop_console() -> None:
        if thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
            thread.join(10.0)

    return str(result["url"]), stop_console
