"""The sink process: consume the processed topics, store them in batches, then commit.

Checkpoint order (enforced here): the writer thread stores a batch (journal, rows, dead
letters), the dead letters are published, and only then is the batch's next offset
committed. A failed write aborts the commit; the offsets stay where they were and the
rows are read again, cut the same way (sinks.batch), and deduplicated by ClickHouse.

The sink has its own consumer group, so it scales apart from the stream processors.
The process around it (the store, /metrics, the query server) is sinks.run.
Back-pressure: when more than `max_pending_rows` are buffered, or the store is failing,
every assigned partition is paused; the consumer keeps polling (so it stays in its
group) but receives nothing until the writer catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from common.config import Config
from common.kafka import consumer, kafka_client, producer
from common.threadname import name_thread
from sinks.batch import Batch, Batcher
from sinks.deadletters import STORED_HEADER, publish_dead_letters, stored_by_a_sink
from sinks.errors import StoreAborted
from sinks.recovery import read_members, rebuild
from sinks.retry import Backoff
from sinks.rows import Limits, table_specs
from sinks.selfmetrics import SinkMetrics, State
from sinks.settings import SinkSettings
from sinks.stats import SinkStats
from sinks.store import Store
from sinks.writer import BatchWriter, WriteResult

__all__ = ["LOOP_THREAD", "STORED_HEADER", "WRITER_THREAD", "SinkService"]

log = logging.getLogger(__name__)

# OS thread names, so that per-thread CPU tells the sink's parts from the engine's.
LOOP_THREAD, WRITER_THREAD = "rw-sink", "rw-sink-writer"


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, service: SinkService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.service.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.service.on_assigned(assigned)


class SinkService:
    """One sink: a consumer, a batcher, a writer thread, a dead-letter producer."""

    def __init__(self, cfg: Config, store: Store, *, settings: SinkSettings | None = None,
                 stats: SinkStats | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.settings = settings or SinkSettings.from_config(cfg)
        self.stats = stats or SinkStats()
        self.metrics = SinkMetrics()  # the /metrics view beside the writer's counters
        self._write_started: float | None = None
        s = self.settings
        self.specs = {cfg.topic(short): spec for short, spec in table_specs().items()}
        self.deadletter_topic = cfg.topic("deadletter")
        self.batcher = Batcher(self.specs, batch_rows=s.batch_rows,
                               batch_interval_s=s.batch_interval_s,
                               max_batch_rows=s.max_batch_rows,
                               max_message_bytes=s.max_message_bytes)
        self.writer = BatchWriter(store, stats=self.stats,
                                  backoff=Backoff(s.retry_initial_s, s.retry_max_s),
                                  limits=Limits(max_field_bytes=s.max_field_bytes))
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="rackwatch-sink-writer",
                                       initializer=self._writer_started)
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self._inflight: asyncio.Future[list[WriteResult]] | None = None
        self._inflight_rows = 0
        self._paused = False
        # A partition is consumed only once its journal was read (so its first batch is
        # cut as before); records that arrive earlier wait here, in offset order.
        self._ready: set[TopicPartition] = set()
        self._held: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
        self._preparing: dict[TopicPartition, asyncio.Task[None]] = {}
        # offset ranges of a partition stored by recovered rounds (skipped when read)
        self._stored: dict[TopicPartition, list[tuple[int, int]]] = {}
        self._recovering: dict[str, asyncio.Task[list[WriteResult]]] = {}
        # OS thread ids of the loop and the writer: what the cost model reads per thread
        self.threads = {"loop": threading.get_native_id()}

    def _writer_started(self) -> None:
        name_thread(WRITER_THREAD)
        self.threads["writer"] = threading.get_native_id()

    # --- the loop ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> SinkStats:
        cfg, s = self.cfg, self.settings
        kafka = kafka_client(cfg)
        self.consumer = consumer(
            kafka, group_id=s.group_id, client_id="rackwatch-sink",
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_partition_fetch_bytes=max(1 << 20, s.max_message_bytes))
        self.producer = producer(kafka, acks="all", enable_idempotence=True, linger_ms=5)
        self.consumer.subscribe(list(self.specs), listener=_Rebalance(self))
        await self.producer.start()
        try:
            await self.consumer.start()
            if ready is not None:
                ready.set()
            log.info("sink consuming %s as group %s", ", ".join(self.specs), s.group_id)
            while not stop.is_set():
                self._apply_backpressure()
                records = await self.consumer.getmany(timeout_ms=100, max_records=1000)
                now = time.monotonic()
                for msgs in records.values():
                    for m in msgs:
                        self._add(m, now)
                await self._pump(now)
            await self._shutdown()
        finally:
            for task in self._preparing.values():
                task.cancel()
            with contextlib.suppress(Exception):
                await self.consumer.stop()
            with contextlib.suppress(Exception):
                await self.producer.stop()
            self.writer.stop.set()
            self.pool.shutdown(wait=True)
        return self.stats

    def _add(self, m: ConsumerRecord[bytes, bytes], now: float) -> None:
        tp = TopicPartition(m.topic, m.partition)
        if tp not in self._ready:
            self._held.setdefault(tp, []).append(m)
            return
        stored = self._stored.get(tp)
        if stored and m.offset <= stored[-1][1] and any(a <= m.offset <= b for a, b in stored):
            return  # in a round recovered from the journal: stored already
        self.stats.messages_total += 1
        self.metrics.add(self.metrics.messages, m.topic)
        self.batcher.add(m.topic, m.partition, m.offset, m.key, m.value, now,
                         skip=self._skip(m))

    def _skip(self, m: ConsumerRecord[bytes, bytes]) -> bool:
        """Nothing to store: a dead letter this sink (or another) stored and published."""
        return m.topic == self.deadletter_topic and stored_by_a_sink(m.headers)

    def _apply_backpressure(self) -> None:
        assert self.consumer is not None
        pending = self.batcher.buffered_rows + self._inflight_rows
        limit = self.settings.max_pending_rows
        failing = not self.writer.healthy
        assigned = self.consumer.assignment()
        if pending >= limit or failing:
            if not self._paused:
                self.stats.pauses_total += 1
                log.warning("pausing consumption: %d rows pending (limit %d), store %s",
                            pending, limit, "failing" if failing else "ok")
                self._paused = True
        elif self._paused and pending < limit // 2:
            self._paused = False
            log.info("resuming consumption: %d rows pending", pending)
        # re-applied every round: covers partitions assigned or made ready meanwhile
        waiting = set(assigned) if self._paused else set(assigned) - self._ready
        if waiting:
            self.consumer.pause(*waiting)
        running = set(assigned) - waiting
        if running:
            self.consumer.resume(*running)

    async def _pump(self, now: float) -> None:
        """Hand due batches to the writer thread; commit what it finished."""
        if self._inflight is not None and self._inflight.done():
            results = self._inflight.result()  # a write error ends the sink, uncommitted
            self._inflight, self._inflight_rows = None, 0
            await self._acknowledge(results)
        if self._inflight is None:
            due = self.batcher.due(now)
            if due:
                self._start_write(due)

    def _start_write(self, batches: list[Batch]) -> None:
        loop = asyncio.get_running_loop()
        self._inflight_rows = sum(b.size for b in batches)
        self._write_started = time.monotonic()
        for b in batches:
            self.metrics.batch_rows.observe(b.size)
        self._inflight = loop.run_in_executor(self.pool, self.writer.write_all, batches)

    async def _acknowledge(self, results: list[WriteResult], *, commit: bool = True) -> None:
        """Publish dead letters, then commit: nothing is acknowledged before it is stored."""
        assert self.consumer is not None and self.producer is not None
        self._observe(results)
        await publish_dead_letters(self.producer, self.deadletter_topic, results, self.stats)
        if not commit:
            return
        assigned = self.consumer.assignment()
        offsets: dict[TopicPartition, int] = {}
        for r in results:
            tp = TopicPartition(r.topic, r.partition)
            if tp in assigned:
                offsets[tp] = max(offsets.get(tp, 0), r.next_offset)
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
            self.stats.commits_total += 1
            self.metrics.committed.update(((tp.topic, tp.partition), o)
                                          for tp, o in offsets.items())
        except (CommitFailedError, IllegalStateError, KafkaError) as e:
            # The next successful commit of these partitions covers these batches too;
            # if the partitions moved, their new owner re-reads and deduplicates them.
            self.stats.commit_failures_total += 1
            log.warning("offset commit failed: %s", e)

    def _observe(self, results: list[WriteResult]) -> None:
        """What a finished write round stored and dead-lettered, for /metrics."""
        if self._write_started is not None:
            self.metrics.insert_seconds.observe(time.monotonic() - self._write_started)
            self._write_started = None
        for r in results:
            self.metrics.add(self.metrics.rows, r.topic, r.rows)
            for d in r.dead_letters:
                self.metrics.add(self.metrics.dead_letters, str(d.get("reason_code")))

    async def _wait_inflight(self, limit_s: float | None) -> None:
        if self._inflight is None:
            return
        try:
            results = await asyncio.wait_for(asyncio.shield(self._inflight), limit_s)
        except TimeoutError:
            return
        except StoreAborted:
            self._inflight, self._inflight_rows = None, 0
            return
        self._inflight, self._inflight_rows = None, 0
        await self._acknowledge(results)

    async def _shutdown(self) -> None:
        """Graceful stop: store what is buffered, within `shutdown_flush_s`."""
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.settings.shutdown_flush_s, self.writer.stop.set)
        try:
            await self._wait_inflight(None)
            rest = self.batcher.drain()
            if rest:
                self._start_write(rest)
                await self._wait_inflight(None)
        except StoreAborted as e:
            log.warning("stopping with unstored batches (they will be read again): %s", e)
        finally:
            timer.cancel()

    # --- rebalancing ------------------------------------------------------------------

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        # Let a write in flight finish and commit, so the next owner's journal lookup
        # sees it; bounded so a store outage does not hold the whole group.
        await self._wait_inflight(self.settings.shutdown_flush_s)
        for tp in revoked:
            self._ready.discard(tp)
            self._held.pop(tp, None)
            self._stored.pop(tp, None)
            task = self._preparing.pop(tp, None)
            if task is not None:
                task.cancel()
        dropped = self.batcher.discard([(tp.topic, tp.partition) for tp in revoked])
        self.stats.discarded_rows_total += dropped
        if revoked:
            log.info("partitions revoked: %d (%d buffered rows left to the next owner)",
                     len(revoked), dropped)

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        # Nothing slow here: the journal is read by one task per partition, and the
        # partition stays paused until its task has written its journaled rounds again.
        self._recovering = {t: task for t, task in self._recovering.items() if not task.done()}
        for tp in assigned:
            if tp not in self._ready and tp not in self._preparing:
                self._preparing[tp] = asyncio.create_task(self._prepare(tp))

    async def _prepare(self, tp: TopicPartition) -> None:
        """Write the journaled rounds of `tp` again (retrying while the store or Kafka
        fails), move past them, go."""
        assert self.consumer is not None
        backoff = Backoff(self.settings.retry_initial_s, self.settings.retry_max_s)
        while True:
            try:
                start = await self.consumer.committed(tp)
                if start is None:
                    start = (await self.consumer.beginning_offsets([tp]))[tp]
                ranges = await self._recover(tp, start)
                break
            except asyncio.CancelledError:
                raise
            except StoreAborted:
                return  # stopping
            except Exception as e:
                delay = backoff.next()
                log.warning("%s:%d: journaled rounds not recoverable yet (%s); retrying in "
                            "%.2fs", tp.topic, tp.partition, e, delay)
                await asyncio.sleep(delay)
        self.metrics.committed[(tp.topic, tp.partition)] = start
        if ranges:
            self._stored[tp] = ranges
            if ranges[0][0] == start and all(b[0] == a[1] + 1
                                             for a, b in itertools.pairwise(ranges)):
                resume = ranges[-1][1] + 1  # stored up to here without a gap: skip ahead
                self.consumer.seek(tp, resume)
                with contextlib.suppress(CommitFailedError, IllegalStateError, KafkaError):
                    await self.consumer.commit({tp: resume})
            log.info("%s:%d: %d journaled batch(es) from offset %d written again",
                     tp.topic, tp.partition, len(ranges), start)
        self._preparing.pop(tp, None)
        self._ready.add(tp)
        now = time.monotonic()
        for m in self._held.pop(tp, []):
            self._add(m, now)

    def state(self) -> State:
        """The sink now, for /metrics and /readyz."""
        assigned = self.consumer.assignment() if self.consumer is not None else set()
        lag = {}
        for tp in assigned:
            high = self.consumer.highwater(tp) if self.consumer is not None else None
            base = self.metrics.committed.get((tp.topic, tp.partition))
            if high is not None and base is not None:
                lag[(tp.topic, tp.partition)] = max(0, int(high) - base)
        return State(lag=lag, buffered_rows=self.batcher.buffered_rows,
                     inflight_rows=self._inflight_rows, paused=self._paused,
                     healthy=self.writer.healthy, assigned=len(assigned),
                     ready_partitions=len(self._ready & set(assigned)))

    async def _recover(self, tp: TopicPartition, start: int) -> list[tuple[int, int]]:
        """Every round journaled for `tp` from `start` written again; the offset ranges
        of `tp` they stored, in order."""
        loop = asyncio.get_running_loop()
        entries = await loop.run_in_executor(None, self.writer.journaled, tp.topic,
                                             tp.partition, start)
        ranges: list[tuple[int, int]] = []
        for token in dict.fromkeys(t for _, _, t in entries):
            task = self._recovering.get(token)
            if task is None or (task.done() and task.exception() is not None):
                task = asyncio.create_task(self._rewrite(token))
                self._recovering[token] = task
            results = await asyncio.shield(task)
            mine = [r for r in results if (r.topic, r.partition) == (tp.topic, tp.partition)]
            ranges.extend((r.first_offset, r.next_offset - 1) for r in mine)
            await self._acknowledge(mine, commit=False)
        return sorted(ranges)

    async def _rewrite(self, token: str) -> list[WriteResult]:
        """One journaled round, read back from Kafka and written with its token."""
        loop = asyncio.get_running_loop()
        members = await loop.run_in_executor(None, self.writer.members, token)
        members = [m for m in members if m.topic in self.specs]
        messages = await read_members(self.cfg, members,
                                      max_fetch_bytes=max(1 << 20,
                                                          self.settings.max_message_bytes))
        s = self.settings
        fresh = Batcher(self.specs, batch_rows=s.batch_rows, batch_interval_s=s.batch_interval_s,
                        max_batch_rows=2**62, max_message_bytes=s.max_message_bytes)
        batches = rebuild(members, messages, fresh, self._skip)
        results = await loop.run_in_executor(
            self.pool, lambda: self.writer.write_all(batches, token=token, journal=False))
        self.stats.recovered_rounds_total += 1
        self.stats.realigned_batches_total += len(batches)
        log.info("round %s (%d batches) written again from the journal", token, len(batches))
        return results

    def describe(self) -> dict[str, Any]:
        return {"stats": self.stats.snapshot(), "paused": self._paused, "threads": self.threads,
                "buffered_rows": self.batcher.buffered_rows, "healthy": self.writer.healthy}
