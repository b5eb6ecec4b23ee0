"""The sink loop's decisions, with a fake consumer and producer (no broker needed)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition

from common.config import Config, KafkaConfig
from sinks.rounds import Member
from sinks.service import STORED_HEADER, SinkService
from sinks.settings import SinkSettings
from sinks.store import Store
from sinks.writer import WriteResult

PREFIX = "svc."
M = PREFIX + "processed.metrics"
D = PREFIX + "deadletter"


class FakeConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.paused: set[TopicPartition] = set()
        self.commits: list[dict[TopicPartition, int]] = []
        self.committed_offsets: dict[TopicPartition, int | None] = {}
        self.sought: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought.append((tp, offset))

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offsets.get(tp)

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[None]:
        self.sent.append((topic, value, key, headers or []))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def _service(store: Store, assigned: set[TopicPartition], **kw: Any) -> SinkService:
    cfg = Config(kafka=KafkaConfig(topic_prefix=PREFIX))
    settings = dataclasses.replace(SinkSettings.from_config(cfg), **kw)
    svc = SinkService(cfg, store, settings=settings)
    svc.consumer = FakeConsumer(assigned)
    svc.producer = FakeProducer()
    return svc


def _record(topic: str, partition: int, offset: int, value: bytes,
            headers: tuple[tuple[str, bytes], ...] = ()) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", value, None, len(b"k"),
                          len(value), headers)


MSG = orjson.dumps([{"host": "h"}] * 10)
TP0, TP1 = TopicPartition(M, 0), TopicPartition(M, 1)


class TestBackPressure:
    def test_pauses_at_the_limit_and_resumes_below_half(self, store: Store) -> None:
        """Buffered rows at the limit pause every partition; below half they resume."""
        svc = _service(store, {TP0, TP1}, max_pending_rows=25, batch_rows=1000)
        svc._ready.update({TP0, TP1})
        consumer: FakeConsumer = svc.consumer  # type: ignore[assignment]
        for off in range(3):
            svc._add(_record(M, 0, off, MSG), 0.0)
        svc._apply_backpressure()
        assert consumer.paused == {TP0, TP1} and svc.stats.pauses_total == 1
        svc.batcher.drain()
        svc._apply_backpressure()
        assert consumer.paused == set()

    def test_failing_store_pauses(self, store: Store) -> None:
        """While the writer reports the store failing, nothing is consumed."""
        svc = _service(store, {TP0})
        svc._ready.add(TP0)
        svc.writer.healthy = False
        svc._apply_backpressure()
        assert svc.consumer.paused == {TP0}  # type: ignore[union-attr]

    def test_partitions_wait_for_their_journal(self, store: Store) -> None:
        """A partition whose journal was not read yet stays paused; others run."""
        svc = _service(store, {TP0, TP1})
        svc._ready.add(TP0)
        svc._apply_backpressure()
        assert svc.consumer.paused == {TP1}  # type: ignore[union-attr]


class TestReadiness:
    """A partition is consumed once its journaled rounds are written again."""

    def test_journaled_round_is_written_again_and_its_offsets_skipped(
            self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        """Records that arrive before the journal is read wait; the journaled round
        (here offsets 0-1 of TP0 and 0-0 of TP1) is read back and written with its
        token; then TP0 resumes after it, its held copies of 0-1 dropped."""
        svc = _service(store, {TP0}, batch_rows=1000)
        members = [Member(M, 0, 0, 1), Member(M, 1, 0, 0)]
        svc.writer.journaled = lambda topic, partition, start: [  # type: ignore[method-assign]
            (0, 1, "round:2:abc")]
        svc.writer.members = lambda token: members  # type: ignore[method-assign]
        read: list[list[Member]] = []

        async def read_members(bootstrap: str, wanted: list[Member], **kw: Any
                               ) -> dict[Member, list[ConsumerRecord[bytes, bytes]]]:
            read.append(list(wanted))
            return {m: [_record(M, m.partition, off, MSG) for off in range(m.first, m.last + 1)]
                    for m in wanted}

        monkeypatch.setattr("sinks.service.read_members", read_members)
        for off in range(3):
            svc._add(_record(M, 0, off, MSG), 0.0)
        assert svc.batcher.buffered_rows == 0 and svc.stats.messages_total == 0

        async def prepare() -> None:
            await svc._prepare(TP0)

        asyncio.run(prepare())
        assert read == [members]
        assert TP0 in svc._ready and svc.stats.recovered_rounds_total == 1
        assert svc.stats.realigned_batches_total == 2
        assert store.scalar("SELECT token FROM sink_batches") is None  # not journaled again
        consumer: FakeConsumer = svc.consumer  # type: ignore[assignment]
        assert consumer.sought == [(TP0, 2)] and consumer.commits == [{TP0: 2}]
        assert [b.token for b in svc.batcher.drain()] == [f"{M}:0:2-2"]
        assert svc.stats.messages_total == 1

    def test_own_dead_letters_are_skipped(self, store: Store) -> None:
        """Dead letters this sink published (header set) are not stored again."""
        tp = TopicPartition(D, 0)
        svc = _service(store, {tp})
        svc._ready.add(tp)
        svc._add(_record(D, 0, 0, b"{}", ((STORED_HEADER, b"1"),)), 0.0)
        batch = svc.batcher.drain()[0]
        assert batch.records == [] and batch.next_offset == 1


class TestAcknowledge:
    def test_publishes_dead_letters_then_commits_assigned_partitions(self,
                                                                    store: Store) -> None:
        """Dead letters go to the topic with the stored header; offsets are committed
        only for partitions still assigned, at the highest batch end of each."""
        svc = _service(store, {TP0})
        dead = {"key": "h1", "reason_code": "bad_json"}
        results = [WriteResult(M, 0, 10, 5, [dead]),  # type: ignore[list-item]
                   WriteResult(M, 0, 20, 5), WriteResult(M, 1, 7, 5)]
        asyncio.run(svc._acknowledge(results))
        producer: FakeProducer = svc.producer  # type: ignore[assignment]
        assert [(t, k, h) for t, _, k, h in producer.sent] == [
            (D, b"h1", [(STORED_HEADER, b"1")])]
        assert svc.consumer.commits == [{TP0: 20}]  # type: ignore[union-attr]
        assert svc.stats.dead_letters_produced_total == 1 and svc.stats.commits_total == 1
