"""Every role's own health: a Prometheus `/metrics` endpoint, `/healthz` and `/readyz`.

The endpoint runs on the role's asyncio event loop (aiohttp), not in a thread: the
counters it reports are plain attributes the role updates on that loop, read at scrape
time by a collector, so a scrape never races an update and counting costs nothing per
event. The registry is the role's own (injected, never the global default), so tests
and several roles in one process never see each other's metrics.

`/healthz` answers 200 while the process's loop runs; `/readyz` answers 200 when the
role says it is ready (a worker: partitions assigned and caught up) and 503 with the
reason otherwise.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["LATENCY_BUCKETS", "SIZE_BUCKETS", "Endpoint", "Histogram", "Readiness",
           "histogram_family", "serve"]

log = logging.getLogger(__name__)

# (ready, why not)
Readiness = Callable[[], tuple[bool, str]]


class Histogram:
    """Bucket counts a role updates on its loop and a collector exposes at scrape time
    (prometheus-client's own Histogram would be a second, locked, copy of the truth)."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * len(self.bounds)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for i, b in enumerate(self.bounds):
            if value <= b:
                self.counts[i] += 1
                break

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs, +Inf last, as the exposition format wants."""
        out, running = [], 0
        for b, n in zip(self.bounds, self.counts, strict=True):
            running += n
            out.append((floatToGoString(b), float(running)))  # type: ignore[no-untyped-call]
        out.append(("+Inf", float(self.count)))
        return out


def histogram_family(name: str, doc: str, labels: Sequence[str],
                     series: Iterable[tuple[Sequence[str], Histogram]]) -> Metric:
    """One histogram family from several labelled `Histogram`s."""
    fam = HistogramMetricFamily(name, doc, labels=list(labels))
    for values, h in series:
        fam.add_metric(list(values), h.buckets(), h.sum)
    return fam


# Bucket bounds the roles share (seconds; rows or alerts per batch).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000,
                100_000)


@dataclass
class Endpoint:
    """A running metrics endpoint; `url` is where it answers (its port may be ephemeral)."""

    runner: web.AppRunner
    url: str

    async def close(self) -> None:
        await self.runner.cleanup()


def _always_ready() -> tuple[bool, str]:
    return True, "ready"


async def serve(role: str, registry: CollectorRegistry, host: str, port: int, *,
                ready: Readiness = _always_ready,
                collectors: Iterable[Collector] = ()) -> Endpoint | None:
    """Start serving on (host, port); port 0 picks a free one. A port already in use
    (a second worker on the host) falls back to a free port, said in the log."""
    for c in collectors:
        registry.register(c)

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ok, why = ready()
        return web.Response(text=why + "\n", status=200 if ok else 503)

    app = web.Application()
    app.add_routes([web.get("/metrics", metrics), web.get("/healthz", healthz),
                    web.get("/readyz", readyz)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for attempt in (port, 0) if port else (0,):
        site = web.TCPSite(runner, host, attempt)
        try:
            await site.start()
        except OSError as e:
            if e.errno != errno.EADDRINUSE or attempt == 0:
                await runner.cleanup()
                log.error("%s: cannot serve metrics on %s:%d: %s", role, host, attempt, e)
                return None
            log.warning("%s: metrics port %d is in use (another %s on this host?); using a "
                        "free port instead: set [%s] metrics_port to choose one", role, port,
                        role, role)
            continue
        bound = runner.addresses[-1][1] if runner.addresses else attempt
        url = f"http://{host}:{bound}"
        log.info("%s: metrics on %s/metrics, health on %s/healthz and /readyz", role, url, url)
        return Endpoint(runner, url)
    return None  # pragma: no cover  (the loop always returns)
