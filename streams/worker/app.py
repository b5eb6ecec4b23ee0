"""The faust worker: topics, tables, agents and timers, wired to `Processing`.

Per-host state (dedup, smoothing, rule and alert state) lives in the `hosts` table,
keyed by host like the input topics, so it sits on the worker that owns the host's
partition and moves with it on a rebalance (recovered from the changelog topic). The
tables partition their changelog by key hash, the same murmur2 partitioning every
Kafka producer applies to the host-keyed inputs, so a host's state always lands in the
changelog partition of its input partition.

What happens to a batch, and in which order it becomes durable, is
streams.worker.processing; which offsets are processed and committed is
streams.worker.partitions; when partitions are ticked is streams.worker.ticks. This
module only connects them to faust: the input topics' offsets are tracked and
committed by the worker, not by faust's acks (`acks=False`: faust's acks treat a jump
in fetched offsets as a compacted gap and ack what a stream skips around a rebalance,
either of which can commit past a message never processed).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from faust.types import TP
from prometheus_client import CollectorRegistry

from common.config import Config
from common.kafka import KafkaClient, kafka_client
from common.selfmetrics import serve
from streams.core.decode import Limits
from streams.core.smoothing import SmoothingParams
from streams.handling import routing_of
from streams.incidents.config import from_section
from streams.rules import RuleSet
from streams.runtime import Runtime
from streams.worker.faustcompat import commit_offsets
from streams.worker.offsets import EndOffsets
from streams.worker.outbox import Outbox
from streams.worker.partitions import PartitionBook, TPKey
from streams.worker.processing import COMMIT_INTERVAL_S, Processing, Topics
from streams.worker.reload import RulesReloader
from streams.worker.stats import StatsLine, WorkerCollector, WorkerStats
from streams.worker.tables import StateTables

__all__ = ["TAKE_MAX", "build_app"]

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 1.0
TAKE_MAX = 500  # messages per processing batch (each waits at most [worker] batch_wait_ms)
# A worker killed without leaving the group (SIGKILL, power loss) is noticed after the
# session timeout; only then do its partitions move. faust's default (60 s) stalls those
# hosts for a minute; Kafka clients used 10 s for years.
HEARTBEAT_INTERVAL_S = 2.0
WATCH_INTERVAL_S = 5.0  # how often the watchdog looks at partition ends (at most)
EXIT_STALLED = 75  # exit status when a stalled partition could not be cured (EX_TEMPFAIL)
READY_LAG = 10_000  # /readyz: ready while fewer input messages than this are unprocessed


class FaustGroup:
    """`processing.Group` over the faust app: the consumer group member."""

    def __init__(self, app: faust.App, inputs: set[str]) -> None:
        self.app, self.inputs = app, inputs

    def owned(self) -> set[TPKey]:
        return {(tp.topic, tp.partition) for tp in self.app.assignor.assigned_actives()
                if tp.topic in self.inputs}

    def highwater(self, tp: TPKey) -> int | None:
        try:
            high = self.app.consumer.highwater(TP(*tp))
        except Exception:  # not fetched yet, or no consumer: cannot tell
            return None
        return None if high is None else int(high)

    def settling(self) -> bool:
        return bool(self.app.rebalancing or getattr(self.app, "in_recovery", False))

    async def seek(self, tp: TPKey, offset: int) -> None:
        await self.app.consumer.seek(TP(*tp), offset)

    async def commit(self, offsets: dict[TPKey, int]) -> bool:
        return await commit_offsets(self.app, offsets)


def faust_credentials(kafka: KafkaClient) -> Any:
    """faust's `broker_credentials` for the cluster (None: plaintext). faust hands them to
    every client it makes itself: its consumer, its producer and its topic creation."""
    if kafka.sasl:
        return faust.SASLCredentials(username=kafka.sasl_username, password=kafka.sasl_password,
                                     ssl_context=kafka.ssl_context(),
                                     mechanism=kafka.sasl_mechanism)
    ctx = kafka.ssl_context()
    return faust.SSLCredentials(ctx) if ctx is not None else None


def _faust_app(cfg: Config, app_id: str, kafka: KafkaClient) -> faust.App:
    session_timeout = cfg.worker.session_timeout_s
    return faust.App(
        app_id, broker=[f"kafka://{b.strip()}" for b in cfg.bootstrap.split(",")],
        broker_credentials=faust_credentials(kafka),
        store="memory://", datadir=tempfile.mkdtemp(prefix="rackwatch-worker-"),
        topic_partitions=cfg.kafka.partitions,
        topic_replication_factor=cfg.kafka.replication_factor,
        key_serializer="raw", value_serializer="raw", web_enabled=False,
        table_standby_replicas=cfg.worker.standby_replicas,
        consumer_auto_offset_reset="earliest", producer_acks=-1,
        broker_commit_interval=COMMIT_INTERVAL_S,
        stream_wait_empty=True,  # a rebalance lets the events a worker has taken finish
        table_cleanup_interval=60.0, broker_session_timeout=session_timeout,
        broker_heartbeat_interval=min(HEARTBEAT_INTERVAL_S, session_timeout / 3),
        # Names the process in the group's description (which worker holds what).
        broker_client_id=f"rackwatch-worker-{socket.gethostname()}-{os.getpid()}")


@dataclass
class _Wiring:
    """What the faust handlers of one worker share."""

    app: faust.App
    cfg: Config
    work: Processing
    runtime: Runtime
    outbox: Outbox
    group: FaustGroup
    stats: WorkerStats
    names: Topics
    topics: dict[str, Any]
    kafka: KafkaClient


def build_app(cfg: Config, rules: RuleSet, *, app_id: str | None = None,
              rules_path: str | None = None) -> faust.App:
    """A faust app wired to the configured topics. One per worker process."""
    w = _wire(cfg, rules, app_id)
    _on_rebalance(w)
    _agents(w)
    _timers(w)
    _actions(w)
    _endpoint(w)
    if rules_path:
        reloader = RulesReloader(rules_path, w.runtime)

        @w.app.timer(interval=1.0)
        async def reload_rules() -> None:
            reloader.check()

    return w.app


def _wire(cfg: Config, rules: RuleSet, app_id: str | None) -> _Wiring:
    """The app, its topics and tables, and the processing that runs on them."""
    prefix, partitions = cfg.kafka.topic_prefix, cfg.kafka.partitions
    kafka = kafka_client(cfg)
    app = _faust_app(cfg, app_id or f"{prefix}worker", kafka)

    def topic(name: str, *, acks: bool = True) -> Any:
        return app.topic(prefix + name, key_type=bytes, value_type=bytes, acks=acks,
                         partitions=partitions, key_serializer="raw", value_serializer="raw")

    def table(name: str) -> Any:
        return app.Table(name, default=None, partitions=partitions, key_type=bytes,
                         value_type=bytes, use_partitioner=True)

    # Inputs are not acked through faust (see the module docstring); outputs are declared
    # so that faust creates them like the others.
    topics = {name: topic(name, acks=name not in ("metrics", "logs", "correlate"))
              for name in ("metrics", "logs", "correlate", "ticks", "processed.metrics",
                           "processed.logs", "alerts", "incidents", "deadletter", "actions")}
    names = Topics(metrics=prefix + "metrics", logs=prefix + "logs",
                   correlate=prefix + "correlate", rows=prefix + "processed.metrics",
                   log_rows=prefix + "processed.logs", alerts=prefix + "alerts",
                   incidents=prefix + "incidents", deadletter=prefix + "deadletter",
                   actions=prefix + "actions")
    # hosts: per-host state; scopes: correlation state per scope key ("rack=r07"; the
    # correlate topic is keyed by it); miners: template-miner state per input partition.
    outbox = Outbox(kafka, f"rackwatch-worker-{socket.gethostname()}-{os.getpid()}")
    tables = StateTables(table("hosts"), table("scopes"), table("miners"), outbox, partitions)
    runtime = Runtime(rules, smoothing=SmoothingParams.of(cfg.worker.ewma_tau_s,
                                                          cfg.worker.wma_window),
                      limits=Limits(max_future_skew_ms=int(cfg.worker.max_future_skew_s * 1000),
                                    max_past_age_ms=int(cfg.worker.max_past_age_s * 1000)),
                      check_wall_clock=True, correlator=from_section(cfg.correlator),
                      routing=routing_of(cfg))
    runtime.miner_state_of = lambda p: tables.miners.get(tables.miner_key[p])
    group = FaustGroup(app, {names.metrics, names.logs, names.correlate})
    stats = WorkerStats()
    work = Processing(bootstrap=kafka, group_id=app.conf.id, runtime=runtime,
                      tables=tables, outbox=outbox, topics=names, group=group,
                      book=PartitionBook(cfg.worker.stall_timeout_s), stats=stats,
                      tick_ms=int(TICK_INTERVAL_S * 1000),
                      batch_max_ms=cfg.worker.batch_max_ms,
                      state_interval_ms=cfg.worker.state_interval_ms)
    app.rackwatch_runtime = runtime  # type: ignore[attr-defined]  # for inspection
    app.rackwatch_stats = stats  # type: ignore[attr-defined]
    app.rackwatch_processing = work  # type: ignore[attr-defined]
    return _Wiring(app, cfg, work, runtime, outbox, group, stats, names, topics, kafka)


def _on_rebalance(w: _Wiring) -> None:
    """A batch in flight becomes durable before partitions go; everything partition-bound
    is forgotten when they move, and the outbox stops last at shutdown."""
    work = w.work

    @w.app.on_partitions_revoked.connect
    async def _revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        async with work.busy:
            await work.commit()
            work.forget()

    @w.app.on_partitions_assigned.connect
    async def _assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        async with work.busy:
            work.forget()
            w.runtime.log_processors.clear()  # rebuilt from the recovered miner state

    @w.app.on_before_shutdown.connect
    async def _shutdown(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        async with work.busy:
            await work.commit()
            await w.outbox.stop()


def _agents(w: _Wiring) -> None:
    app, work, runtime, t = w.app, w.work, w.runtime, w.topics
    within = max(0.001, w.cfg.worker.batch_wait_ms / 1000.0)

    @app.agent(t["metrics"])
    async def process_metrics(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, within=within):
            await work.run_batch(events, runtime.on_metrics, ticks=True)

    @app.agent(t["logs"])
    async def process_logs(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, within=within):
            await work.run_batch(events, runtime.on_log)

    @app.agent(t["correlate"])
    async def correlate(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, within=within):
            await work.run_correlate(events)

    @app.agent(t["ticks"])
    async def process_ticks(stream: Any) -> None:
        async for event in stream.events():
            async with work.busy:
                if w.outbox.closed:
                    return
                if event.message.tp in app.assignor.assigned_actives():
                    tick = orjson.loads(event.value)
                    await work.run_tick(event.message.partition, tick.get("now"),
                                        tick.get("scopes_now"))


def _timers(w: _Wiring) -> None:
    """Ticks for quiet partitions, commits for a quiet worker, and the watchdog."""
    app, work, cfg = w.app, w.work, w.cfg

    @app.timer(interval=TICK_INTERVAL_S)
    async def send_ticks() -> None:
        mine = sorted(tp.partition for tp in app.assignor.assigned_actives()
                      if tp.topic == w.names.metrics)
        for partition, value in work.timer_ticks(mine):
            await w.topics["ticks"].send(key=b"tick", value=value, partition=partition)

    @app.timer(interval=COMMIT_INTERVAL_S)
    async def _commit_timer() -> None:
        """Commits for a quiet worker (a busy one commits after its batches)."""
        if not work.busy.locked() and time.monotonic() - work.last_commit >= COMMIT_INTERVAL_S:
            async with work.busy:
                if not w.outbox.closed:
                    await work.commit()

    ends = EndOffsets(w.kafka)
    line = StatsLine(w.stats, w.runtime, every_s=cfg.worker.stats_interval_s)

    @app.timer(interval=min(WATCH_INTERVAL_S, cfg.worker.stall_timeout_s / 4))
    async def _watchdog() -> None:
        """Partitions that stopped moving: seek back, then exit for a restart."""
        if not await work.watch(await ends.get(w.group.owned())):
            log.critical("a stalled partition did not recover after a seek; exiting (%d) so "
                         "that the worker is restarted", EXIT_STALLED)
            logging.shutdown()
            os._exit(EXIT_STALLED)
        line.maybe_log(time.monotonic())


def _actions(w: _Wiring) -> None:
    """Every worker reads the whole actions topic, from its start, without a group: alerts
    live on the host's partition, actions name them by fingerprint and a silence matches
    alerts on any host (streams.handling.book). The topic is small: people's actions and
    a few of rackwatch's own per alert episode."""

    @w.app.task
    async def _read_actions() -> None:
        import asyncio

        while not w.outbox.closed:
            try:
                await _follow_actions(w)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # read again from the start (the book drops repeats)
                log.error("reading the actions topic failed, again in 5 s: %r", e)
                await asyncio.sleep(5.0)


async def _follow_actions(w: _Wiring) -> None:
    from common.kafka import consumer

    reader = consumer(w.kafka, w.names.actions, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest")
    await reader.start()
    try:
        while not w.outbox.closed:
            batches = await reader.getmany(timeout_ms=500, max_records=1000)
            if not batches:
                continue
            async with w.work.busy:  # between two batches, never inside one
                for messages in batches.values():
                    for m in messages:
                        if m.value:
                            w.runtime.on_action(m.value)
    finally:
        await reader.stop()


def _endpoint(w: _Wiring) -> None:
    """/metrics, /healthz and /readyz on [worker] metrics_host:metrics_port."""
    group, stats, cfg = w.group, w.stats, w.cfg

    def ready() -> tuple[bool, str]:
        owned = group.owned()
        if group.settling() or not owned:
            return False, "rebalancing" if group.settling() else "no partitions assigned"
        behind = sum(stats.lag.values())
        return behind < READY_LAG, f"{len(owned)} partitions, {behind} messages behind"

    @w.app.task
    async def _serve_metrics() -> None:
        if not cfg.worker.metrics_port:
            return
        await serve("worker", CollectorRegistry(), cfg.worker.metrics_host,
                    cfg.worker.metrics_port, ready=ready,
                    collectors=[WorkerCollector(stats, w.runtime, lambda: len(group.owned()),
                                                lambda: w.outbox.sent_by_topic)])
