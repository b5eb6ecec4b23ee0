"""The publisher's sender loop with a scripted transport: outages, partial failures, order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError

from common.kafka import pick_compression
from producers.buffer import Record, SpillBuffer
from producers.publisher import Publisher


class Scripted:
    """A transport whose broker is up or down on command; it records what it delivered."""

    description = "scripted broker"

    def __init__(self) -> None:
        self.up = True
        self.delivered: list[bytes] = []
        self.fail_at: int | None = None  # fail the record at this index of the next round
        self.poison: set[bytes] = set()
        self.starts = 0

    async def start(self) -> None:
        if not self.up:
            raise KafkaConnectionError("Connection refused")
        self.starts += 1

    async def send(self, records: Sequence[Record]) -> list[BaseException | None]:
        await asyncio.sleep(0)
        out: list[BaseException | None] = []
        for i, r in enumerate(records):
            if not self.up:
                out.append(KafkaTimeoutError())
            elif r.value in self.poison:
                out.append(MessageSizeTooLargeError())
            elif self.fail_at is not None and i >= self.fail_at:
                out.append(KafkaTimeoutError())
            else:
                self.delivered.append(r.value)
                out.append(None)
        self.fail_at = None
        return out

    async def stop(self) -> None:
        return None


def make(tmp_path: Path, transport: Scripted, done: list[object] | None = None,
         max_items: int = 10_000) -> Publisher:
    buf = SpillBuffer(max_items=max_items, memory_items=50, spill_path=tmp_path / "spill",
                      on_done=done.append if done is not None else None)
    return Publisher(transport, buf, max_round=20, backoff_s=0.01, max_backoff_s=0.05)


async def until(cond: Callable[[], bool], within_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within_s
    while not cond():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.005)


def values(n: int) -> list[bytes]:
    return [str(i).encode() for i in range(n)]


class TestPublisher:
    def test_delivers_in_order(self, tmp_path: Path) -> None:
        """Everything published is delivered, in publish order."""
        async def main() -> list[bytes]:
            t = Scripted()
            p = make(tmp_path, t)
            stop = asyncio.Event()
            task = asyncio.create_task(p.run(stop))
            for v in values(300):
                p.publish("m", b"h", v)
            await until(lambda: len(t.delivered) == 300)
            stop.set()
            await task
            return t.delivered

        assert asyncio.run(main()) == values(300)

    def test_broker_refusing_at_start_then_returning(self, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
        """A refused connection is said once; everything buffered goes out when it comes back."""
        async def main() -> tuple[list[bytes], Publisher]:
            t = Scripted()
            t.up = False
            p = make(tmp_path, t)
            stop = asyncio.Event()
            task = asyncio.create_task(p.run(stop))
            for v in values(120):
                p.publish("m", b"h", v)
                await asyncio.sleep(0.001)
            assert t.delivered == []
            t.up = True
            await until(lambda: len(t.delivered) == 120)
            stop.set()
            await task
            return t.delivered, p

        delivered, p = asyncio.run(main())
        assert delivered == values(120)
        assert p.problems.counts["broker"] >= 2
        assert sum("cannot reach" in r.message for r in caplog.records) == 1

    def test_outage_mid_stream_keeps_order_and_loses_nothing(self, tmp_path: Path) -> None:
        """A broker that goes away and returns: every record delivered, first copies in order."""
        async def main() -> list[bytes]:
            t = Scripted()
            p = make(tmp_path, t)
            stop = asyncio.Event()
            task = asyncio.create_task(p.run(stop))
            for i, v in enumerate(values(400)):
                if i == 100:
                    t.up = False
                if i == 300:
                    t.up = True
                p.publish("m", b"h", v)
                await asyncio.sleep(0)
            await until(lambda: len(set(t.delivered)) == 400)
            stop.set()
            await task
            return t.delivered

        delivered = asyncio.run(main())
        first_seen = list(dict.fromkeys(delivered))
        assert first_seen == values(400)

    def test_partial_round_failure_resends_only_the_rest(self, tmp_path: Path) -> None:
        """Only the acknowledged prefix leaves the buffer; the rest is resent, in order."""
        async def main() -> list[bytes]:
            t = Scripted()
            t.fail_at = 5
            p = make(tmp_path, t)
            for v in values(15):
                p.publish("m", b"h", v)
            stop = asyncio.Event()
            task = asyncio.create_task(p.run(stop))
            await until(lambda: len(t.delivered) == 15)
            stop.set()
            await task
            return t.delivered

        assert asyncio.run(main()) == values(15)

    def test_poison_record_is_dropped_and_counted(self, tmp_path: Path) -> None:
        """A record the broker can never accept is dropped (counted) instead of blocking all."""
        async def main() -> tuple[list[bytes], Publisher, list[object]]:
            t = Scripted()
            t.poison = {b"3"}
            done: list[object] = []
            p = make(tmp_path, t, done)
            for v in values(6):
                p.publish("m", b"h", v, token=v)
            stop = asyncio.Event()
            task = asyncio.create_task(p.run(stop))
            await until(lambda: p.buffered == 0)
            stop.set()
            await task
            return t.delivered, p, done

        delivered, p, done = asyncio.run(main())
        assert list(dict.fromkeys(delivered)) == [b"0", b"1", b"2", b"4", b"5"]
        assert p.stats.rejected == 1 and p.dropped == 1
        assert b"3" in done

    def test_tokens_are_released_on_delivery(self, tmp_path: Path) -> None:
        """Each token is reported once its record is acknowledged."""
        async def main() -> list[object]:
            t = Scripted()
            done: list[object] = []
            p = make(tmp_path, t, done)
            stop = asyncio.Event()
            task = asyncio.create_task(p.run(stop))
            for i in range(10):
                p.publish("m", b"h", b"x", token=i)
            await until(lambda: len(done) == 10)
            stop.set()
            await task
            return done

        assert asyncio.run(main()) == list(range(10))

    def test_undelivered_records_are_kept_for_the_next_start(self, tmp_path: Path) -> None:
        """Stopping while the broker is away persists the queue; the next run sends it first."""
        async def first() -> None:
            t = Scripted()
            t.up = False
            p = make(tmp_path, t)
            stop = asyncio.Event()
            task = asyncio.create_task(p.run(stop, flush_timeout=0.05))
            for v in values(30):
                p.publish("m", b"h", v)
            await asyncio.sleep(0.02)
            stop.set()
            await task

        async def second() -> list[bytes]:
            t = Scripted()
            p = make(tmp_path, t)
            assert p.buffered == 30
            stop = asyncio.Event()
            task = asyncio.create_task(p.run(stop))
            p.publish("m", b"h", b"new")
            await until(lambda: len(t.delivered) == 31)
            stop.set()
            await task
            return t.delivered

        asyncio.run(first())
        assert asyncio.run(second()) == [*values(30), b"new"]

    def test_wait_room_applies_back_pressure(self, tmp_path: Path) -> None:
        """wait_room blocks while the queue is at the limit and returns once it drains."""
        async def main() -> bool:
            t = Scripted()
            t.up = False
            p = make(tmp_path, t)
            stop = asyncio.Event()
            task = asyncio.create_task(p.run(stop))
            for v in values(10):
                p.publish("m", b"h", v)
            waiter = asyncio.create_task(p.wait_room(5))
            await asyncio.sleep(0.05)
            blocked = not waiter.done()
            t.up = True
            await asyncio.wait_for(waiter, 5)
            stop.set()
            await task
            return blocked

        assert asyncio.run(main())


class Hanging(Scripted):
    """A broker that accepts the connection and then never answers."""

    async def send(self, records: Sequence[Record]) -> list[BaseException | None]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_shutdown_is_prompt_while_the_broker_hangs(tmp_path: Path) -> None:
    """A stop during a send that never completes returns within the grace and keeps the data."""
    async def main() -> tuple[float, Publisher]:
        p = make(tmp_path, Hanging())
        stop = asyncio.Event()
        task = asyncio.create_task(p.run(stop, flush_timeout=30.0))
        for v in values(20):
            p.publish("m", b"h", v)
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        stop.set()
        await task
        return loop.time() - t0, p

    took, p = asyncio.run(main())
    assert took < 5.0
    assert p.left_at_close == 20
    kept = SpillBuffer(max_items=100, memory_items=10, spill_path=tmp_path / "spill")
    assert len(kept) == 20
    kept.close()


def test_compression_choice() -> None:
    """zstd when aiokafka can use it, gzip otherwise; never a codec aiokafka lacks."""
    from aiokafka.codec import has_zstd

    assert pick_compression() == ("zstd" if has_zstd() else "gzip")
