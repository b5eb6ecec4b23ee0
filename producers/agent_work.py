"""The agent's state and its per-tick work: collect, publish, tail, commit read positions.

Read positions (log files, kmsg) are committed only once the lines they cover are
durable, tracked with a per-source `Watermark` so an out-of-order acknowledgement can
never skip a line. The async loop that drives this lives in producers.agent.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable

from common.config import Config
from common.selfmetrics import LATENCY_BUCKETS, Histogram
from producers.agent_options import AgentOptions, AgentStats
from producers.events import encode, log_event, metric_batch, sample
from producers.exporters.scrape import Scraper
from producers.gpu import GpuCollector, GpuSource, XidEvent, xid_message
from producers.hostmetrics import HostMetrics, HostMetricsOptions, PsutilReader
from producers.kmsg import KmsgReader, read_boot_id
from producers.logtail import LogTailer
from producers.problems import Problems
from producers.publisher import Publisher
from producers.state import AgentState
from schemas.events import MetricBatch, Sample

__all__ = ["AgentWork", "Watermark"]


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


class AgentWork:
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

