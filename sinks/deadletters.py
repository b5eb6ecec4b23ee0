"""Dead letters the sink stored itself, published to the dead-letter topic afterwards.

The table has them first; the topic copy is best effort (a failed send is logged, not
retried, and never holds the commit). Each copy carries STORED_HEADER, so that the
sink's own consumer of the dead-letter topic does not store them a second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from sinks.stats import SinkStats
from sinks.writer import WriteResult

__all__ = ["STORED_HEADER", "publish_dead_letters", "stored_by_a_sink"]

log = logging.getLogger(__name__)

# Set on dead letters the sink publishes after storing them itself, so that its own
# consumer of the dead-letter topic does not store them a second time.
STORED_HEADER = "rackwatch-stored"


def stored_by_a_sink(headers: Iterable[tuple[str, bytes]] | None) -> bool:
    """Whether a dead-letter record's headers say a sink stored it already."""
    return any(k == STORED_HEADER for k, _ in (headers or ()))


async def publish_dead_letters(producer: AIOKafkaProducer, topic: str,
                               results: Sequence[WriteResult], stats: SinkStats) -> None:
    """Send the dead letters of a finished write round, then wait for each send."""
    sends: list[asyncio.Future[object]] = []
    try:
        for r in results:
            for d in r.dead_letters:
                key = d["key"].encode() if d["key"] is not None else None
                sends.append(await producer.send(topic, orjson.dumps(d), key=key,
                                                 headers=[(STORED_HEADER, b"1")]))
    except KafkaError as e:  # the table has them; the topic copy is best effort
        log.warning("could not publish dead letters: %s", e)
    for fut in sends:
        try:
            await fut
            stats.dead_letters_produced_total += 1
        except KafkaError as e:
            log.warning("could not publish a dead letter: %s", e)
