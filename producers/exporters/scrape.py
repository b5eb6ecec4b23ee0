"""Scraping the agent's exporter targets: HTTP(S), tokens, TLS and timing.

The imperative shell around `TargetReader`. Each target has its own loop on the
wall-clock grid of its interval, a little ahead of the agent's batch ticks (`LEAD`), so
what it reads rides in the batch of that tick; a scrape still running at the tick rides
in the next one. The agent takes what is ready with `take()` when it builds a batch; a
target scraped twice between two batches (a shorter interval than the agent's) gives
only its latest reading. Every scrape, good or bad, adds the target's health samples
(`agent.scrape.up|duration_s|samples|dropped_series{target}`), the way Prometheus keeps
`up` per target.

A failed scrape (refused, timed out, HTTP error, a body that is not exposition text,
larger than `MAX_BODY`) is said once and counted through `Problems`, and said again
when the target answers. Parsing and conversion run in a worker thread so a large
node_exporter page never holds up the agent's loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from common.config import ConfigError, ScrapeTargetConfig
from producers.events import sample
from producers.exporters.exposition import ExpositionError, parse
from producers.exporters.reader import ReaderOptions, Reading, TargetReader
from producers.hostmetrics import HostMetricsOptions
from producers.problems import Problems
from schemas.events import Sample

__all__ = ["ACCEPT", "LEAD", "MAX_BODY", "ScrapeError", "Scraper", "target_problems"]

log = logging.getLogger(__name__)

# Prometheus text first: every exporter speaks it; OpenMetrics when that is all there is.
ACCEPT = ("text/plain;version=0.0.4;q=1.0,application/openmetrics-text;version=1.0.0;q=0.5,"
          "*/*;q=0.1")
MAX_BODY = 32 * 1024 * 1024  # a node_exporter page is ~0.1-1 MiB; 32 MiB is a runaway label
LEAD = 1.0  # seconds a scrape starts ahead of the grid point (at most a tenth of the interval)


class ScrapeError(RuntimeError):
    """A scrape that brought back no exposition text."""


def target_problems(targets: Sequence[ScrapeTargetConfig], interval_s: float) -> list[str]:
    """Every problem of the `[[agent.scrape]]` tables, each naming its target."""
    out: list[str] = []
    seen: set[str] = set()
    for i, t in enumerate(targets):
        where = f"[[agent.scrape]] #{i} ({t.name or 'no name'})"
        if not t.name.strip():
            out.append(f"{where}: name is required")
        elif t.name in seen:
            out.append(f"{where}: name {t.name!r} is used twice")
        seen.add(t.name)
        parts = urlsplit(t.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            out.append(f"{where}: url must be http(s)://host[:port]/path, got {t.url!r}")
        interval = t.interval_s or interval_s
        if t.timeout_s > interval:
            out.append(f"{where}: timeout_s ({t.timeout_s:g}) is longer than its interval "
                       f"({interval:g})")
        if t.bearer_token and t.bearer_token_file:
            out.append(f"{where}: give bearer_token or bearer_token_file, not both")
        if t.tls_key_file and not t.tls_cert_file:
            out.append(f"{where}: tls_key_file needs tls_cert_file")
        tls = t.tls_ca_file or t.tls_cert_file or t.tls_insecure_skip_verify
        if tls and parts.scheme == "http":
            out.append(f"{where}: TLS options on an http:// url (use https://)")
        for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            path = getattr(t, key)
            if path and not Path(path).is_file():
                out.append(f"{where}: {key} {path!r} is not a readable file")
    return out


def _ssl(t: ScrapeTargetConfig) -> ssl.SSLContext | None:
    if not t.url.startswith("https:"):
        return None
    try:
        ctx = ssl.create_default_context(cafile=t.tls_ca_file or None)
        if t.tls_cert_file:
            ctx.load_cert_chain(t.tls_cert_file, t.tls_key_file or None)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError([f"[[agent.scrape]] {t.name}: cannot load its TLS files: {e}"]) from e
    if t.tls_insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass
class _Target:
    config: ScrapeTargetConfig
    interval_s: float
    reader: TargetReader
    ssl: ssl.SSLContext | None
    exporters: list[str] = field(default_factory=list)


class Scraper:
    """All targets of one agent; `run` scrapes them until stopped, `take` drains."""

    def __init__(self, targets: Sequence[ScrapeTargetConfig], *, interval_s: float,
                 host: HostMetricsOptions | None = None, problems: Problems | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.problems = problems or Problems(log)
        self.clock = clock
        self.targets = [
            _Target(t, t.interval_s or interval_s,
                    TargetReader(ReaderOptions(t.name, dict(t.labels), tuple(t.include),
                                               tuple(t.exclude), t.max_series,
                                               host or HostMetricsOptions())),
                    _ssl(t))
            for t in targets]
        self._ready: dict[str, list[Sample]] = {}

    def take(self) -> list[Sample]:
        """Samples of the scrapes finished since the last call, targets in order."""
        out: list[Sample] = []
        for t in self.targets:
            out.extend(self._ready.pop(t.config.name, ()))
        return out

    async def scrape_all(self, session: aiohttp.ClientSession | None = None) -> None:
        """Scrape every target once, concurrently (the agent's `--once`)."""
        if session is None:
            async with aiohttp.ClientSession() as own:
                await self.scrape_all(own)
            return
        await asyncio.gather(*(self.scrape(session, t) for t in self.targets))

    async def run(self, stop: asyncio.Event) -> None:
        """Scrape each target on its grid until `stop` is set."""
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(self._loop(session, t, stop)) for t in self.targets]
            try:
                await stop.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, session: aiohttp.ClientSession, t: _Target,
                    stop: asyncio.Event) -> None:
        every = t.interval_s
        lead = min(LEAD, every / 10)
        while not stop.is_set():
            now = self.clock()
            due = (math.floor((now + lead) / every) + 1) * every - lead
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(due - now, 0.0))
                return
            except TimeoutError:
                pass
            await self.scrape(session, t)

    async def scrape(self, session: aiohttp.ClientSession, t: _Target) -> None:
        """One scrape of `t`: its samples and health land in the ready slot."""
        name = t.config.name
        started = time.monotonic()
        try:
            body, ctype = await self._fetch(session, t)
            now = self.clock()
            reading = await asyncio.to_thread(self._convert, t, body, ctype, now)
        except (ScrapeError, ExpositionError, aiohttp.ClientError, TimeoutError, OSError) as e:
            why = str(e) or type(e).__name__
            self.problems.report(f"scrape:{name}", f"cannot scrape {name} at {t.config.url}: "
                                                   f"{why}")
            self._ready[name] = self._health(name, False, time.monotonic() - started, 0, 0)
            return
        self.problems.clear(f"scrape:{name}", f"scrape target {name} answers again")
        if reading.exporters != t.exporters:
            t.exporters = reading.exporters
            log.info("scrape target %s (%s): %s", name, t.config.url,
                     ", ".join(reading.exporters) or "no recognised exporter; families pass "
                     "through under their own names")
        took = time.monotonic() - started
        self._ready[name] = reading.samples + self._health(name, True, took,
                                                           len(reading.samples),
                                                           reading.dropped)

    @staticmethod
    def _convert(t: _Target, body: str, ctype: str, now: float) -> Reading:
        return t.reader.read(parse(body, ctype), now)

    @staticmethod
    def _health(name: str, up: bool, took: float, n: int, dropped: int) -> list[Sample]:
        lab = {"target": name}
        out = [sample("agent.scrape.up", 1.0 if up else 0.0, lab),
               sample("agent.scrape.duration_s", round(took, 4), dict(lab))]
        if up:
            out.append(sample("agent.scrape.samples", float(n), dict(lab)))
            out.append(sample("agent.scrape.dropped_series", float(dropped), dict(lab)))
        return out

    async def _fetch(self, session: aiohttp.ClientSession, t: _Target) -> tuple[str, str]:
        cfg = t.config
        headers = {"Accept": ACCEPT}
        token = cfg.bearer_token
        if cfg.bearer_token_file:
            token = await asyncio.to_thread(lambda: Path(cfg.bearer_token_file).read_text())
        if token.strip():
            headers["Authorization"] = f"Bearer {token.strip()}"
        timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)
        tls: ssl.SSLContext | bool = t.ssl if t.ssl is not None else True
        async with session.get(cfg.url, headers=headers, timeout=timeout, ssl=tls) as resp:
            if resp.status != 200:
                raise ScrapeError(f"HTTP {resp.status} {resp.reason or ''}".strip())
            chunks, size = [], 0
            async for chunk in resp.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > MAX_BODY:
                    raise ScrapeError(f"body larger than {MAX_BODY // 2**20} MiB")
                chunks.append(chunk)
            ctype = resp.headers.get("Content-Type", "")
        return b"".join(chunks).decode("utf-8", errors="replace"), ctype
