"""Reading input and output partitions directly: where to resume, gaps, landed outputs.

Three questions the worker asks Kafka outside faust's stream, each with a short-lived
plain consumer (no group membership, so asking never moves a partition):
- where does the group resume a partition (`resume_offsets`: its committed offset,
  else the earliest);
- which messages sit at offsets the stream skipped (`read_range`);
- which input offsets already have their processed records in an output partition
  (`landed_offsets`): a worker that died after its outputs landed but before its
  commit leaves them, and the next owner must not send them again.
`EndOffsets` keeps one such consumer for the watchdog's periodic look at partition ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import murmur2
from aiokafka.structs import TopicPartition

from common.kafka import KafkaClient
from common.kafka import consumer as kafka_consumer

__all__ = ["ALERTS_HEADER", "RECONCILE_CHUNK", "SOURCE_HEADER", "EndOffsets", "Record",
           "alert_digest", "landed_offsets",
           "partition_of", "read_range", "resume_offsets"]

log = logging.getLogger(__name__)

# The cluster: its address alone (plaintext), or with its security settings.
Kafka = str | KafkaClient

# Headers on processed records: the offset of the input message they came from, and the
# digests of the alerts its processing sent (comma-separated), so that a next owner that
# processes the message again sends neither its records nor its alerts twice.
SOURCE_HEADER = "rackwatch-source-offset"
ALERTS_HEADER = "rackwatch-alerts"
RECONCILE_CHUNK = 500  # processed records read per step when scanning a partition's tail


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2), as every producer applies it to keys."""
    h: int = murmur2(key)
    return (h & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class Record:
    """One input message as processed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def _plain_consumer(bootstrap: Kafka, group: str | None = None) -> AIOKafkaConsumer:
    c: AIOKafkaConsumer = kafka_consumer(bootstrap, group_id=group, enable_auto_commit=False,
                                         auto_offset_reset="earliest")
    return c


async def _read(consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
                ) -> AsyncIterator[Any]:
    """The messages at offsets [start, end) of `tp` (the consumer assigned to it), in
    order. A partition that yields nothing for 30 fetches in a row is an error: the
    range was there when it was asked for, so something is wrong with the broker."""
    consumer.seek(tp, start)
    idle = 0
    while await consumer.position(tp) < end:
        got = await consumer.getmany(tp, timeout_ms=1000)
        idle = 0 if got else idle + 1
        if idle > 30:
            raise RuntimeError(f"{tp.topic}:{tp.partition} unreadable from offset {start}")
        for m in got.get(tp, ()):
            if m.offset >= end:
                return
            yield m


async def resume_offsets(bootstrap: Kafka, group: str, tps: set[tuple[str, int]]
                         ) -> dict[tuple[str, int], int]:
    """Where the group resumes each partition: its committed offset, else the earliest."""
    consumer = _plain_consumer(bootstrap, group)
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


async def read_range(bootstrap: Kafka, tp: tuple[str, int], start: int, end: int
                     ) -> list[Record]:
    """The messages at offsets [start, end) of one partition, read directly."""
    consumer = _plain_consumer(bootstrap)
    await consumer.start()
    part = TopicPartition(*tp)
    try:
        consumer.assign([part])
        return [Record(m.topic, m.partition, m.offset, m.key, m.value or b"")
                async for m in _read(consumer, part, start, end)]
    finally:
        await consumer.stop()


def alert_digest(value: bytes) -> str:
    """An alert message's identity for re-send suppression: the processing is
    deterministic, so an identical re-send is the identical bytes."""
    return hashlib.blake2b(value, digest_size=8).hexdigest()


async def landed_offsets(bootstrap: Kafka, wanted: dict[tuple[str, int], int]
                         ) -> dict[tuple[str, int], dict[int, frozenset[str]]]:
    """For each (output topic, partition) -> resume offset: the input offsets >= resume
    whose processed records already landed there (a worker processed them and died, or
    lost the partition, before committing).

    Records carry their input offset in a header and a partition's records are written
    in input order, so each tail is read backwards, chunk by chunk, until a record from
    before the resume offset (or one without the header) shows that the rest is older."""
    consumer = _plain_consumer(bootstrap)
    await consumer.start()
    found: dict[tuple[str, int], dict[int, frozenset[str]]] = {}
    try:
        for (topic, partition), resume in wanted.items():
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            found[(topic, partition)] = await _scan_back(consumer, tp, resume)
    finally:
        await consumer.stop()
    return found


async def _scan_back(consumer: AIOKafkaConsumer, tp: TopicPartition, resume: int
                     ) -> dict[int, frozenset[str]]:
    found: dict[int, frozenset[str]] = {}
    begin = (await consumer.beginning_offsets([tp]))[tp]
    hi = (await consumer.end_offsets([tp]))[tp]
    while hi > begin:
        lo = max(begin, hi - RECONCILE_CHUNK)
        older = False
        async for m in _read(consumer, tp, lo, hi):
            src, alerts = _source(m.headers)
            if src is None or src < resume:
                older = True
            else:
                found[src] = found.get(src, frozenset()) | alerts
        if older:
            break
        hi = lo
    return found


def _source(headers: Iterable[tuple[str, bytes]] | None) -> tuple[int | None, frozenset[str]]:
    """(input offset, alert digests) from a processed record's headers."""
    src: int | None = None
    alerts: frozenset[str] = frozenset()
    for k, v in headers or ():
        if k == SOURCE_HEADER:
            try:
                src = int(v)
            except ValueError:
                return None, alerts
        elif k == ALERTS_HEADER and v:
            alerts = frozenset(v.decode("ascii", "replace").split(","))
    return src, alerts


class EndOffsets:
    """The end (high watermark) of partitions, asked of the broker: what the watchdog
    compares the worker's progress with. One consumer, started on first use; a failed
    ask returns nothing (the next check asks again)."""

    def __init__(self, bootstrap: Kafka) -> None:
        self.bootstrap = bootstrap
        self._consumer: AIOKafkaConsumer | None = None

    async def get(self, tps: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        parts = [TopicPartition(t, p) for t, p in tps]
        if not parts:
            return {}
        try:
            if self._consumer is None:
                self._consumer = _plain_consumer(self.bootstrap)
                await self._consumer.start()
            ends = await asyncio.wait_for(self._consumer.end_offsets(parts), 30.0)
        except Exception as e:  # the broker is away: no verdict this time
            log.info("cannot read partition ends for the watchdog: %r", e)
            await self.close()
            return {}
        return {(tp.topic, tp.partition): int(o) for tp, o in ends.items()}

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception as e:  # closing a consumer of a dead broker
                log.debug("closing the end-offsets consumer: %r", e)
