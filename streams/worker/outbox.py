"""The worker's producer: sends outputs and changelog records, knows when they landed.

The delivery order the worker promises (outputs, then the states they imply, then the
input offsets) rests on being able to wait until everything sent so far is on the
broker, which faust's own `send_soon` cannot give: its buffer's flush gives up after
100 ms, so a stop or a commit could overtake messages still queued there.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from aiokafka import AIOKafkaProducer

from common.kafka import KafkaClient, pick_compression
from common.kafka import producer as kafka_producer

__all__ = ["DELIVERY_TIMEOUT_MS", "OUTBOX_BATCH_BYTES", "Outbox"]

log = logging.getLogger(__name__)

# Records per partition that one produce request may carry (before compression). With
# idempotence, aiokafka has one request in flight per broker and puts one batch per
# partition in it; at its 16 KiB default a processed-metrics message (~40 KB) filled a
# batch on its own, so a take batch of 500 inputs cost hundreds of round trips.
OUTBOX_BATCH_BYTES = 512 * 1024
# How long an output may wait for the broker before the worker gives up and exits (its
# batch is then neither acked nor committed; the next owner takes over from there).
DELIVERY_TIMEOUT_MS = 300_000


class Outbox:
    """Sends outputs and changelog records, and knows when they are all delivered.

    An idempotent producer of its own (faust's is not idempotent outside transactions,
    and its send buffer cannot be waited on reliably): a retried send is never written
    twice, and per partition the order of sends is the order of writes.
    """

    def __init__(self, bootstrap: str | KafkaClient, client_id: str) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._pending: list[asyncio.Future[Any]] = []
        self._taken = 0  # sends taken off `_pending` (awaited)
        self._closed = False
        self.sent = 0
        self.sent_by_topic: dict[str, int] = {}

    @property
    def closed(self) -> bool:
        """Stopped for the worker's shutdown: batches still queued must not start."""
        return self._closed

    async def send(self, topic: str, key: bytes | None, value: bytes, *,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        if self._producer is None:
            if self._closed:
                raise RuntimeError("the worker is stopping: no more outputs")
            self._producer = kafka_producer(
                self.bootstrap, client_id=self.client_id, acks="all",
                enable_idempotence=True, linger_ms=2, request_timeout_ms=DELIVERY_TIMEOUT_MS,
                compression_type=pick_compression(), max_batch_size=OUTBOX_BATCH_BYTES)
            await self._producer.start()
        fut = await self._producer.send(topic, value, key=key, partition=partition,
                                        headers=headers)
        self._pending.append(fut)
        self.sent += 1
        self.sent_by_topic[topic] = self.sent_by_topic.get(topic, 0) + 1

    def mark(self) -> int:
        """A point in the sends (their number so far), to wait for with `delivered`."""
        return self._taken + len(self._pending)

    def landed(self, upto: int) -> bool:
        """Whether the sends before mark `upto` are acknowledged already (a failed one is
        not: `delivered` deals with it)."""
        return all(f.done() and not f.cancelled() and f.exception() is None
                   for f in self._pending[:max(0, upto - self._taken)])

    async def delivered(self, upto: int | None = None) -> None:
        """Wait until everything sent so far (or before mark `upto`) is acknowledged by
        the broker (acks=all).

        A delivery that fails for good ends the process: its batch was not acked, so the
        partition's next owner processes it again, which is the only safe way on."""
        n = len(self._pending) if upto is None else max(0, min(len(self._pending),
                                                                upto - self._taken))
        pending, self._pending = self._pending[:n], self._pending[n:]
        self._taken += n
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
