"""After a crash or a rebalance: the journaled rounds of a partition, written again exactly.

A round that was journaled but whose offsets were never committed may be in the store
in full, in part (the sink died mid-insert) or not at all. Writing the same inserts
again, with the same token and the same rows in the same order, makes ClickHouse keep
exactly one copy of every block, in every table and view. A round spans partitions that
may now belong to other sinks, so its batches are read back from Kafka directly (a
plain consumer, no group: reading moves no partition), each over its journaled offsets,
and cut as the batcher cut them: a journaled range is exactly one batch. Every owner of
one of the round's partitions does this for the rounds it finds, so two of them may
write the same round: the second write is dropped as a repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias

from aiokafka.structs import ConsumerRecord, TopicPartition

from common.config import Config
from common.kafka import consumer as kafka_consumer
from sinks.batch import Batch, Batcher
from sinks.rounds import Member

__all__ = ["read_members", "rebuild"]

log = logging.getLogger(__name__)

Message: TypeAlias = ConsumerRecord[bytes, bytes]


def rebuild(members: Sequence[Member], messages: Mapping[Member, Sequence[Message]],
            batcher: Batcher, skip: Callable[[Message], bool]) -> list[Batch]:
    """The round's batches from its messages, each member's range one batch (`batcher`
    must be fresh and must not cut by size). A member whose messages are gone (retention)
    is left out, with a warning: the round can then no longer be repeated exactly."""
    out: list[Batch] = []
    for m in members:
        got = [r for r in messages.get(m, ()) if m.first <= r.offset <= m.last]
        if not got or got[0].offset != m.first or got[-1].offset != m.last:
            log.warning("%s: the journaled messages are not all readable (%d found); the "
                        "round is written with what is left", m.token, len(got))
        for r in got:
            batcher.add(r.topic, r.partition, r.offset, r.key, r.value, 0.0, skip=skip(r))
        out.extend(batcher.drain())
    return out


async def read_members(target: str | Config, members: Sequence[Member], *,
                       max_fetch_bytes: int = 1 << 20, idle_limit: int = 30
                       ) -> dict[Member, list[Message]]:
    """The messages of each member's journaled range, read directly from Kafka. Stops
    at the range's end or the partition's end, whichever comes first; a partition that
    yields nothing for `idle_limit` fetches in a row is an error (the caller retries)."""
    consumer = kafka_consumer(target, group_id=None, enable_auto_commit=False,
                              auto_offset_reset="earliest",
                              max_partition_fetch_bytes=max_fetch_bytes)
    await consumer.start()
    out: dict[Member, list[Message]] = {}
    try:
        for m in members:
            tp = TopicPartition(m.topic, m.partition)
            consumer.assign([tp])
            end = min(m.last + 1, (await consumer.end_offsets([tp]))[tp])
            consumer.seek(tp, m.first)
            got: list[Message] = []
            idle = 0
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                idle = 0 if batch else idle + 1
                if idle > idle_limit:
                    raise RuntimeError(f"{m.token}: unreadable from offset {m.first}")
                got.extend(r for r in batch.get(tp, ()) if r.offset <= m.last)
            out[m] = got
    finally:
        await consumer.stop()
    return out
