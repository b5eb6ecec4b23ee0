"""Scraping the pipeline's own endpoints for the health panel (the I/O of console.health).

Each endpoint is fetched with a short timeout; a Prometheus `/metrics` endpoint also has
its `/readyz` asked (the worker says there whether it owns partitions and has caught
up). An endpoint that does not answer is reported down with the reason; the others are
summarised as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import aiohttp
import orjson

from console.health import Scrape, parse_prometheus, parse_sink_ping, summarise
from console.hub import Hub

__all__ = ["scrape_loop", "scrape_once"]


async def _fetch(session: aiohttp.ClientSession, url: str, at_ms: int) -> Scrape:
    try:
        async with session.get(url) as resp:
            body = await resp.read()
            ctype = resp.headers.get("Content-Type", "")
            if resp.status != 200:
                return Scrape(url, at_ms, error=f"HTTP {resp.status}")
        if "json" in ctype or body[:1] == b"{":
            doc = orjson.loads(body)
            if not isinstance(doc, dict):
                return Scrape(url, at_ms, error="unexpected JSON answer")
            return Scrape(url, at_ms, parse_sink_ping(doc), kind="sink")
        scrape = Scrape(url, at_ms, parse_prometheus(body.decode("utf-8", "replace")),
                        kind="prometheus")
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
        return Scrape(url, at_ms, error=f"{type(e).__name__}: {e}"[:300] or "no answer")
    if url.endswith("/metrics"):
        try:
            async with session.get(url[: -len("/metrics")] + "/readyz") as resp:
                scrape.ready = resp.status == 200
                scrape.ready_reason = (await resp.text()).strip()[:200]
        except (aiohttp.ClientError, TimeoutError, OSError):
            scrape.ready = None
    return scrape


async def scrape_once(session: aiohttp.ClientSession, urls: Sequence[str],
                      clock: Callable[[], float] = time.time) -> list[Scrape]:
    at_ms = int(clock() * 1000)
    return list(await asyncio.gather(*(_fetch(session, u, at_ms) for u in urls)))


async def scrape_loop(urls: Sequence[str], hub: Hub, interval_s: float, timeout_s: float,
                      stop: asyncio.Event, clock: Callable[[], float] = time.time) -> None:
    """Scrape every `interval_s` and hand each summary to the hub until `stop`."""
    prev: dict[str, Scrape] = {}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            started = time.monotonic()
            current = await scrape_once(session, urls, clock)
            hub.set_health(summarise(prev, current), int(clock() * 1000))
            prev = {s.url: s for s in current if s.ok}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(),
                                       max(0.1, interval_s - (time.monotonic() - started)))
