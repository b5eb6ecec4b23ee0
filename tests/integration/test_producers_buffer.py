"""The publisher's buffer through a real broker stop and start: nothing lost, order kept.

This test runs its own broker (on free ports, data in a temporary directory) because
it stops and restarts it; the session broker is left alone.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from common.broker import LocalBroker, free_port
from common.config import BrokerConfig, Config, KafkaConfig
from common.topics import ensure_topics
from producers.buffer import SpillBuffer
from producers.publisher import KafkaTransport, Publisher

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOSTS = [f"h{i}" for i in range(6)]


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    broker = LocalBroker(BrokerConfig(port=free_port(), controller_port=free_port()),
                         tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def consume_all(bootstrap: str, topic: str, expect: int,
                      within_s: float = 60.0) -> list[tuple[bytes, dict[str, int]]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    out: list[tuple[bytes, dict[str, int]]] = []
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + within_s
        while loop.time() < end:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                out.extend((m.key, orjson.loads(m.value)) for m in msgs if m.key is not None)
            if len({(k, v["seq"]) for k, v in out}) >= expect:
                break
    finally:
        await consumer.stop()
    return out


def test_broker_outage_loses_nothing_and_keeps_per_host_order(
        own_broker: LocalBroker, tmp_path: Path) -> None:
    """Records published before, during and after a broker stop/start all arrive, in order."""
    cfg = Config(home=tmp_path, broker=own_broker.cfg,
                 kafka=KafkaConfig(bootstrap=own_broker.bootstrap, topic_prefix="outage.",
                                   partitions=3))
    topic = cfg.topic("metrics")

    async def main() -> tuple[Publisher, int]:
        await ensure_topics(cfg, ("metrics",))
        transport = KafkaTransport(own_broker.bootstrap, request_timeout_ms=3000)
        # A small memory part: the outage backlog has to spill to disk and come back.
        buffer = SpillBuffer(max_items=100_000, memory_items=40, spill_path=tmp_path / "spill")
        pub = Publisher(transport, buffer, max_round=100, backoff_s=0.2, max_backoff_s=1.0)
        stop = asyncio.Event()
        task = asyncio.create_task(pub.run(stop, flush_timeout=30.0))
        seq = 0

        def publish_round(n: int) -> None:
            nonlocal seq
            for _ in range(n):
                seq += 1
                for h in HOSTS:
                    pub.publish(topic, h.encode(), orjson.dumps({"host": h, "seq": seq}))

        publish_round(50)
        assert await pub.drained(30.0), "nothing should be pending before the outage"
        await asyncio.to_thread(own_broker.stop)
        for _ in range(20):  # keep producing through the outage
            publish_round(10)
            await asyncio.sleep(0.2)
        assert pub.buffered > 0 and pub.buffer.spilled > 0
        await asyncio.to_thread(own_broker.start)
        publish_round(30)
        assert await pub.drained(60.0), f"{pub.buffered} records still pending after restart"
        stop.set()
        await task
        return pub, seq

    pub, last_seq = asyncio.run(main())
    assert pub.dropped == 0
    got = asyncio.run(consume_all(own_broker.bootstrap, topic, expect=last_seq * len(HOSTS)))
    first_seen: dict[bytes, list[int]] = defaultdict(list)
    seen: set[tuple[bytes, int]] = set()
    for key, value in got:
        if (key, value["seq"]) not in seen:
            seen.add((key, value["seq"]))
            first_seen[key].append(value["seq"])
    for h in HOSTS:
        assert first_seen[h.encode()] == list(range(1, last_seq + 1)), h
