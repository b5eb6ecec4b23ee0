"""The sink's /metrics: dead letters the store's views route are counted, by reason."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from common.config import Config, KafkaConfig
from sinks.selfmetrics import SinkCollector, State, readiness
from sinks.service import SinkService
from sinks.settings import SinkSettings
from sinks.store import Store
from tests.unit.sinks.test_service import FakeConsumer, FakeProducer, _record

PREFIX = "selfm."
M = PREFIX + "processed.metrics"


def scrape(svc: SinkService) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reg = CollectorRegistry()
    reg.register(SinkCollector(svc.stats, svc.metrics, svc.state))
    text = generate_latest(reg).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


class HighwaterConsumer(FakeConsumer):
    def highwater(self, tp: TopicPartition) -> int:
        return 5


class TestSinkMetrics:
    """What a write round leaves in the exposition."""

    def test_view_dead_letters_rows_and_lag(self, store: Store) -> None:
        """Records the store's views refuse are counted by reason (not 0 as before); rows
        stored per topic; insert time and batch size observed; lag from the commit."""
        cfg = Config(kafka=KafkaConfig(topic_prefix=PREFIX))
        settings = dataclasses.replace(SinkSettings.from_config(cfg), batch_rows=1000)
        svc = SinkService(cfg, store, settings=settings)
        tp = TopicPartition(M, 0)
        svc.consumer = HighwaterConsumer({tp})
        svc.producer = FakeProducer()
        svc._ready.add(tp)
        svc.metrics.committed[(M, 0)] = 0
        good = {"schema": "rackwatch.metric_row/v1", "host": "h1", "ts": 1_790_000_000_000,
                "name": "cpu.usage", "labels": {"rack": "r1"}, "value": 0.5, "raw": 0.5,
                "seq": 1}
        svc._add(_record(M, 0, 0, orjson.dumps([good, {"host": "h1"}, {"host": "h2"}])), 0.0)
        svc._add(_record(M, 0, 1, orjson.dumps({"schema": "other/v1"})), 0.0)
        svc._add(_record(M, 0, 2, b"{not json"), 0.0)

        async def round_trip() -> None:
            svc._start_write(svc.batcher.drain())
            assert svc._inflight is not None
            await svc._acknowledge(await svc._inflight)

        asyncio.run(round_trip())
        got = scrape(svc)
        dead = {dict(k[1])["reason"]: v for k, v in got.items()
                if k[0] == "rackwatch_sink_dead_letters_total"}
        assert dead == {"missing_field": 2.0, "unknown_schema": 1.0, "bad_json": 1.0}
        assert svc.stats.dead_letters_total == 4
        assert got[("rackwatch_sink_rows_stored_total", (("topic", M),))] == 1.0
        assert got[("rackwatch_sink_messages_total", (("topic", M),))] == 3.0
        assert got[("rackwatch_sink_insert_seconds_count", ())] == 1.0
        assert got[("rackwatch_sink_batch_rows_count", ())] == 1.0
        assert got[("rackwatch_sink_partition_lag", (("partition", "0"), ("topic", M)))] == 2.0
        svc.pool.shutdown()


class TestReadiness:
    """/readyz of the sink."""

    def test_verdicts(self) -> None:
        """Not ready while partitions prepare, the store fails or it is behind."""
        base = State(lag={("t", 0): 5}, buffered_rows=0, inflight_rows=0, paused=False,
                     healthy=True, assigned=2, ready_partitions=2)
        assert readiness(base, 10)[0]
        assert not readiness(dataclasses.replace(base, ready_partitions=1), 10)[0]
        assert not readiness(dataclasses.replace(base, assigned=0, ready_partitions=0), 10)[0]
        assert readiness(dataclasses.replace(base, healthy=False), 10) == (
            False, "the store is failing")
        assert not readiness(base, 5)[0]
