"""The host agent: collect, batch, publish; tail logs and the kernel log beside it.

One metric batch per interval (all samples of that moment), aligned to the wall
clock; log lines as they appear. Everything goes through the shared `Publisher`,
so a broker outage only fills the bounded buffer. Read positions (log files,
kmsg) are committed only once the lines they cover are durable, tracked with a
per-source watermark so an out-of-order acknowledgement can never skip a line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config import AgentConfig, Config, ConfigError, ScrapeTargetConfig
from common.selfmetrics import LATENCY_BUCKETS, Histogram
from producers.buffer import SpillBuffer
from producers.events import encode, log_event, metric_batch, sample
from producers.exporters.scrape import Scraper, target_problems
from producers.gpu import GpuCollector, GpuSource, XidEvent, open_nvml, xid_message
from producers.hostmetrics import HostMetrics, HostMetricsOptions, PsutilReader
from producers.kmsg import KmsgReader, read_boot_id
from producers.logtail import LogTailer
from producers.problems import Problems
from producers.publisher import KafkaTransport, Publisher, Transport
from producers.state import AgentState
from schemas.events import MetricBatch, Sample

__all__ = ["AgentOptions", "AgentStats", "Watermark", "collect_once", "run_agent"]

log = logging.getLogger(__name__)

_LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


_A = AgentConfig()  # the defaults: every [agent] key is declared once, in common.config


@dataclass(frozen=True)
class AgentOptions:
    """Everything the agent needs: `[agent]` (common.config), then command-line overrides,
    plus what only the command line or the process sets (duration, state directory)."""

    interval_s: float = _A.interval_s
    host: str = _A.host
    labels: dict[str, str] = field(default_factory=dict)
    log_patterns: tuple[str, ...] = _A.log_paths
    kmsg: bool = _A.kmsg
    kmsg_path: str = _A.kmsg_path
    gpu: bool = _A.gpu
    duration_s: float | None = None
    state_dir: Path = Path(".rackwatch") / "agent"
    buffer_max_batches: int = _A.buffer_max_batches
    buffer_memory_batches: int = _A.buffer_memory_batches
    per_core: bool = _A.per_core
    log_poll_s: float = _A.log_poll_s
    read_existing_logs: bool = _A.read_existing_logs
    flush_timeout_s: float = _A.flush_timeout_s
    host_metrics: bool = _A.host_metrics
    scrape: tuple[ScrapeTargetConfig, ...] = _A.scrape
    metrics_host: str = _A.metrics_host
    metrics_port: int = _A.metrics_port

    @classmethod
    def from_config(cls, cfg: Config, **overrides: Any) -> AgentOptions:
        """Options from `[agent]`, then `overrides` (None values are ignored)."""
        a = cfg.agent
        base = cls(interval_s=a.interval_s, host=a.host, labels=dict(a.labels),
                   log_patterns=tuple(a.log_paths), kmsg=a.kmsg, kmsg_path=a.kmsg_path,
                   gpu=a.gpu, state_dir=cfg.home / "agent",
                   buffer_max_batches=a.buffer_max_batches,
                   buffer_memory_batches=a.buffer_memory_batches, per_core=a.per_core,
                   log_poll_s=a.log_poll_s, read_existing_logs=a.read_existing_logs,
                   flush_timeout_s=a.flush_timeout_s, host_metrics=a.host_metrics,
                   scrape=a.scrape, metrics_host=a.metrics_host, metrics_port=a.metrics_port)
        return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def hostname(self) -> str:
        """The host id: configured, else this machine's name."""
        return self.host or socket.gethostname()

    def topology(self) -> dict[str, str]:
        """Labels attached to every event. No `rack` configured means none sent: a made-up
        shared rack ("unknown") would put unrelated hosts in one place."""
        return dict(self.labels)

    def problems(self) -> list[str]:
        """Every configuration problem, each naming its key."""
        out = []
        if not (self.interval_s > 0):
            out.append(f"[agent].interval_s / --interval must be > 0, got {self.interval_s!r}")
        if not self.hostname.strip():
            out.append("[agent].host / --host must not be empty")
        for k, v in self.labels.items():
            if not _LABEL_KEY.match(k):
                out.append(f"[agent].labels / --label: bad label name {k!r}")
            if not isinstance(v, str) or not v:
                out.append(f"[agent].labels / --label: label {k!r} needs a non-empty value")
        for p in self.log_patterns:
            if not p.strip():
                out.append("[agent].log_paths / --log: empty glob")
        if self.buffer_max_batches < 1:
            out.append("[agent].buffer_max_batches must be at least 1, "
                       f"got {self.buffer_max_batches}")
        if not 1 <= self.buffer_memory_batches <= max(self.buffer_max_batches, 1):
            out.append("[agent].buffer_memory_batches must be between 1 and "
                       f"buffer_max_batches, got {self.buffer_memory_batches}")
        if self.duration_s is not None and self.duration_s < 0:
            out.append(f"--duration must not be negative, got {self.duration_s}")
        if not (self.log_poll_s > 0):
            out.append(f"log_poll_s must be > 0, got {self.log_poll_s}")
        if self.interval_s > 0:
            out.extend(target_problems(self.scrape, self.interval_s))
        return out


@dataclass
class AgentStats:
    """What a run did; returned by `run_agent`."""

    batches: int = 0
    log_events: int = 0
    xid_events: int = 0
    sent: int = 0
    buffered: int = 0
    dropped: int = 0
    problems: int = 0
    gpus: int = 0
    first_seq: int | None = None
    last_seq: int | None = None


class Watermark:
    """The highest position below which every published item is durable.

    Items are added in publish order; `done` may arrive in any order (a spilled
    record is durable before an older one in memory is delivered). Only the
    contiguous done prefix moves the watermark.
    """

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()

    def add(self, pos: int) -> None:
        self._pending.append(pos)

    def done(self, pos: int) -> int | None:
        """Mark `pos` durable; the new watermark if it moved, else None."""
        self._done.add(pos)
        moved = None
        while self._pending and self._pending[0] in self._done:
            moved = self._pending.popleft()
            self._done.discard(moved)
        return moved

    def __len__(self) -> int:
        return len(self._pending)


class _Agent:
    """The agent's state and its per-tick work; the async loop lives in `run_agent`."""

    def __init__(self, cfg: Config, opts: AgentOptions, *, gpu_source: GpuSource | None,
                 clock: Callable[[], float]) -> None:
        self.opts = opts
        self.clock = clock
        self.host = opts.hostname
        self.key = self.host.encode()
        self.labels = opts.topology()
        self.metrics_topic = cfg.topic("metrics")
        self.logs_topic = cfg.topic("logs")
        self.problems = Problems(logging.getLogger("producers.agent.sources"))
        self.stats = AgentStats()
        opts.state_dir.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.host)
        self.state = AgentState(opts.state_dir / f"{safe}.state.json",
                                now_ms=int(clock() * 1000))
        self.spill_path = opts.state_dir / f"{safe}.spill"
        hopts = HostMetricsOptions(per_core=opts.per_core)
        self.reader = PsutilReader(hopts, problems=self.problems, clock=clock)
        self.metrics = HostMetrics(hopts)
        self.gpu = GpuCollector(gpu_source, problems=self.problems) if gpu_source else None
        self.scraper = (Scraper(opts.scrape, interval_s=opts.interval_s, host=hopts,
                                problems=self.problems, clock=clock) if opts.scrape else None)
        self.stats.gpus = gpu_source.count() if gpu_source else 0
        self.tailer = (LogTailer(list(opts.log_patterns), saved=self.state.files or None,
                                 read_existing=opts.read_existing_logs, problems=self.problems)
                       if opts.log_patterns else None)
        self.kmsg: KmsgReader | None = None
        if opts.kmsg:
            import psutil

            self.kmsg = KmsgReader.resume(opts.kmsg_path, self.state.kmsg,
                                          boot_time=psutil.boot_time(), boot_id=read_boot_id(),
                                          problems=self.problems)
        self.file_marks: dict[str, Watermark] = {}
        self.kmsg_mark = Watermark()
        self.publisher: Publisher | None = None
        self.collect_seconds = Histogram(LATENCY_BUCKETS)

    # -- durability ------------------------------------------------------------------
    def on_durable(self, token: object) -> None:
        """A record with `token` is acknowledged, spilled to disk, or counted as dropped."""
        if not isinstance(token, tuple):
            return
        if token[0] == "f" and self.tailer is not None:
            fid, offset = token[1], token[2]
            mark = self.file_marks.get(fid)
            if mark is not None:
                moved = mark.done(offset)
                if moved is not None:
                    self.tailer.commit(fid, moved)
                    self.state.files = self.tailer.positions()
                    self.state.dirty = True
                if not mark:
                    del self.file_marks[fid]
        elif token[0] == "k" and self.kmsg is not None:
            moved = self.kmsg_mark.done(token[1])
            if moved is not None:
                self.state.kmsg = self.kmsg.cursor(moved)
                self.state.dirty = True

    # -- work per tick ---------------------------------------------------------------
    def collect(self) -> MetricBatch:
        """One metric batch of this moment."""
        samples: list[Sample] = []
        if self.opts.host_metrics:
            snap = self.reader.read()
            now = snap.now
            samples.extend(self.metrics.samples(snap))
        else:
            now = self.clock()
        if self.gpu is not None:
            samples.extend(self.gpu.samples(now))
        if self.scraper is not None:
            samples.extend(self.scraper.take())
        pub = self.publisher
        if pub is not None:
            samples.append(sample("agent.buffered_batches", float(pub.buffered)))
            samples.append(sample("agent.dropped_batches", float(pub.dropped)))
        samples.append(sample("agent.errors", float(self.problems.total)))
        seq = self.state.next_metrics_seq()
        self.stats.first_seq = seq if self.stats.first_seq is None else self.stats.first_seq
        self.stats.last_seq = seq
        return metric_batch(self.host, int(now * 1000), seq, self.labels, samples,
                            round(self.opts.interval_s * 1000), epoch=self.state.epoch)

    def publish_metrics(self) -> None:
        assert self.publisher is not None
        started = time.monotonic()
        batch = self.collect()
        self.collect_seconds.observe(time.monotonic() - started)
        self.publisher.publish(self.metrics_topic, self.key, encode(batch))
        self.stats.batches += 1

    def _publish_log(self, ts_ms: int, message: str, source: str, labels: dict[str, str],
                     token: object) -> None:
        assert self.publisher is not None
        ev = log_event(self.host, ts_ms, self.state.next_logs_seq(), message, source, labels,
                       epoch=self.state.epoch)
        self.publisher.publish(self.logs_topic, self.key, encode(ev), token)
        self.stats.log_events += 1

    def poll_logs(self) -> None:
        now_ms = int(self.clock() * 1000)
        if self.tailer is not None:
            for line in self.tailer.poll():
                mark = self.file_marks.get(line.file_id)
                if mark is None:
                    mark = self.file_marks[line.file_id] = Watermark()
                mark.add(line.offset)
                self._publish_log(now_ms, line.text, line.source, self.labels,
                                  ("f", line.file_id, line.offset))
        if self.kmsg is not None:
            for rec in self.kmsg.poll():
                self.kmsg_mark.add(rec.seq)
                self._publish_log(self.kmsg.ts_ms(rec), rec.raw or rec.message, "kmsg",
                                  self.labels, ("k", rec.seq))

    def publish_xid(self, ev: XidEvent) -> None:
        if self.gpu is not None:
            self.gpu.note_xid(ev)
        labels = {**self.labels, "gpu": str(ev.index)}
        self._publish_log(int(self.clock() * 1000), xid_message(ev), "nvml", labels, None)
        self.stats.xid_events += 1

    def close(self) -> None:
        if self.tailer is not None:
            self.state.files = self.tailer.positions()
            self.tailer.close()
        if self.kmsg is not None:
            self.kmsg.close()
        self.state.save()


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
    agent = _Agent(cfg, opts, gpu_source=source, clock=clock)
    if "rack" not in opts.labels:
        log.warning("no rack label configured ([agent].labels or --label rack=...): this "
                    "host's alerts make host incidents only, never rack ones")
    if transport is None:
        from common.kafka import kafka_client
        from common.topics import ensure_topics

        async def prepare() -> object:
            return await ensure_topics(cfg, ("metrics", "logs"))

        transport = KafkaTransport(kafka_client(cfg), client_id=f"rackwatch-agent-{agent.host}",
                                   prepare=prepare)
    buffer = SpillBuffer(max_items=opts.buffer_max_batches,
                         memory_items=opts.buffer_memory_batches,
                         spill_path=agent.spill_path, on_done=agent.on_durable)
    publisher = Publisher(transport, buffer, problems=agent.problems)
    agent.publisher = publisher
    pub_stop = asyncio.Event()
    pub_task = asyncio.create_task(publisher.run(pub_stop, flush_timeout=opts.flush_timeout_s))
    loop = asyncio.get_running_loop()
    xids: asyncio.Queue[XidEvent] = asyncio.Queue()
    halt = threading.Event()
    wake = asyncio.Event()
    xid_thread = _xid_thread(source, loop, xids, halt, wake) if source is not None else None
    log.info("agent %s: every %.3gs to %s, labels %s", agent.host, opts.interval_s,
             transport.description, agent.labels)
    started = time.monotonic()
    interval = opts.interval_s
    # One cheap timer per sleep, woken early by stop or an XID: no tasks per interval, and
    # log polls share the metrics' wall-clock grid, so an idle agent wakes once per tick.
    relay = asyncio.create_task(_relay(stop, wake))
    scrape_stop = asyncio.Event()
    scraping = (asyncio.create_task(agent.scraper.run(scrape_stop))
                if agent.scraper is not None else None)
    endpoint = None
    if opts.metrics_port:  # off by default: an agent runs on every host
        from producers.selfmetrics import serve_metrics

        endpoint = await serve_metrics(opts.metrics_host, opts.metrics_port, agent, publisher)
    has_logs = agent.tailer is not None or agent.kmsg is not None
    log_every = opts.log_poll_s
    end = started + opts.duration_s if opts.duration_s is not None else math.inf
    try:
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
