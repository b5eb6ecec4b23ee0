"""The faust worker: agents on the metrics and logs topics, state in changelogged tables.

Per-host state (dedup, smoothing, rule and alert state) lives in the `hosts` table,
keyed by host like the input topics, so it sits on the worker that owns the host's
partition and moves with it on a rebalance (recovered from the changelog topic).

Time-driven work (a host that went silent, `for` timers, re-sends) must happen even
when no event arrives, which faust's stream-driven model does not give for free. Each
worker's timer therefore publishes a small tick to every partition it owns on the
`ticks` topic, co-partitioned with the inputs; the ticks agent then runs the tick for
the hosts of that partition inside a stream, so table writes go to the changelog like
any other and the tick is ordered with the partition's events.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import faust
import orjson

from rackwatch.config import Config
from streams.core.decode import Limits
from streams.core.metrics import HostState
from streams.core.smoothing import SmoothingParams
from streams.rules import RuleSet
from streams.runtime import Runtime, StreamClock

__all__ = ["build_app"]

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 1.0


def _wall_ms() -> int:
    return int(time.time() * 1000)


def build_app(cfg: Config, rules: RuleSet, *, app_id: str | None = None,
              rules_path: str | None = None) -> faust.App:
    """A faust app wired to the configured topics. One per worker process."""
    prefix = cfg.kafka.topic_prefix
    partitions = cfg.kafka.partitions
    datadir = Path(tempfile.mkdtemp(prefix="rackwatch-worker-"))
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

    # Keys and values are bytes; the app-wide "raw" serializers apply to the changelog.
    hosts = app.Table("hosts", default=None, partitions=partitions, key_type=bytes,
                      value_type=bytes)

    smoothing = SmoothingParams(tau_ms=cfg.worker.ewma_tau_s * 1000.0,
                                wma_n=max(1, cfg.worker.wma_window))
    limits = Limits(max_future_skew_ms=int(cfg.worker.max_future_skew_s * 1000),
                    max_past_age_ms=int(cfg.worker.max_past_age_s * 1000))
    # Correlation state per scope key ("rack=r07", "job=llm-42"): the correlate topic is
    # keyed by it, so one worker sees a whole rack (or job) whatever hosts it spans.
    scopes = app.Table("scopes", default=None, partitions=partitions, key_type=bytes,
                       value_type=bytes)
    scope_partition: dict[bytes, int] = {}
    # Template-miner state per input partition, so templates move with the partition.
    miners = app.Table("miners", default=None, partitions=partitions, key_type=bytes,
                       value_type=bytes)

    runtime = Runtime(rules, smoothing=smoothing, limits=limits, check_wall_clock=True)
    runtime.miner_state_of = lambda p: miners.get(f"p{p}".encode())
    clock = StreamClock()
    key_partition: dict[bytes, int] = {}
    app.rackwatch_runtime = runtime  # type: ignore[attr-defined]  # for inspection

    def state_of(host: str) -> HostState | None:
        raw = hosts.get(host.encode())
        return None if raw is None else orjson.loads(raw)

    async def publish(out: Any, partition: int) -> None:
        if out.state is not None and out.host is not None:
            key = out.host.encode()
            hosts[key] = orjson.dumps(out.state)
            key_partition[key] = partition
        for key, value in out.deadletters:
            await dead_topic.send(key=key, value=value)
        if out.metric_rows is not None:
            await rows_topic.send(key=out.host.encode(), value=out.metric_rows)
        if out.log_rows is not None:
            await log_rows_topic.send(key=out.host.encode(), value=out.log_rows)
        for fp, alert in out.alerts:
            await alerts_topic.send(key=fp, value=alert)
        for key, value in out.correlate:
            await correlate_topic.send(key=key, value=value)

    @app.agent(metrics_topic)
    async def process_metrics(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            wall = _wall_ms()
            out = runtime.on_metrics(event.value, state_of, wall_ms=wall, topic=msg.topic,
                                     partition=msg.partition, offset=msg.offset, key=event.key)
            if out.state is not None:
                clock.observe(out.state.get("t") or 0, wall)
            await publish(out, msg.partition)

    @app.agent(logs_topic)
    async def process_logs(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            out = runtime.on_log(event.value, state_of, wall_ms=_wall_ms(),
                                 partition=msg.partition, topic=msg.topic, offset=msg.offset,
                                 key=event.key)
            await publish(out, msg.partition)

    @app.agent(correlate_topic)
    async def correlate(stream: Any) -> None:
        async for event in stream.events():
            key = event.key
            raw = scopes.get(key)
            st = {} if raw is None else orjson.loads(raw)
            incidents = runtime.on_correlate(st, event.value)
            scopes[key] = orjson.dumps(st)
            scope_partition[key] = event.message.partition
            for iid, msg in incidents:
                await incidents_topic.send(key=iid, value=msg)

    def keys_of(table: Any, known: dict[bytes, int], partition: int) -> list[bytes]:
        store_parts = getattr(table.data, "_key_partition", {})
        return [k for k in list(table.keys()) if known.get(k, store_parts.get(k)) == partition]

    @app.agent(ticks_topic)
    async def process_ticks(stream: Any) -> None:
        async for event in stream.events():
            partition = event.message.partition
            now_ms = orjson.loads(event.value)["now"]
            for key in keys_of(hosts, key_partition, partition):
                raw = hosts.get(key)
                if raw is None:
                    continue
                st = orjson.loads(raw)
                out = runtime.on_tick(st, key.decode(), now_ms)
                new = orjson.dumps(st)
                if new != raw:
                    hosts[key] = new
                out.host = None  # the state is written above
                await publish(out, partition)
            lp = runtime.log_processors.get(partition)
            if lp is not None and lp.dirty:
                miners[f"p{partition}".encode()] = lp.snapshot()
            for key in keys_of(scopes, scope_partition, partition):
                raw = scopes.get(key)
                if raw is None:
                    continue
                st = orjson.loads(raw)
                incidents = runtime.on_correlate_tick(st, now_ms)
                new = orjson.dumps(st)
                if new != raw:
                    scopes[key] = new
                for iid, msg in incidents:
                    await incidents_topic.send(key=iid, value=msg)

    @app.timer(interval=TICK_INTERVAL_S)
    async def send_ticks() -> None:
        now = clock.now(_wall_ms())
        if now is None:
            return
        value = orjson.dumps({"now": now})
        for tp in app.assignor.assigned_actives():
            if tp.topic == metrics_topic.get_topic_name():
                await ticks_topic.send(key=b"tick", value=value, partition=tp.partition)

    if rules_path:
        from streams.rules import RulesWatcher

        watcher = RulesWatcher(rules_path)

        @app.timer(interval=2.0)
        async def reload_rules() -> None:
            new = watcher.poll()
            if new is not None:
                runtime.replace_rules(new)
                log.info("rules reloaded from %s", rules_path)

    return app
