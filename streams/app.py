"""The faust worker: agents on the metrics and logs topics, state in changelogged tables.

Per-host state (dedup, smoothing, rule and alert state) lives in the `hosts` table,
keyed by host like the input topics, so it sits on the worker that owns the host's
partition and moves with it on a rebalance (recovered from the changelog topic).
The tables partition their changelog by key hash (`use_partitioner`), the same murmur2
partitioning every Kafka producer applies to the host-keyed inputs, so a host's state
always lands in the changelog partition of its input partition.

Messages are processed in small batches (`take_events`): the host states a batch
touched are written to the changelog once per batch, and the batch's offsets are acked
only after that, so a crash replays at most the uncommitted batch, whose re-sent
records the dedup step then drops. Output messages are queued with `send_soon`; faust
flushes the producer before it commits offsets, which keeps delivery at-least-once.

Time-driven work (a host that went silent, `for` timers, re-sends) must happen even
when no event arrives, which faust's stream-driven model does not give for free. Each
worker's timer therefore publishes a small tick to every partition it owns on the
`ticks` topic, co-partitioned with the inputs; the ticks agent then runs the tick for
the hosts of that partition, ordered with the partition's other work.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import faust
import orjson
from aiokafka.partitioner import murmur2

from rackwatch.config import Config
from streams.core.decode import Limits
from streams.core.metrics import HostState
from streams.core.smoothing import SmoothingParams
from streams.rules import RuleSet
from streams.runtime import Outputs, Runtime, StreamClock

__all__ = ["build_app", "partition_of"]

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
        stream_wait_empty=False,
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

    @app.on_partitions_revoked.connect
    def _revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        live.clear()

    @app.on_partitions_assigned.connect
    def _assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        live.clear()
        runtime.log_processors.clear()  # rebuilt from the recovered miner state

    def state_of(host: str) -> HostState | None:
        key = host.encode()
        st = live.get(key)
        if st is None:
            raw = hosts.get(key)
            if raw is not None:
                st = live[key] = orjson.loads(raw)
        return st

    def emit(out: Outputs) -> None:
        for key, value in out.deadletters:
            dead_topic.send_soon(key=key, value=value)
        if out.host is not None:
            hkey = out.host.encode()
            if out.metric_rows is not None:
                rows_topic.send_soon(key=hkey, value=out.metric_rows)
            if out.log_rows is not None:
                log_rows_topic.send_soon(key=hkey, value=out.log_rows)
        for fp, alert in out.alerts:
            alerts_topic.send_soon(key=fp, value=alert)
        for key, value in out.correlate:
            correlate_topic.send_soon(key=key, value=value)

    def run_batch(events: Any, handle: Any) -> None:
        dirty: dict[bytes, HostState] = {}
        wall = _wall_ms()
        for event in events:
            msg = event.message
            out = handle(event.value, state_of, wall_ms=wall, topic=msg.topic,
                         partition=msg.partition, offset=msg.offset, key=event.key)
            if out.state is not None and out.host is not None:
                key = out.host.encode()
                live[key] = dirty[key] = out.state
                t = out.state.get("t")
                if t is not None:
                    clock.observe(t, wall)
            emit(out)
        for key, st in dirty.items():
            hosts[key] = orjson.dumps(st)

    @app.agent(metrics_topic)
    async def process_metrics(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, within=TAKE_WITHIN_S):
            run_batch(events, runtime.on_metrics)

    @app.agent(logs_topic)
    async def process_logs(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, within=TAKE_WITHIN_S):
            run_batch(events, runtime.on_log)

    @app.agent(correlate_topic)
    async def correlate(stream: Any) -> None:
        async for event in stream.events():
            key = event.key
            raw = scopes.get(key)
            st = {} if raw is None else orjson.loads(raw)
            incidents = runtime.on_correlate(st, event.value)
            scopes[key] = orjson.dumps(st)
            for iid, msg in incidents:
                incidents_topic.send_soon(key=iid, value=msg)

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
            partition = event.message.partition
            now_ms = orjson.loads(event.value)["now"]
            for key in keys_in(hosts, partition):
                st = state_of(key.decode())
                if st is None:
                    continue
                before = hosts.get(key)
                out = runtime.on_tick(st, key.decode(), now_ms)
                new = orjson.dumps(st)
                if new != before:
                    hosts[key] = new
                out.host = None  # nothing but alerts and correlation events to send
                emit(out)
            lp = runtime.log_processors.get(partition)
            if lp is not None and lp.dirty:
                miners[miner_key[partition]] = lp.snapshot()
            for key in keys_in(scopes, partition):
                raw = scopes.get(key)
                if raw is None:
                    continue
                st = orjson.loads(raw)
                incidents = runtime.on_correlate_tick(st, now_ms)
                new = orjson.dumps(st)
                if new != raw:
                    scopes[key] = new
                for iid, msg in incidents:
                    incidents_topic.send_soon(key=iid, value=msg)

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
