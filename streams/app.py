"""The faust worker: agents on the metrics and logs topics, state in changelogged tables.

Per-host state (dedup, smoothing, rule and alert state) lives in the `hosts` table,
keyed by host like the input topics, so it sits on the worker that owns the host's
partition and moves with it on a rebalance (recovered from the changelog topic).
The tables partition their changelog by key hash, the same murmur2 partitioning every
Kafka producer applies to the host-keyed inputs, so a host's state always lands in the
changelog partition of its input partition.

Exactly once in effect, without Kafka transactions. Messages are processed in small
batches (`take_events`), one batch at a time per worker, and a batch counts as done
only once it is durable, in this order:

1. its outputs are delivered (an idempotent producer; every delivery awaited);
2. then the host states it changed are delivered to the changelog;
3. then the offsets may be committed.

So a state in the changelog implies its outputs landed, and a committed offset implies
both. The input offsets are tracked and committed here, not by faust's acks: each input
partition is processed in offset order from the group's committed offset on, every
offset once; one that the stream did not deliver (faust drops fetched messages around a
rebalance, and counts a jump in offsets as a compacted gap it may commit past) is read
from the topic directly. Commits happen every second, when partitions are revoked, and
at shutdown, always up to the first offset not yet durable.

A worker that dies anywhere in between leaves messages that the next owner reads again:
where the state landed, the dedup step drops them; where only the outputs landed, the
next owner knows it because every processed record carries the input offset it came from
(header `rackwatch-source-offset`). Before it processes a partition it has just been
given, it reads the tail of that partition of `processed.metrics` / `processed.logs`
(co-partitioned with the inputs) back to the resume offset, and for the input offsets
found there it rebuilds the state but does not send the records again. Alerts,
correlation events and dead letters of such messages are sent again, identical (an
alert re-send is part of the alert contract).

faust's own `send_soon` is not used for any of this: its buffer's flush gives up after
100 ms, so a stop or a commit could overtake messages still queued there.

Time-driven work (a host that went silent, `for` timers, re-sends) must happen even
when no event arrives, which faust's stream-driven model does not give for free. It
runs in two ways, both at the partition's event time:
- in-stream: whenever a partition's event time has advanced by the tick interval, its
  hosts (or scopes) are ticked right there, between two messages, as `replay` does.
  A backlog (a worker catching up after an outage, a simulator replaying a past hour)
  is therefore judged exactly as it was lived: a rack that was dark for two minutes of
  it is seen dark, however fast those minutes are read;
- on a timer, for a partition that has gone quiet: each worker publishes a small tick
  to every partition it owns on the `ticks` topic, co-partitioned with the inputs, with
  the partition's event time extrapolated by wall time (never while the partition still
  has unread messages); the ticks agent runs it, ordered with the partition's other work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import murmur2
from aiokafka.structs import TopicPartition
from faust.types import TP

from producers.publisher import pick_compression
from rackwatch.config import Config
from streams.core.decode import Limits
from streams.core.metrics import HostState
from streams.core.smoothing import SmoothingParams
from streams.rules import RuleSet
from streams.runtime import Outputs, Runtime, StreamClock

__all__ = ["SOURCE_HEADER", "Outbox", "Record", "build_app", "landed_offsets", "partition_of",
           "read_range", "resume_offsets"]

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 1.0
TICK_MS = int(TICK_INTERVAL_S * 1000)  # event time between two ticks of a partition
# A worker killed without leaving the group (SIGKILL, power loss) is noticed after the
# session timeout; only then do its partitions move. faust's default (60 s) stalls those
# hosts for a minute; Kafka clients used 10 s for years. `[worker] session_timeout_s`
# overrides it where the configuration declares it.
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 2.0
TAKE_MAX = 500  # messages per processing batch (each waits at most [worker] batch_wait_ms)
COMMIT_INTERVAL_S = 1.0
# Header on processed records: the offset of the input message they came from.
SOURCE_HEADER = "rackwatch-source-offset"
RECONCILE_CHUNK = 500  # processed records read per step when scanning a partition's tail
# Records per partition that one produce request may carry (before compression). With
# idempotence, aiokafka has one request in flight per broker and puts one batch per
# partition in it; at its 16 KiB default a processed-metrics message (~40 KB) filled a
# batch on its own, so a take batch of 500 inputs cost hundreds of round trips.
OUTBOX_BATCH_BYTES = 512 * 1024
# How long an output may wait for the broker before the worker gives up and exits (its
# batch is then neither acked nor committed; the next owner takes over from there).
DELIVERY_TIMEOUT_MS = 300_000


def _wall_ms() -> int:
    return int(time.time() * 1000)


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2), as every producer applies it to keys."""
    h: int = murmur2(key)
    return (h & 0x7FFFFFFF) % partitions


def _miner_keys(partitions: int) -> dict[int, bytes]:
    """For each partition, a table key that hashes to it: template-miner state is kept
    per input partition, so it must live in that partition of the changelog."""
    keys: dict[int, bytes] = {}
    i = 0
    while len(keys) < partitions:
        key = f"miner-{i}".encode()
        keys.setdefault(partition_of(key, partitions), key)
        i += 1
    return keys


class Outbox:
    """Sends outputs and changelog records, and knows when they are all delivered.

    An idempotent producer of its own (faust's is not idempotent outside transactions,
    and its send buffer cannot be waited on reliably): a retried send is never written
    twice, and per partition the order of sends is the order of writes.
    """

    def __init__(self, bootstrap: str, client_id: str) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._pending: list[asyncio.Future[Any]] = []
        self._closed = False
        self.sent = 0

    @property
    def closed(self) -> bool:
        """Stopped for the worker's shutdown: batches still queued must not start."""
        return self._closed

    async def send(self, topic: str, key: bytes | None, value: bytes, *,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        if self._producer is None:
            if self._closed:
                raise RuntimeError("the worker is stopping: no more outputs")
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, client_id=self.client_id, acks="all",
                enable_idempotence=True, linger_ms=2, request_timeout_ms=DELIVERY_TIMEOUT_MS,
                compression_type=pick_compression(), max_batch_size=OUTBOX_BATCH_BYTES)
            await self._producer.start()
        fut = await self._producer.send(topic, value, key=key, partition=partition,
                                        headers=headers)
        self._pending.append(fut)
        self.sent += 1

    async def delivered(self) -> None:
        """Wait until everything sent so far is acknowledged by the broker (acks=all).

        A delivery that fails for good ends the process: its batch was not acked, so the
        partition's next owner processes it again, which is the only safe way on."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        results = await asyncio.gather(*pending, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                log.critical("an output could not be delivered (%r); exiting so that the "
                             "batch is processed again by the partition's next owner", r)
                logging.shutdown()
                os._exit(70)

    async def stop(self) -> None:
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


@dataclass(frozen=True, slots=True)
class Record:
    """One input message as processed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


async def resume_offsets(bootstrap: str, group: str, tps: set[tuple[str, int]]
                         ) -> dict[tuple[str, int], int]:
    """Where the group resumes each partition: its committed offset, else the earliest."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t, p in tps]
        begins = await consumer.beginning_offsets(parts)
        out = {}
        for tp in parts:
            c = await consumer.committed(tp)
            out[(tp.topic, tp.partition)] = begins[tp] if c is None else max(c, begins[tp])
        return out
    finally:
        await consumer.stop()


async def read_range(bootstrap: str, tp: tuple[str, int], start: int, end: int
                     ) -> list[Record]:
    """The messages at offsets [start, end) of one partition, read directly."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    part = TopicPartition(*tp)
    out: list[Record] = []
    try:
        consumer.assign([part])
        consumer.seek(part, start)
        idle = 0
        while await consumer.position(part) < end:
            got = await consumer.getmany(part, timeout_ms=1000)
            idle = 0 if got else idle + 1
            if idle > 30:
                raise RuntimeError(f"{tp[0]}:{tp[1]} unreadable from offset {start}")
            out.extend(Record(m.topic, m.partition, m.offset, m.key, m.value or b"")
                       for m in got.get(part, ()) if m.offset < end)
    finally:
        await consumer.stop()
    return out


async def landed_offsets(bootstrap: str, wanted: dict[tuple[str, int], int]
                         ) -> dict[tuple[str, int], set[int]]:
    """For each (output topic, partition) -> resume offset: the input offsets >= resume
    whose processed records already landed there (a worker processed them and died, or
    lost the partition, before committing).

    Records carry their input offset in a header and a partition's records are written
    in input order, so each tail is read backwards, chunk by chunk, until a record from
    before the resume offset (or one without the header) shows that the rest is older."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    found: dict[tuple[str, int], set[int]] = {}
    try:
        for (topic, partition), resume in wanted.items():
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            found[(topic, partition)] = await _scan_back(consumer, tp, resume)
    finally:
        await consumer.stop()
    return found


async def _scan_back(consumer: AIOKafkaConsumer, tp: TopicPartition, resume: int) -> set[int]:
    found: set[int] = set()
    begin = (await consumer.beginning_offsets([tp]))[tp]
    hi = (await consumer.end_offsets([tp]))[tp]
    while hi > begin:
        lo = max(begin, hi - RECONCILE_CHUNK)
        consumer.seek(tp, lo)
        older = False
        idle = 0
        while await consumer.position(tp) < hi:
            got = await consumer.getmany(tp, timeout_ms=1000)
            idle = 0 if got else idle + 1
            if idle > 30:
                raise RuntimeError(f"{tp.topic}:{tp.partition} unreadable from offset {lo}")
            for m in got.get(tp, ()):
                if m.offset >= hi:
                    break
                src = _source_offset(m.headers)
                if src is None or src < resume:
                    older = True
                else:
                    found.add(src)
        if older:
            break
        hi = lo
    return found


def _source_offset(headers: Iterable[tuple[str, bytes]] | None) -> int | None:
    for k, v in headers or ():
        if k == SOURCE_HEADER:
            try:
                return int(v)
            except ValueError:
                return None
    return None


def build_app(cfg: Config, rules: RuleSet, *, app_id: str | None = None,
              rules_path: str | None = None) -> faust.App:
    """A faust app wired to the configured topics. One per worker process."""
    prefix = cfg.kafka.topic_prefix
    partitions = cfg.kafka.partitions
    datadir = Path(tempfile.mkdtemp(prefix="rackwatch-worker-"))
    session_timeout = float(getattr(cfg.worker, "session_timeout_s", SESSION_TIMEOUT_S))
    app = faust.App(
        app_id or f"{prefix}worker",
        broker=[f"kafka://{b.strip()}" for b in cfg.bootstrap.split(",")],
        store="memory://",
        datadir=str(datadir),
        topic_partitions=partitions,
        topic_replication_factor=cfg.kafka.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        table_standby_replicas=cfg.worker.standby_replicas,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_interval=COMMIT_INTERVAL_S,
        # A rebalance lets the events a worker has taken be processed first.
        stream_wait_empty=True,
        table_cleanup_interval=60.0,
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=min(HEARTBEAT_INTERVAL_S, session_timeout / 3),
        # Names the process in the group's description (`kafka-consumer-groups --describe`
        # shows which worker holds which partitions).
        broker_client_id=f"rackwatch-worker-{socket.gethostname()}-{os.getpid()}",
    )

    def topic(name: str, *, acks: bool = True) -> Any:
        return app.topic(prefix + name, key_type=bytes, value_type=bytes, acks=acks,
                         partitions=partitions, key_serializer="raw", value_serializer="raw")

    # The offsets of these inputs are tracked and committed here, not by faust: its acks
    # treat a jump in fetched offsets as a compacted gap, and it acks the events a stream
    # skips around a rebalance; either can commit past a message never processed.
    metrics_topic = topic("metrics", acks=False)
    logs_topic = topic("logs", acks=False)
    ticks_topic = topic("ticks")
    rows_topic = topic("processed.metrics")
    log_rows_topic = topic("processed.logs")
    alerts_topic = topic("alerts")
    dead_topic = topic("deadletter")
    correlate_topic = topic("correlate", acks=False)
    incidents_topic = topic("incidents")

    def table(name: str) -> Any:
        # Keys and values are bytes; the app-wide "raw" serializers apply to the changelog.
        return app.Table(name, default=None, partitions=partitions, key_type=bytes,
                         value_type=bytes, use_partitioner=True)

    hosts = table("hosts")
    # Correlation state per scope key ("rack=r07", "job=llm-42"): the correlate topic is
    # keyed by it, so one worker sees a whole rack (or job) whatever hosts it spans.
    scopes = table("scopes")
    # Template-miner state per input partition, so templates move with the partition.
    miners = table("miners")
    miner_key = _miner_keys(partitions)

    take_within_s = max(0.001, cfg.worker.batch_wait_ms / 1000.0)
    smoothing = SmoothingParams(tau_ms=cfg.worker.ewma_tau_s * 1000.0,
                                wma_n=max(1, cfg.worker.wma_window))
    limits = Limits(max_future_skew_ms=int(cfg.worker.max_future_skew_s * 1000),
                    max_past_age_ms=int(cfg.worker.max_past_age_s * 1000))
    runtime = Runtime(rules, smoothing=smoothing, limits=limits, check_wall_clock=True)
    runtime.miner_state_of = lambda p: miners.get(miner_key[p])
    # One stream clock per input partition: a partition still catching up on a backlog
    # must not see its hosts as silent because another partition is further ahead. The
    # correlator's scopes (keyed by rack or job) get the clocks of their own partitions.
    clocks: dict[int, StreamClock] = {}
    scope_clocks: dict[int, StreamClock] = {}
    # The event time each partition's hosts (scopes) were last ticked at, in-stream or
    # by the timer: a tick is due when the partition's clock is TICK_MS past it.
    ticked: dict[int, int] = {}
    scopes_ticked: dict[int, int] = {}
    # Host keys per input partition owned in this generation (built from the table on
    # first use, then kept up to date), so a tick does not scan every host of the worker.
    part_hosts: dict[int, dict[bytes, None]] = {}
    app.rackwatch_runtime = runtime  # type: ignore[attr-defined]  # for inspection

    # Deserialised host states, so a host's state is parsed once, not once per message.
    # The table stays the source of truth: the cache is dropped on every rebalance.
    live: dict[bytes, HostState] = {}
    outbox = Outbox(cfg.bootstrap, f"rackwatch-worker-{socket.gethostname()}-{os.getpid()}")
    # One batch (or tick) at a time: its outputs, then its state, are delivered before
    # the next one starts, and a rebalance waits for it.
    busy = asyncio.Lock()
    output_of = {metrics_topic.get_topic_name(): rows_topic.get_topic_name(),
                 logs_topic.get_topic_name(): log_rows_topic.get_topic_name()}
    # Per input partition owned in this generation: the next offset to process (from the
    # group's committed offset on), what is committed, and the input offsets whose
    # processed records the previous owner already delivered.
    next_offset: dict[tuple[str, int], int] = {}
    committed: dict[tuple[str, int], int] = {}
    landed: dict[tuple[str, int], set[int]] = {}
    last_commit = [time.monotonic()]
    stats = {"resent_suppressed": 0, "stale_skipped": 0, "refetched": 0}
    app.rackwatch_stats = stats  # type: ignore[attr-defined]  # for inspection

    def forget_partitions() -> None:
        live.clear()
        part_hosts.clear()
        ticked.clear()
        scopes_ticked.clear()
        next_offset.clear()
        committed.clear()
        landed.clear()

    async def commit_processed() -> None:
        """Commit, for each input partition, the offset up to which every message was
        processed and is durable (they are processed in offset order, without gaps)."""
        due = {TP(t, p): o for (t, p), o in next_offset.items() if committed.get((t, p)) != o}
        last_commit[0] = time.monotonic()
        if not due:
            return
        try:
            # faust's own commit path for the group member (its public commit() commits
            # what faust acked, which is what these inputs must not rely on)
            consumer: Any = app.consumer
            ok = await asyncio.wait_for(consumer._commit(due), 30.0)
        except Exception as e:  # the next commit (or the next owner) makes up for it
            log.warning("committing %d offsets failed: %r", len(due), e)
            return
        if ok:
            for tp, o in due.items():
                committed[(tp.topic, tp.partition)] = o

    @app.on_partitions_revoked.connect
    async def _revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        async with busy:  # a batch in flight becomes durable before the partitions go
            await commit_processed()
            forget_partitions()

    @app.on_partitions_assigned.connect
    async def _assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        async with busy:
            forget_partitions()
            runtime.log_processors.clear()  # rebuilt from the recovered miner state

    @app.on_before_shutdown.connect
    async def _shutdown(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        async with busy:
            await commit_processed()
            await outbox.stop()

    @app.timer(interval=COMMIT_INTERVAL_S)
    async def _commit_timer() -> None:
        """Commits for a quiet worker (a busy one commits after its batches)."""
        if not busy.locked() and time.monotonic() - last_commit[0] >= COMMIT_INTERVAL_S:
            async with busy:
                if not outbox.closed:
                    await commit_processed()

    def state_of(host: str) -> HostState | None:
        key = host.encode()
        st = live.get(key)
        if st is None:
            raw = hosts.get(key)
            if raw is not None:
                st = live[key] = orjson.loads(raw)
        return st

    async def put_state(table: Any, key: bytes, value: bytes) -> None:
        """Write a table entry: locally, and to its changelog through the outbox (the
        changelog partition is the key's partition, as for the inputs)."""
        table.data[key] = value
        await outbox.send(table.changelog_topic.get_topic_name(), key, value,
                          partition=partition_of(key, partitions))

    async def emit(out: Outputs, offset: int | None = None, *, rows: bool = True) -> None:
        send = outbox.send
        for key, value in out.deadletters:
            await send(dead_topic.get_topic_name(), key, value)
        if out.host is not None and rows:
            hkey = out.host.encode()
            headers = None if offset is None else [(SOURCE_HEADER, str(offset).encode())]
            if out.metric_block is not None:
                await send(rows_topic.get_topic_name(), hkey, out.metric_block, headers=headers)
            if out.log_rows is not None:
                await send(log_rows_topic.get_topic_name(), hkey, out.log_rows,
                           headers=headers)
        for fp, alert in out.alerts:
            await send(alerts_topic.get_topic_name(), fp, alert)
        for key, value in out.correlate:
            await send(correlate_topic.get_topic_name(), key, value)

    async def take_over(tps: set[tuple[str, int]]) -> None:
        """Partitions seen for the first time in this generation: where to resume (the
        group's committed offset), and which of the input offsets from there on already
        have their processed records in the output topic."""
        starts = await resume_offsets(cfg.bootstrap, app.conf.id, tps)
        wanted = {(output_of[t], p): starts[(t, p)] for t, p in tps if t in output_of}
        found = await landed_offsets(cfg.bootstrap, wanted) if wanted else {}
        for t, p in tps:
            next_offset[(t, p)] = committed[(t, p)] = starts[(t, p)]
            offsets = found.get((output_of.get(t, ""), p))
            if offsets:
                landed[(t, p)] = offsets
                log.info("%s:%d: %d input message(s) from offset %d were processed but "
                         "not committed by the previous owner; their records are not sent "
                         "again", t, p, len(offsets), starts[(t, p)])

    async def admit(events: list[Any]) -> list[Record]:
        """The batch as records to process: in offset order per partition, each offset
        once, none missing. Events of partitions not owned in this generation are left
        to their owners; offsets the stream skipped are read from the topic directly."""
        actives = app.assignor.assigned_actives()
        generation = app.consumer_generation_id
        mine = [e for e in events
                if e.message.tp in actives and e.message.generation_id == generation]
        stats["stale_skipped"] += len(events) - len(mine)
        new = {(e.message.topic, e.message.partition) for e in mine} - next_offset.keys()
        if new:
            await take_over(new)
        out: list[Record] = []
        for e in mine:
            msg = e.message
            tp = (msg.topic, msg.partition)
            expected = next_offset[tp]
            if msg.offset < expected:
                continue  # delivered again after a seek: already processed
            if msg.offset > expected:
                missed = await read_range(cfg.bootstrap, tp, expected, msg.offset)
                stats["refetched"] += len(missed)
                log.warning("%s:%d: offsets %d-%d were not delivered to the stream; read "
                            "them from the topic", tp[0], tp[1], expected, msg.offset - 1)
                out.extend(missed)
            out.append(Record(msg.topic, msg.partition, msg.offset, e.key, e.value))
            next_offset[tp] = msg.offset + 1
        return out

    def tick_due(marks: dict[int, int], partition: int, now: int) -> bool:
        """Has the partition's event time moved a tick interval past its last tick?"""
        return now - marks.setdefault(partition, now) >= TICK_MS

    def hosts_in(partition: int) -> dict[bytes, None]:
        idx = part_hosts.get(partition)
        if idx is None:
            idx = part_hosts[partition] = dict.fromkeys(keys_in(hosts, partition))
        return idx

    async def tick_in_stream(partition: int, now: int, dirty: dict[bytes, HostState]) -> None:
        """The partition's hosts at event time `now`, between two of its messages. A
        host whose tick changed what matters (an alert, a window closed) is stored with
        the batch; other tick-only changes are stored by the next timer tick's diff."""
        ticked[partition] = now
        for key in list(hosts_in(partition)):
            host = key.decode()
            st = state_of(host)
            if st is None:
                continue
            closes = st.get("wc")
            out = runtime.on_tick(st, host, now)
            if out.alerts or st.get("wc") != closes:
                dirty[key] = st
            if out.alerts:
                out.host = None  # nothing but alerts and correlation events to send
                await emit(out)

    async def run_batch(events: list[Any], handle: Callable[..., Outputs], *,
                        ticks: bool = False) -> None:
        async with busy:
            if outbox.closed:
                return  # shutting down: left unacked for the partition's next owner
            records = await admit(events)
            dirty: dict[bytes, HostState] = {}
            wall = _wall_ms()
            for r in records:
                out = handle(r.value, state_of, wall_ms=wall, topic=r.topic,
                             partition=r.partition, offset=r.offset, key=r.key)
                clock = None
                if out.state is not None and out.host is not None:
                    key = out.host.encode()
                    live[key] = dirty[key] = out.state
                    hosts_in(r.partition)[key] = None
                    t = out.state.get("t")
                    if t is not None:
                        clock = clocks.setdefault(r.partition, StreamClock())
                        clock.observe(t, wall)
                seen = landed.get((r.topic, r.partition))
                resent = seen is not None and r.offset in seen
                if resent:
                    stats["resent_suppressed"] += 1
                await emit(out, r.offset, rows=not resent)
                if (ticks and clock is not None and clock.event_ms is not None
                        and tick_due(ticked, r.partition, clock.event_ms)):
                    await tick_in_stream(r.partition, clock.event_ms, dirty)
            await outbox.delivered()
            for key, st in dirty.items():
                await put_state(hosts, key, orjson.dumps(st))
            await outbox.delivered()
            if time.monotonic() - last_commit[0] >= COMMIT_INTERVAL_S:
                await commit_processed()

    @app.agent(metrics_topic)
    async def process_metrics(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, within=take_within_s):
            await run_batch(events, runtime.on_metrics, ticks=True)

    @app.agent(logs_topic)
    async def process_logs(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, within=take_within_s):
            await run_batch(events, runtime.on_log)

    @app.agent(correlate_topic)
    async def correlate(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, within=take_within_s):
            async with busy:
                if outbox.closed:
                    return  # shutting down: left unacked for the partition's next owner
                changed: dict[bytes, bytes] = {}
                for r in await admit(events):
                    key = r.key or b""
                    raw = changed.get(key) or scopes.get(key)
                    st = {} if raw is None else orjson.loads(raw)
                    ts = orjson.loads(r.value).get("ts")
                    for iid, msg in runtime.on_correlate(st, r.value):
                        await outbox.send(incidents_topic.get_topic_name(), iid, msg)
                    changed[key] = orjson.dumps(st)
                    if isinstance(ts, int):
                        clock = scope_clocks.setdefault(r.partition, StreamClock())
                        clock.observe(ts, _wall_ms())
                        now = clock.event_ms
                        assert now is not None
                        if tick_due(scopes_ticked, r.partition, now):
                            await tick_scopes(r.partition, now, changed)
                await outbox.delivered()
                for key, value in changed.items():
                    await put_state(scopes, key, value)
                await outbox.delivered()

    part_of: dict[bytes, int] = {}

    def keys_in(table: Any, partition: int) -> list[bytes]:
        out = []
        for k in list(table.keys()):
            p = part_of.get(k)
            if p is None:
                if len(part_of) > 1_000_000:
                    part_of.clear()
                p = part_of[k] = partition_of(k, partitions)
            if p == partition:
                out.append(k)
        return out

    @app.agent(ticks_topic)
    async def process_ticks(stream: Any) -> None:
        async for event in stream.events():
            async with busy:
                if outbox.closed:
                    return
                if event.message.tp in app.assignor.assigned_actives():
                    tick = orjson.loads(event.value)
                    await run_tick(event.message.partition, tick.get("now"),
                                   tick.get("scopes_now"))

    async def tick_scope(raw: bytes, now: int) -> bytes | None:
        """One correlation scope at event time `now`: its incidents sent, its new state
        returned when the tick changed it."""
        st = orjson.loads(raw)
        for iid, msg in runtime.on_correlate_tick(st, now):
            await outbox.send(incidents_topic.get_topic_name(), iid, msg)
        new = orjson.dumps(st)
        return new if new != raw else None

    async def tick_scopes(partition: int, now: int, changed: dict[bytes, bytes]) -> None:
        """The partition's correlation scopes at event time `now`, in-stream (those the
        batch created, not yet in the table, included)."""
        scopes_ticked[partition] = now
        keys = dict.fromkeys(keys_in(scopes, partition))
        keys.update((k, None) for k in changed if partition_of(k, partitions) == partition)
        for key in keys:
            raw = changed.get(key) or scopes.get(key)
            if raw is not None and (new := await tick_scope(raw, now)) is not None:
                changed[key] = new

    async def run_tick(partition: int, now_ms: int | None, scopes_now: int | None) -> None:
        changed: list[tuple[Any, bytes, bytes]] = []
        if now_ms is not None:
            ticked[partition] = max(ticked.get(partition, now_ms), now_ms)
        if scopes_now is not None:
            scopes_ticked[partition] = max(scopes_ticked.get(partition, scopes_now),
                                           scopes_now)
        for key in (list(hosts_in(partition)) if now_ms is not None else []):
            st = state_of(key.decode())
            if st is None or now_ms is None:
                continue
            before = hosts.get(key)
            out = runtime.on_tick(st, key.decode(), now_ms)
            new = orjson.dumps(st)
            if new != before:
                changed.append((hosts, key, new))
            out.host = None  # nothing but alerts and correlation events to send
            await emit(out)
        lp = runtime.log_processors.get(partition)
        if lp is not None and lp.dirty:
            changed.append((miners, miner_key[partition], lp.snapshot()))
        for key in (keys_in(scopes, partition) if scopes_now is not None else []):
            raw = scopes.get(key)
            if raw is None or scopes_now is None:
                continue
            if (updated := await tick_scope(raw, scopes_now)) is not None:
                changed.append((scopes, key, updated))
        await outbox.delivered()
        for table, key, value in changed:
            await put_state(table, key, value)
        await outbox.delivered()

    def lagging(tp: Any) -> bool:
        """Are there messages in `tp` this worker has not processed yet?"""
        try:
            high = app.consumer.highwater(tp)
        except Exception:  # not fetched yet, or no consumer: cannot tell
            return False
        nxt = next_offset.get((tp.topic, tp.partition))
        return high is not None and nxt is not None and nxt < high

    @app.timer(interval=TICK_INTERVAL_S)
    async def send_ticks() -> None:
        wall = _wall_ms()
        name = metrics_topic.get_topic_name()
        for tp in app.assignor.assigned_actives():
            if tp.topic != name:
                continue
            hc, sc = clocks.get(tp.partition), scope_clocks.get(tp.partition)
            # A partition still working through a backlog has no "now" beyond its newest
            # event (extrapolating by wall time would make its hosts look silent): it is
            # ticked in-stream as its messages are read, and its timer tick only stores
            # what changed meanwhile (e.g. the template miner).
            now = hc.now(wall) if hc is not None and not lagging(tp) else None
            ctp = TP(correlate_topic.get_topic_name(), tp.partition)
            scopes_now = sc.now(wall) if sc is not None and not lagging(ctp) else None
            if hc is None and sc is None:
                continue
            value = orjson.dumps({"now": now, "scopes_now": scopes_now})
            await ticks_topic.send(key=b"tick", value=value, partition=tp.partition)

    if rules_path:
        import signal

        from streams.rules import RulesWatcher

        watcher = RulesWatcher(rules_path)
        hup: dict[str, Any] = {"requested": False, "logged": None}

        def on_hup(signum: int, frame: Any) -> None:
            hup["requested"] = True

        signal.signal(signal.SIGHUP, on_hup)

        @app.timer(interval=1.0)
        async def reload_rules() -> None:
            """Rules change on SIGHUP or when the file changes; alert state is kept."""
            new = watcher.reload() if hup["requested"] else watcher.poll()
            hup["requested"] = False
            if new is not None:
                runtime.replace_rules(new)
                log.warning("rules reloaded from %s", rules_path)
            elif watcher.last_error is not None and hup.get("logged") is not watcher.last_error:
                hup["logged"] = watcher.last_error  # say it once per bad version
                log.error("rules file %s is invalid, keeping the old rules: %s", rules_path,
                          watcher.last_error)

    return app
