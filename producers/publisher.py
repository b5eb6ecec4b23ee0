"""Ship records to Kafka through a bounded, spilling, ordered buffer.

`publish()` never blocks and never fails: it appends to the `SpillBuffer`. A
single sender task takes records from the front in rounds, sends them, and
removes from the buffer only the prefix the broker acknowledged; anything after
the first failure stays queued, so records leave in the order they were made.
When the broker is away the sender backs off (said once, counted), rebuilds its
producer and tries again; when it returns the backlog goes out first.

Durability callbacks: each record may carry a token (a log position, a kmsg seq);
the buffer's `on_done(token)` fires once the record is acknowledged, written to
the spill file, or dropped on overflow (counted), so the agent can commit its
read positions.

`Transport` is the broker side of the loop: `KafkaTransport` uses aiokafka
(acks=all, idempotence on, zstd when available else gzip); tests plug in fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from common.kafka import KafkaClient, pick_compression
from common.kafka import producer as kafka_producer
from producers.buffer import Record, SpillBuffer
from producers.problems import Problems

__all__ = ["KafkaTransport", "Publisher", "PublisherStats", "Transport"]

log = logging.getLogger(__name__)


class Transport(Protocol):
    """Where records go: start, send a round (one result per record), stop."""

    description: str

    async def start(self) -> None:
        """Connect; raises if the destination cannot be reached."""
        ...

    async def send(self, records: Sequence[Record]) -> list[BaseException | None]:
        """Send in order; one entry per record: None when acknowledged, else the error."""
        ...

    async def stop(self) -> None:
        """Disconnect (never raises)."""
        ...


class KafkaTransport:
    """aiokafka's producer, built fresh on each start so a long outage leaves no stale state."""

    def __init__(self, bootstrap: str | KafkaClient, *, client_id: str = "rackwatch-producer",
                 compression: str = "auto", request_timeout_ms: int = 15_000,
                 linger_ms: int = 20, max_batch_size: int = 256 * 1024,
                 prepare: Callable[[], Awaitable[object]] | None = None) -> None:
        self.kafka = bootstrap if isinstance(bootstrap, KafkaClient) else KafkaClient(bootstrap)
        self.bootstrap = self.kafka.bootstrap
        self.description = f"Kafka at {self.kafka.describe()}"
        self.client_id = client_id
        self.compression = pick_compression() if compression == "auto" else compression
        self.request_timeout_ms = request_timeout_ms
        self.linger_ms = linger_ms
        self.max_batch_size = max_batch_size
        self.prepare = prepare  # run once after the first successful connection
        self._producer: object | None = None

    async def start(self) -> None:
        producer = kafka_producer(
            self.kafka,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            compression_type=self.compression,
            linger_ms=self.linger_ms,
            max_batch_size=self.max_batch_size,
            request_timeout_ms=self.request_timeout_ms,
        )
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._producer = producer
        if self.prepare is not None:
            prepare, self.prepare = self.prepare, None
            try:
                await prepare()
            except Exception as e:  # topics may already exist or be auto-created
                log.warning("preparing topics on %s failed: %s", self.bootstrap, e)

    async def send(self, records: Sequence[Record]) -> list[BaseException | None]:
        from aiokafka import AIOKafkaProducer

        producer = self._producer
        assert isinstance(producer, AIOKafkaProducer), "send() before start()"
        futures: list[asyncio.Future[object]] = []
        failed: BaseException | None = None
        for r in records:
            try:
                futures.append(await producer.send(r.topic, r.value, key=r.key))
            except Exception as e:  # metadata timeout, closed producer...
                failed = e
                break
        results: list[BaseException | None] = [
            r if isinstance(r, BaseException) else None
            for r in await asyncio.gather(*futures, return_exceptions=True)
        ]
        if failed is not None:
            results.extend([failed] * (len(records) - len(results)))
        return results

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            from aiokafka import AIOKafkaProducer

            assert isinstance(producer, AIOKafkaProducer)
            # Nothing is in flight here (every send was awaited or given up on), so a
            # stop that hangs is a broker that is away: do not wait for it long.
            try:
                await asyncio.wait_for(producer.stop(), timeout=3.0)
            except Exception as e:
                log.debug("producer stop: %s", e)


def _is_poison(err: BaseException) -> bool:
    """Errors that retrying can never fix for this record: drop it, counted."""
    from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError

    return isinstance(err, MessageSizeTooLargeError | RecordTooLargeError)


@dataclass(slots=True)
class PublisherStats:
    """Totals since start."""

    published: int = 0
    sent: int = 0
    rejected: int = 0  # records the broker can never take (too large), dropped
    failed_rounds: int = 0
    connects: int = 0


class Publisher:
    """The ordered sender loop over a `SpillBuffer`."""

    def __init__(self, transport: Transport, buffer: SpillBuffer, *, max_round: int = 500,
                 backoff_s: float = 0.5, max_backoff_s: float = 10.0,
                 problems: Problems | None = None) -> None:
        self.transport = transport
        self.buffer = buffer
        self.max_round = max_round
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.problems = problems or Problems()
        self.stats = PublisherStats()
        self.connected = False
        self.left_at_close = 0  # records kept in the spill file for the next start
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    @property
    def buffered(self) -> int:
        """Records waiting (memory and spill file)."""
        return len(self.buffer)

    @property
    def dropped(self) -> int:
        """Records lost to buffer overflow or rejected by the broker."""
        return self.buffer.dropped + self.stats.rejected

    def publish(self, topic: str, key: bytes, value: bytes, token: object = None) -> None:
        """Queue one record; returns at once."""
        self.buffer.append(Record(topic, key, value, token))
        self.stats.published += 1
        self._wake.set()

    async def wait_room(self, limit: int) -> None:
        """Wait until fewer than `limit` records are queued (back-pressure for the simulator)."""
        while len(self.buffer) >= limit:
            self._room.clear()
            await self._room.wait()

    async def drained(self, within_s: float) -> bool:
        """Wait up to `within_s` seconds for the queue to empty; whether it did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while len(self.buffer) and loop.time() < deadline:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), max(deadline - loop.time(), 0.01))
        return not len(self.buffer)

    async def _connect(self) -> bool:
        try:
            await self.transport.start()
        except Exception as e:
            self.problems.report("broker", f"cannot reach {self.transport.description}: {e}; "
                                           f"buffering ({len(self.buffer)} queued)")
            return False
        self.connected = True
        self.stats.connects += 1
        if self.problems.is_active("broker"):
            self.problems.clear("broker", f"{self.transport.description} is back; sending "
                                          f"{len(self.buffer)} buffered records in order")
        return True

    async def _disconnect(self) -> None:
        self.connected = False
        await self.transport.stop()

    async def _round(self) -> bool:
        records = self.buffer.peek(self.max_round)
        if not records:
            return True
        results = await self.transport.send(records)
        ok = 0
        for res in results:
            if res is not None:
                break
            ok += 1
        done = self.buffer.pop(ok)
        self.stats.sent += ok
        on_done = self.buffer.on_done
        if on_done is not None:
            for r in done:
                if r.token is not None:
                    on_done(r.token)
        if ok:
            self._room.set()
        if ok == len(records):
            return True
        err = results[ok]
        assert err is not None
        if _is_poison(err):
            (bad,) = self.buffer.pop(1)
            self.stats.rejected += 1
            log.error("the broker rejected a record for %s (%d bytes) for good: %s; dropped",
                      bad.topic, len(bad.value), err)
            if bad.token is not None and on_done is not None:
                on_done(bad.token)
            return True
        self.stats.failed_rounds += 1
        self.problems.report("broker", f"sending to {self.transport.description} failed: "
                                       f"{type(err).__name__}: {err}; buffering and retrying "
                                       f"({len(self.buffer)} queued)")
        return False

    async def _sleep(self, seconds: float, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def _unless_stopped(self, coro: Awaitable[bool], stop: asyncio.Event,
                              grace_s: float = 2.0) -> bool:
        """Run `coro`; if `stop` comes first, give it `grace_s` more, then cancel it (False)."""
        task = asyncio.ensure_future(coro)
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=grace_s)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                return False
            return bool(task.result())
        finally:
            stopper.cancel()

    async def run(self, stop: asyncio.Event, *, flush_timeout: float = 10.0) -> None:
        """Send until `stop` is set, then flush for up to `flush_timeout` and persist the rest.

        A send or connection attempt in progress when `stop` comes gets a short grace,
        so shutdown stays prompt even while the broker is unreachable.
        """
        backoff = self.backoff_s
        try:
            while not stop.is_set():
                if not len(self.buffer):
                    self._wake.clear()
                    waiter = asyncio.ensure_future(self._wake.wait())
                    stopper = asyncio.ensure_future(stop.wait())
                    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    stopper.cancel()
                    continue
                if not self.connected and not await self._unless_stopped(self._connect(), stop):
                    await self._sleep(backoff, stop)
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                if await self._unless_stopped(self._round(), stop):
                    backoff = self.backoff_s
                    continue
                await self._disconnect()
                await self._sleep(backoff, stop)
                backoff = min(backoff * 2, self.max_backoff_s)
            if self.connected:  # a broker that is away now gets no more waiting at shutdown
                await self._flush(flush_timeout)
        finally:
            await self._disconnect()
            self.left_at_close = len(self.buffer)
            self.buffer.close()
            self._room.set()

    async def _flush(self, within_s: float) -> None:
        """Send what is queued while sends keep succeeding, for up to `within_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while len(self.buffer) and loop.time() < deadline:
            try:
                ok = await asyncio.wait_for(self._round(), max(deadline - loop.time(), 0.01))
            except TimeoutError:
                break
            if not ok:
                break
        if len(self.buffer):
            log.warning("shutdown: %d records not delivered within %.1fs; keeping them for the "
                        "next start", len(self.buffer), within_s)
