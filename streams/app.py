"""The faust worker: agents on the metrics and logs topics, state in changelogged tables.

Per-host state (dedup, smoothing, rule and alert state) lives in the `hosts` table,
keyed by host like the input topics, so it sits on the worker that owns the host's
partition and moves with it on a rebalance (recovered from the changelog topic).
The tables partition their changelog by key hash, the same murmur2 partitioning every
Kafka producer applies to the host-keyed inputs, so a host's state always lands in the
changelog partition of its input partition.

Exactly once in effect, without Kafka transactions. Messages are processed in small
batches (`take_events`), one batch at a time per worker, and a batch is acknowledged
(so its offsets may be committed) only once it is durable, in this order:

1. its outputs are delivered (an idempotent producer; every delivery awaited);
2. then the host states it changed are delivered to the changelog;
3. then its events are acked.

So a state in the changelog implies its outputs landed, and a committed offset implies
both. A worker that dies anywhere in between leaves a batch whose events the next owner
reads again: where the state landed, the dedup step drops them; where only the outputs
landed, the next owner knows it because every processed record carries the input offset
it came from (header `rackwatch-source-offset`). Before it processes a partition it has
just been given, it reads the tail of that partition of `processed.metrics` /
`processed.logs` (co-partitioned with the inputs) back to its resume offset, and for the
input offsets found there it rebuilds the state but does not send the records again.
Alerts, correlation events and dead letters of such a batch are sent again, identical
(an alert re-send is part of the alert contract).

faust's own `send_soon` is not used for any of this: its buffer's flush gives up after
100 ms, so a stop or a commit could overtake messages still queued there.

Time-driven work (a host that went silent, `for` timers, re-sends) must happen even
when no event arrives, which faust's stream-driven model does not give for free. Each
worker's timer therefore publishes a small tick to every partition it owns on the
`ticks` topic, co-partitioned with the inputs; the ticks agent then runs the tick for
the hosts of that partition, ordered with the partition's other work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import murmur2
from aiokafka.structs import TopicPartition

from rackwatch.config import Config
from streams.core.decode import Limits
from streams.core.metrics import HostState
from streams.core.smoothing import SmoothingParams
from streams.rules import RuleSet
from streams.runtime import Outputs, Runtime, StreamClock

__all__ = ["SOURCE_HEADER", "Outbox", "build_app", "landed_offsets", "partition_of"]

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 1.0
# A worker killed without leaving the group (SIGKILL, power loss) is noticed after the
# session timeout; only then do its partitions move. faust's default (60 s) stalls those
# hosts for a minute; Kafka clients used 10 s for years. `[worker] session_timeout_s`
# overrides it where the configuration declares it.
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 2.0
TAKE_MAX = 500  # messages per processing batch
TAKE_WITHIN_S = 0.05  # longest a message waits for its batch to fill
# Header on processed records: the offset of the input message they came from.
SOURCE_HEADER = "rackwatch-source-offset"
RECONCILE_CHUNK = 500  # processed records read per step when scanning a partition's tail
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

    async def send(self, topic: str, key: bytes | None, value: bytes, *,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        if self._producer is None:
            if self._closed:
                raise RuntimeError("the worker is stopping: no more outputs")
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, client_id=self.client_id, acks="all",
                enable_idempotence=True, linger_ms=2, request_timeout_ms=DELIVERY_TIMEOUT_MS)
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


async def landed_offsets(bootstrap: str, topic: str, partition: int, resume: int) -> set[int]:
    """Input offsets >= `resume` whose processed records already landed on this partition
    of `topic` (a worker processed them and died before committing).

    Records carry their input offset in a header and a partition's records are written
    in input order, so the tail is read backwards, chunk by chunk, until a record from
    before `resume` (or one without the header) shows that the rest is older."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    tp = TopicPartition(topic, partition)
    found: set[int] = set()
    try:
        consumer.assign([tp])
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
                    raise RuntimeError(f"{topic}:{partition} unreadable from offset {lo}")
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
    finally:
        await consumer.stop()
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
        broker_commit_interval=1.0,
        # A rebalance waits until the events a worker has taken are processed (and
        # committed), so no batch of a revoked partition is left to run afterwards.
        stream_wait_empty=True,
        table_cleanup_interval=60.0,
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=min(HEARTBEAT_INTERVAL_S, session_timeout / 3),
        # Names the process in the group's description (`kafka-consumer-groups --describe`
        # shows which worker holds which partitions).
        broker_client_id=f"rackwatch-worker-{socket.gethostname()}-{os.getpid()}",
    )

    def topic(name: str) -> Any:
        return app.topic(prefix + name, key_type=bytes, value_type=bytes,
                         partitions=partitions, key_serializer="raw", value_serializer="raw")

    metrics_topic = topic("metrics")
    logs_topic = topic("logs")
    ticks_topic = topic("ticks")
    rows_topic = topic("processed.metrics")
    log_rows_topic = topic("processed.logs")
    alerts_topic = topic("alerts")
    dead_topic = topic("deadletter")
    correlate_topic = topic("correlate")
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

    smoothing = SmoothingParams(tau_ms=cfg.worker.ewma_tau_s * 1000.0,
                                wma_n=max(1, cfg.worker.wma_window))
    limits = Limits(max_future_skew_ms=int(cfg.worker.max_future_skew_s * 1000),
                    max_past_age_ms=int(cfg.worker.max_past_age_s * 1000))
    runtime = Runtime(rules, smoothing=smoothing, limits=limits, check_wall_clock=True)
    runtime.miner_state_of = lambda p: miners.get(miner_key[p])
    clock = StreamClock()
    app.rackwatch_runtime = runtime  # type: ignore[attr-defined]  # for inspection

    # Deserialised host states, so a host's state is parsed once, not once per message.
    # The table stays the source of truth: the cache is dropped on every rebalance.
    live: dict[bytes, HostState] = {}
    outbox = Outbox(cfg.bootstrap, f"rackwatch-worker-{socket.gethostname()}-{os.getpid()}")
    # One batch (or tick, or correlation event) at a time: its outputs, then its state,
    # are delivered before the next one starts, and a rebalance waits for it.
    busy = asyncio.Lock()
    output_of = {metrics_topic.get_topic_name(): rows_topic.get_topic_name(),
                 logs_topic.get_topic_name(): log_rows_topic.get_topic_name()}
    # Per input partition given to this worker: checked for records that landed before
    # their batch was committed (None once checked), and the input offsets found.
    checked: set[tuple[str, int]] = set()
    landed: dict[tuple[str, int], set[int]] = {}
    stats = {"resent_suppressed": 0, "stale_skipped": 0}
    app.rackwatch_stats = stats  # type: ignore[attr-defined]  # for inspection

    def forget_partitions() -> None:
        live.clear()
        checked.clear()
        landed.clear()

    @app.on_partitions_revoked.connect
    async def _revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        async with busy:  # a batch in flight becomes durable before the partitions go
            forget_partitions()

    @app.on_partitions_assigned.connect
    async def _assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        async with busy:
            forget_partitions()
            runtime.log_processors.clear()  # rebuilt from the recovered miner state

    @app.on_before_shutdown.connect
    async def _shutdown(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        async with busy:
            await outbox.stop()

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
            if out.metric_rows is not None:
                await send(rows_topic.get_topic_name(), hkey, out.metric_rows, headers=headers)
            if out.log_rows is not None:
                await send(log_rows_topic.get_topic_name(), hkey, out.log_rows,
                           headers=headers)
        for fp, alert in out.alerts:
            await send(alerts_topic.get_topic_name(), fp, alert)
        for key, value in out.correlate:
            await send(correlate_topic.get_topic_name(), key, value)

    async def check_landed(events: list[Any]) -> None:
        """For partitions this worker has just been given: which input offsets already
        have their processed records in the output topic."""
        resume: dict[tuple[str, int], int] = {}
        for event in events:
            msg = event.message
            tp = (msg.topic, msg.partition)
            if tp not in checked:
                resume[tp] = min(resume.get(tp, msg.offset), msg.offset)
        for (topic, partition), first in resume.items():
            found = await landed_offsets(cfg.bootstrap, output_of[topic], partition, first)
            checked.add((topic, partition))
            if found:
                landed[(topic, partition)] = found
                log.info("%s:%d: %d input message(s) from offset %d were processed but "
                         "not committed by the previous owner; their records are not sent "
                         "again", topic, partition, len(found), first)

    def current(events: list[Any]) -> list[Any]:
        """The events of partitions this worker still owns in this generation. Others
        are left unacked (never committed here): their partitions' owners read them."""
        actives = app.assignor.assigned_actives()
        generation = app.consumer_generation_id
        keep = [e for e in events
                if e.message.tp in actives and e.message.generation_id == generation]
        if len(keep) != len(events):
            stats["stale_skipped"] += len(events) - len(keep)
        return keep

    async def run_batch(events: list[Any], handle: Callable[..., Outputs]) -> None:
        # Held by this function until the batch is durable: the ack that `take_events`
        # gives in its `finally` (also when this task is cancelled) cannot then release
        # an offset whose batch was not delivered.
        for event in events:
            event.message.incref()
        async with busy:
            todo = current(events)
            await check_landed(todo)
            dirty: dict[bytes, HostState] = {}
            wall = _wall_ms()
            for event in todo:
                msg = event.message
                out = handle(event.value, state_of, wall_ms=wall, topic=msg.topic,
                             partition=msg.partition, offset=msg.offset, key=event.key)
                if out.state is not None and out.host is not None:
                    key = out.host.encode()
                    live[key] = dirty[key] = out.state
                    t = out.state.get("t")
                    if t is not None:
                        clock.observe(t, wall)
                seen = landed.get((msg.topic, msg.partition))
                resent = seen is not None and msg.offset in seen
                if resent:
                    stats["resent_suppressed"] += 1
                await emit(out, msg.offset, rows=not resent)
            await outbox.delivered()
            for key, st in dirty.items():
                await put_state(hosts, key, orjson.dumps(st))
            await outbox.delivered()
            for event in todo:
                event.message.decref()

    @app.agent(metrics_topic)
    async def process_metrics(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, within=TAKE_WITHIN_S):
            await run_batch(events, runtime.on_metrics)

    @app.agent(logs_topic)
    async def process_logs(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, within=TAKE_WITHIN_S):
            await run_batch(events, runtime.on_log)

    @app.agent(correlate_topic)
    async def correlate(stream: Any) -> None:
        async for event in stream.events():
            event.message.incref()
            async with busy:
                if current([event]):
                    key = event.key
                    raw = scopes.get(key)
                    st = {} if raw is None else orjson.loads(raw)
                    incidents = runtime.on_correlate(st, event.value)
                    for iid, msg in incidents:
                        await outbox.send(incidents_topic.get_topic_name(), iid, msg)
                    await outbox.delivered()
                    await put_state(scopes, key, orjson.dumps(st))
                    await outbox.delivered()
                    event.message.decref()

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
                if current([event]):
                    await run_tick(event.message.partition, orjson.loads(event.value)["now"])

    async def run_tick(partition: int, now_ms: int) -> None:
        changed: list[tuple[Any, bytes, bytes]] = []
        for key in keys_in(hosts, partition):
            st = state_of(key.decode())
            if st is None:
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
        for key in keys_in(scopes, partition):
            raw = scopes.get(key)
            if raw is None:
                continue
            st = orjson.loads(raw)
            incidents = runtime.on_correlate_tick(st, now_ms)
            new = orjson.dumps(st)
            if new != raw:
                changed.append((scopes, key, new))
            for iid, msg in incidents:
                await outbox.send(incidents_topic.get_topic_name(), iid, msg)
        await outbox.delivered()
        for table, key, value in changed:
            await put_state(table, key, value)
        await outbox.delivered()

    @app.timer(interval=TICK_INTERVAL_S)
    async def send_ticks() -> None:
        now = clock.now(_wall_ms())
        if now is None:
            return
        value = orjson.dumps({"now": now})
        name = metrics_topic.get_topic_name()
        for tp in app.assignor.assigned_actives():
            if tp.topic == name:
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
