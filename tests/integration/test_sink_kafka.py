"""The sink against the real broker: exactly-once rows through crashes, outages, bad data.

The sink runs in this process (so a test can plan store faults and watch its counters)
with its own consumer group and a chDB store of its own per test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from common.config import ClickHouseConfig, Config, KafkaConfig, SinkConfig
from common.topics import ensure_topics
from sinks.service import STORED_HEADER, SinkService
from sinks.settings import SinkSettings
from sinks.store import Store, open_store
from tests.support.insert_faults import InsertFaults
from tests.support.samples import Fleet, build_fleet

pytestmark = pytest.mark.integration

SINK_TOPICS = ("processed.metrics", "processed.logs", "alerts", "incidents", "deadletter")
PER_MESSAGE = 50


def _config(tmp_path: Path, bootstrap: str, prefix: str) -> Config:
    return Config(home=tmp_path, kafka=KafkaConfig(bootstrap=bootstrap, topic_prefix=prefix,
                                                    partitions=3),
                  clickhouse=ClickHouseConfig(dsn=f"chdb://{tmp_path / 'store'}"),
                  sink=SinkConfig(batch_rows=500, batch_interval_s=0.2, serve_port=0))


def _settings(cfg: Config, **kw: Any) -> SinkSettings:
    values: dict[str, Any] = {"group_id": f"{cfg.kafka.topic_prefix}sink",
                              "retry_initial_s": 0.05, "retry_max_s": 0.2,
                              "shutdown_flush_s": 2.0, **kw}
    return dataclasses.replace(SinkSettings.from_config(cfg), **values)


def _metric_messages(fleet: Fleet, first: int = 0, count: int | None = None
                     ) -> list[tuple[bytes, bytes]]:
    rows = fleet.metrics
    chunks = [rows[i:i + PER_MESSAGE] for i in range(0, len(rows), PER_MESSAGE)]
    chunks = chunks[first:None if count is None else first + count]
    return [(c[0]["host"].encode(), orjson.dumps(c)) for c in chunks]


async def _produce(cfg: Config, short: str,
                   messages: Sequence[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=cfg.bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(cfg.topic(short), v, key=k) for k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _until(check: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class _Running:
    """A sink service running on this event loop."""

    def __init__(self, cfg: Config, store: Store, settings: SinkSettings) -> None:
        self.service = SinkService(cfg, store, settings=settings)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> SinkService:
        ready = asyncio.Event()
        self.task = asyncio.create_task(self.service.run(self.stop, ready))
        await asyncio.wait_for(ready.wait(), 60)
        return self.service

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 60)


def _count(store: Store, sql: str) -> int:
    return int(store.scalar(sql) or 0)


async def _committed(cfg: Config, group: str, short: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=cfg.bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(cfg.topic(short), p) for p in range(cfg.kafka.partitions)]
        return {tp.partition: (await consumer.committed(tp)) or 0 for tp in tps}
    finally:
        await consumer.stop()


async def _end_offsets(cfg: Config, short: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=cfg.bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(cfg.topic(short), p) for p in range(cfg.kafka.partitions)]
        return {tp.partition: off for tp, off in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


@pytest.fixture
def cfg(tmp_path: Path, kafka_broker: str, topic_prefix: str) -> Config:
    cfg = _config(tmp_path, kafka_broker, topic_prefix)
    asyncio.run(ensure_topics(cfg, SINK_TOPICS))
    return cfg


@pytest.fixture
def fleet() -> Fleet:
    return build_fleet(int(time.time() * 1000) - 5_000, minutes=30)


def test_everything_is_stored_once_and_committed(cfg: Config, fleet: Fleet) -> None:
    """Every topic lands in its table exactly once, and offsets are committed to the end."""
    async def scenario() -> None:
        await _produce(cfg, "processed.metrics", list(_metric_messages(fleet)))
        await _produce(cfg, "processed.logs", [(r["host"].encode(), orjson.dumps([r]))
                                               for r in fleet.logs])
        await _produce(cfg, "alerts", [(a["fingerprint"].encode(), orjson.dumps(a))
                                       for a in fleet.alerts])
        await _produce(cfg, "incidents", [(None, orjson.dumps(i)) for i in fleet.incidents])
        await _produce(cfg, "deadletter", [(None, orjson.dumps(d)) for d in fleet.deadletters])
        store = open_store(cfg)
        settings = _settings(cfg)
        try:
            async with _Running(cfg, store, settings) as service:
                await _until(lambda: _count(store, "SELECT count() FROM metrics")
                             == len(fleet.metrics) and _count(
                                 store, "SELECT count() FROM deadletter")
                             == len(fleet.deadletters), 60, "all rows")
                await _until(lambda: service.stats.commits_total > 0, 10, "a commit")
                await asyncio.sleep(1.0)  # a duplicate would come with a later flush
            assert _count(store, "SELECT count() FROM metrics") == len(fleet.metrics)
            assert _count(store, "SELECT sum(samples) FROM metrics_1m") == len(fleet.metrics)
            assert _count(store, "SELECT count() FROM logs") == len(fleet.logs)
            assert _count(store, "SELECT count() FROM alerts") == len(fleet.alerts)
            assert _count(store, "SELECT count() FROM incidents") == len(fleet.incidents)
            assert _count(store, "SELECT count() FROM deadletter") == len(fleet.deadletters)
        finally:
            store.close()
        for short in SINK_TOPICS:
            assert await _committed(cfg, settings.group_id, short) == \
                await _end_offsets(cfg, short), short

    asyncio.run(scenario())


def test_crash_after_insert_then_restart_duplicates_nothing(cfg: Config, fleet: Fleet) -> None:
    """A sink whose insert reached the store but never heard back stops without committing;
    more data arrives; a restarted sink (cutting batches differently by its own settings)
    re-cuts the journaled batch exactly and ClickHouse drops the repeat."""
    async def scenario() -> None:
        messages = _metric_messages(fleet)
        half = len(messages) // 2
        await _produce(cfg, "processed.metrics", messages[:half])
        store = open_store(cfg)
        try:
            faults = InsertFaults()
            faults.fail(when="after", table="metrics_ingest", times=10**6)  # lands, reports failure
            store.faults = faults
            async with _Running(cfg, store, _settings(cfg)) as first:
                await _until(lambda: _count(store, "SELECT count() FROM metrics") > 0, 60,
                             "the first insert to land")
                await _until(lambda: faults.injected >= 3, 30, "some retries")
            assert first.stats.commits_total == 0
            landed = _count(store, "SELECT count() FROM metrics")
            store.faults = None
            await _produce(cfg, "processed.metrics", messages[half:])
            async with _Running(cfg, store, _settings(cfg, batch_rows=100_000,
                                                      batch_interval_s=1.0)) as second:
                await _until(lambda: _count(store, "SELECT count() FROM metrics")
                             >= len(fleet.metrics), 60, "all rows")
                await asyncio.sleep(1.5)
            assert landed < len(fleet.metrics)
            assert second.stats.realigned_batches_total >= 1
            assert _count(store, "SELECT count() FROM metrics") == len(fleet.metrics)
            assert _count(store, "SELECT sum(samples) FROM metrics_1m") == len(fleet.metrics)
            assert _count(store, "SELECT sum(samples) FROM metrics_1h") == len(fleet.metrics)
        finally:
            store.close()

    asyncio.run(scenario())


def test_a_partial_round_is_recovered_by_whoever_owns_its_partitions(cfg: Config,
                                                                     fleet: Fleet) -> None:
    """A round over every partition of two topics half lands: its logs insert reaches the
    store, its metrics insert never does; the sink stops without committing. Two sinks
    then share the partitions (a rebalance): each writes the journaled round again for
    its own partitions, reading the other partitions' batches back from Kafka, so both
    may write it; ClickHouse keeps one copy of every block. Every row is stored once in
    metrics, both rollups and logs, and every offset is committed."""
    async def scenario() -> None:
        messages = _metric_messages(fleet)
        half = len(messages) // 2
        logs = [(r["host"].encode(), orjson.dumps([r])) for r in fleet.logs]
        await _produce(cfg, "processed.metrics", messages[:half])
        await _produce(cfg, "processed.logs", logs)
        store = open_store(cfg)
        try:
            faults = InsertFaults()
            faults.fail(when="before", table="metric_blocks_ingest", times=10**6)
            faults.fail(when="before", table="metrics_ingest", times=10**6)
            store.faults = faults
            one_round = _settings(cfg, batch_rows=10**6, batch_interval_s=1.0)
            async with _Running(cfg, store, one_round) as first:
                await _until(lambda: faults.injected >= 3, 60, "the round to half land")
            assert first.stats.commits_total == 0 and first.stats.rounds_total == 0
            assert _count(store, "SELECT count() FROM metrics") == 0
            assert _count(store, "SELECT count() FROM logs") == len(fleet.logs)
            store.faults = None
            await _produce(cfg, "processed.metrics", messages[half:])
            settings = _settings(cfg, batch_rows=200, batch_interval_s=0.3)
            async with _Running(cfg, store, settings) as a, _Running(cfg, store,
                                                                     settings) as b:
                await _until(lambda: _count(store, "SELECT count() FROM metrics")
                             >= len(fleet.metrics), 90, "all rows")
                await _until(lambda: a.consumer is not None and b.consumer is not None
                             and bool(a.consumer.assignment())
                             and bool(b.consumer.assignment()), 30, "both sinks assigned")
                await asyncio.sleep(2.0)  # a duplicate would come with a later round
            assert a.stats.recovered_rounds_total + b.stats.recovered_rounds_total >= 1
            n = len(fleet.metrics)
            assert _count(store, "SELECT count() FROM metrics") == n
            assert _count(store, "SELECT sum(samples) FROM metrics_1m") == n
            assert _count(store, "SELECT sum(samples) FROM metrics_1h") == n
            assert _count(store, "SELECT count() FROM logs") == len(fleet.logs)
            assert _count(store, "SELECT count() FROM (SELECT host, name, ts, labels, count() "
                                 "AS c FROM metrics GROUP BY ALL HAVING c > 1)") == 0
        finally:
            store.close()
        for short in ("processed.metrics", "processed.logs"):
            assert await _committed(cfg, settings.group_id, short) == \
                await _end_offsets(cfg, short), short

    asyncio.run(scenario())


def test_bad_data_is_dead_lettered_not_blocking(cfg: Config, fleet: Fleet) -> None:
    """Undecodable messages and bad rows go to the deadletter table and topic with a
    reason; the good rows around them are stored; the sink does not store its own dead
    letters twice when it reads them back from the topic."""
    async def scenario() -> None:
        good = fleet.metrics[:40]
        bad_row = dict(fleet.metrics[40], value="NaN-ish")
        messages: list[tuple[bytes | None, bytes]] = [
            (b"h", orjson.dumps(good[:20])),
            (b"h", b"{this is not json"),
            (b"h", orjson.dumps([*good[20:], bad_row])),
        ]
        await _produce(cfg, "processed.metrics", messages)
        store = open_store(cfg)
        try:
            async with _Running(cfg, store, _settings(cfg)) as service:
                await _until(lambda: _count(store, "SELECT count() FROM deadletter") >= 2
                             and service.stats.dead_letters_produced_total >= 2, 60,
                             "dead letters")
                await asyncio.sleep(1.5)  # the topic copies come back: must be skipped
            assert _count(store, "SELECT count() FROM metrics") == len(good)
            reasons = store.rows("SELECT reason_code, origin, source_topic FROM deadletter "
                                 "ORDER BY reason_code")
            assert reasons == [("bad_json", "sink", cfg.topic("processed.metrics")),
                               ("missing_field", "sink", cfg.topic("processed.metrics"))]
        finally:
            store.close()
        consumer = AIOKafkaConsumer(cfg.topic("deadletter"), bootstrap_servers=cfg.bootstrap,
                                    group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        try:
            got = await consumer.getmany(timeout_ms=5000)
            records = [m for msgs in got.values() for m in msgs]
        finally:
            await consumer.stop()
        assert len(records) == 2
        assert all(dict(m.headers)[STORED_HEADER] == b"1" for m in records)
        assert {orjson.loads(m.value)["reason_code"] for m in records} == {"bad_json",
                                                                          "missing_field"}

    asyncio.run(scenario())


def test_store_outage_pauses_then_catches_up(cfg: Config, fleet: Fleet) -> None:
    """While the store is down the sink pauses consumption (bounded memory) and commits
    nothing; when it is back every row is stored once."""
    async def scenario() -> None:
        store = open_store(cfg)
        faults = InsertFaults()
        faults.down()
        store.faults = faults
        try:
            settings = _settings(cfg, max_pending_rows=1000)
            async with _Running(cfg, store, settings) as service:
                messages = _metric_messages(fleet)
                await _produce(cfg, "processed.metrics", messages[:30])
                await _until(lambda: service.stats.pauses_total >= 1, 30, "a pause")
                await asyncio.sleep(0.5)
                consumed = service.stats.messages_total
                await _produce(cfg, "processed.metrics", messages[30:])
                await asyncio.sleep(1.5)
                assert service.stats.messages_total == consumed  # paused: nothing taken
                assert service.stats.commits_total == 0
                assert _count(store, "SELECT count() FROM metrics") == 0
                faults.up()
                await _until(lambda: _count(store, "SELECT count() FROM metrics")
                             >= len(fleet.metrics), 60, "catching up")
                await asyncio.sleep(1.0)
            assert service.stats.transient_errors_total >= 1
            assert _count(store, "SELECT count() FROM metrics") == len(fleet.metrics)
            assert _count(store, "SELECT sum(samples) FROM metrics_1m") == len(fleet.metrics)
        finally:
            store.close()

    asyncio.run(scenario())


def test_sink_serves_read_only_queries(cfg: Config, fleet: Fleet) -> None:
    """While the sink owns the embedded store, `rackwatch query` reaches it over HTTP."""
    from sinks.query import run_query
    from sinks.serve import QueryServer

    async def scenario() -> None:
        await _produce(cfg, "alerts", [(None, orjson.dumps(a)) for a in fleet.alerts])
        store = open_store(cfg)
        server = QueryServer(store, port=0)
        server.start()
        try:
            async with _Running(cfg, store, _settings(cfg)):
                await _until(lambda: _count(store, "SELECT count() FROM alerts")
                             == len(fleet.alerts), 60, "alerts")
                served = Config(home=cfg.home, kafka=cfg.kafka, clickhouse=cfg.clickhouse,
                                sink=SinkConfig(serve_port=server.port))
                out = await asyncio.get_running_loop().run_in_executor(
                    None, run_query, served, "SELECT count() AS n FROM alerts", "jsonl")
                assert orjson.loads(out) == {"n": len(fleet.alerts)}
        finally:
            server.stop()
            store.close()

    asyncio.run(scenario())
