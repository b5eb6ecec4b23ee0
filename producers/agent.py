"""The host agent: collect, batch, publish; tail logs and the kernel log beside it.

One metric batch per interval (all samples of that moment), aligned to the wall
clock; log lines as they appear. Everything goes through the shared `Publisher`,
so a broker outage only fills the bounded buffer. Read positions (log files,
kmsg) are committed only once the lines they cover are durable (producers.agent_work).
This module is the async shell: start the parts, drive the ticks, stop in order; the
options live in producers.agent_options.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable

from common.config import Config, ConfigError
from producers.agent_options import AgentOptions, AgentStats
from producers.agent_work import AgentWork, Watermark
from producers.buffer import SpillBuffer
from producers.events import metric_batch
from producers.exporters.scrape import Scraper
from producers.gpu import GpuCollector, GpuSource, XidEvent
from producers.hostmetrics import HostMetrics, HostMetricsOptions, PsutilReader
from producers.nvml import open_nvml
from producers.publisher import KafkaTransport, Publisher, Transport
from schemas.events import MetricBatch, Sample

__all__ = ["AgentOptions", "AgentStats", "AgentWork", "Watermark", "collect_once", "run_agent"]

log = logging.getLogger(__name__)


def _open_gpu(opts: AgentOptions, gpu_source: GpuSource | None) -> GpuSource | None:
    if gpu_source is not None or not opts.gpu:
        if not opts.gpu:
            log.info("GPU collection disabled")
        return gpu_source
    return open_nvml()


def _xid_thread(source: GpuSource, loop: asyncio.AbstractEventLoop,
                queue: asyncio.Queue[XidEvent], halt: threading.Event,
                wake: asyncio.Event) -> threading.Thread:
    """NVML's event wait blocks; a small thread turns it into queue items as they happen."""

    def deliver(ev: XidEvent) -> None:
        queue.put_nowait(ev)
        wake.set()

    def run() -> None:
        while not halt.is_set():
            try:
                ev = source.wait_xid(500)
            except Exception as e:  # never let the watcher die silently
                log.warning("XID watcher stopped: %s", e)
                return
            if ev is not None:
                loop.call_soon_threadsafe(deliver, ev)

    t = threading.Thread(target=run, name="rackwatch-xid", daemon=True)
    t.start()
    return t


async def run_agent(cfg: Config, *, stop: asyncio.Event, options: AgentOptions | None = None,
                    transport: Transport | None = None, gpu_source: GpuSource | None = None,
                    clock: Callable[[], float] = time.time) -> AgentStats:
    """Run the agent until `stop` is set (or `options.duration_s` passes); flush and return.

    Raises ConfigError, listing every problem, before anything starts.
    """
    opts = options or AgentOptions.from_config(cfg)
    problems = opts.problems()
    if problems:
        raise ConfigError(problems)
    source = _open_gpu(opts, gpu_source)
    agent = AgentWork(cfg, opts, gpu_source=source, clock=clock)
    if "rack" not in opts.labels:
        log.warning("no rack label configured ([agent].labels or --label rack=...): this "
                    "host's alerts make host incidents only, never rack ones")
    if transport is None:
        transport = _kafka_transport(cfg, agent.host)
    buffer = SpillBuffer(max_items=opts.buffer_max_batches,
                         memory_items=opts.buffer_memory_batches,
                         spill_path=agent.spill_path, on_done=agent.on_durable)
    publisher = Publisher(transport, buffer, problems=agent.problems)
    agent.publisher = publisher
    pub_stop = asyncio.Event()
    pub_task = asyncio.create_task(publisher.run(pub_stop, flush_timeout=opts.flush_timeout_s))
    xids: asyncio.Queue[XidEvent] = asyncio.Queue()
    halt = threading.Event()
    wake = asyncio.Event()
    xid_thread = (_xid_thread(source, asyncio.get_running_loop(), xids, halt, wake)
                  if source is not None else None)
    log.info("agent %s: every %.3gs to %s, labels %s", agent.host, opts.interval_s,
             transport.description, agent.labels)
    end = (time.monotonic() + opts.duration_s) if opts.duration_s is not None else math.inf
    relay = asyncio.create_task(_relay(stop, wake))
    scrape_stop = asyncio.Event()
    scraping = (asyncio.create_task(agent.scraper.run(scrape_stop))
                if agent.scraper is not None else None)
    endpoint = None
    if opts.metrics_port:  # off by default: an agent runs on every host
        from producers.selfmetrics import serve_metrics

        endpoint = await serve_metrics(opts.metrics_host, opts.metrics_port, agent, publisher)
    try:
        await _tick_loop(agent, stop, xids, wake, clock, end)
    finally:
        if endpoint is not None:
            await endpoint.close()
        relay.cancel()
        scrape_stop.set()
        if scraping is not None:
            await scraping
        halt.set()
        pub_stop.set()
        await pub_task
        if xid_thread is not None:
            xid_thread.join(timeout=2.0)
        if source is not None:
            source.close()
        agent.close()
    s = agent.stats
    s.sent, s.buffered, s.dropped = publisher.stats.sent, publisher.left_at_close, publisher.dropped
    s.problems = agent.problems.total
    log.info("agent %s stopped: %d batches, %d log events, %d sent, %d left buffered, "
             "%d dropped", agent.host, s.batches, s.log_events, s.sent, s.buffered, s.dropped)
    return s


def _kafka_transport(cfg: Config, host: str) -> Transport:
    """The Kafka transport, creating the agent's topics before the first send."""
    from common.kafka import kafka_client
    from common.topics import ensure_topics

    async def prepare() -> object:
        return await ensure_topics(cfg, ("metrics", "logs"))

    return KafkaTransport(kafka_client(cfg), client_id=f"rackwatch-agent-{host}",
                          prepare=prepare)


async def _tick_loop(agent: AgentWork, stop: asyncio.Event, xids: asyncio.Queue[XidEvent],
                     wake: asyncio.Event, clock: Callable[[], float], end: float) -> None:
    """Metric batches on the wall-clock grid, log polls and XIDs between, until `stop`
    (or the monotonic `end`).

    One cheap timer per sleep, woken early by stop or an XID: no tasks per interval, and
    log polls share the metrics' wall-clock grid, so an idle agent wakes once per tick.
    """
    opts = agent.opts
    loop = asyncio.get_running_loop()
    interval = opts.interval_s
    log_every = opts.log_poll_s
    has_logs = agent.tailer is not None or agent.kmsg is not None
    if opts.host_metrics:
        agent.metrics.samples(agent.reader.read())  # baseline: the first batch has rates
    next_tick = (math.floor(clock() / interval) + 1) * interval
    next_logs = clock() if has_logs else math.inf
    next_save = time.monotonic() + 2.0
    while not stop.is_set() and time.monotonic() < end:
        now = clock()
        if now >= next_tick:
            agent.publish_metrics()
            next_tick = (math.floor(now / interval) + 1) * interval
        if now >= next_logs:
            agent.poll_logs()
            next_logs = (math.floor(now / log_every) + 1) * log_every
        while not xids.empty():
            agent.publish_xid(xids.get_nowait())
        mono = time.monotonic()
        if agent.state.dirty and mono >= next_save:
            agent.state.save()
            next_save = mono + 2.0
        wait = min(min(next_tick, next_logs) - clock(), end - time.monotonic())
        wake.clear()
        if wait > 0 and xids.empty() and not stop.is_set():
            timer = loop.call_later(wait, wake.set)
            await wake.wait()
            timer.cancel()
    agent.poll_logs()  # lines written up to the stop are shipped too
    while not xids.empty():
        agent.publish_xid(xids.get_nowait())


async def _relay(stop: asyncio.Event, wake: asyncio.Event) -> None:
    """Wake the agent loop when `stop` is set."""
    await stop.wait()
    wake.set()


def collect_once(opts: AgentOptions, *, gpu_source: GpuSource | None = None,
                 settle_s: float = 1.0, clock: Callable[[], float] = time.time) -> MetricBatch:
    """One batch for `--once`: a baseline, a short wait, then real rates. Touches no state.

    Its seq is the current epoch milliseconds (the persistent counter is left alone).
    """
    hopts = HostMetricsOptions(per_core=opts.per_core)
    reader = PsutilReader(hopts, clock=clock)
    metrics = HostMetrics(hopts)
    source = _open_gpu(opts, gpu_source)
    gpu = GpuCollector(source) if source is not None else None
    scraper = (Scraper(opts.scrape, interval_s=opts.interval_s, host=hopts, clock=clock)
               if opts.scrape else None)
    try:
        for last in (False, True):  # a baseline, then the batch with its rates
            if last:
                time.sleep(min(settle_s, opts.interval_s))
            samples: list[Sample] = []
            now = clock()
            if opts.host_metrics:
                snap = reader.read()
                now, samples = snap.now, metrics.samples(snap)
            if gpu is not None:
                samples.extend(gpu.samples(now))
            if scraper is not None:
                asyncio.run(scraper.scrape_all())
                samples.extend(scraper.take())
    finally:
        if source is not None:
            source.close()
    ts = int(now * 1000)
    return metric_batch(opts.hostname, ts, ts, opts.topology(), samples,
                        round(opts.interval_s * 1000))
