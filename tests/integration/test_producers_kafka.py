"""Agent and simulator against the session's real broker: keys, topics, compression, counts."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from common.config import Config, KafkaConfig
from producers.agent import AgentOptions, run_agent
from producers.simulator import SimOptions, run_simulator

pytestmark = pytest.mark.integration


async def consume(bootstrap: str, topics: list[str], expect: int,
                  within_s: float = 30.0) -> list[tuple[str, bytes, dict[str, object]]]:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    out: list[tuple[str, bytes, dict[str, object]]] = []
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + within_s
        while len(out) < expect and loop.time() < end:
            for tp, msgs in (await consumer.getmany(timeout_ms=500)).items():
                out.extend((tp.topic, m.key or b"", orjson.loads(m.value)) for m in msgs)
    finally:
        await consumer.stop()
    return out


def config(tmp_path: Path, bootstrap: str, prefix: str) -> Config:
    return Config(home=tmp_path, kafka=KafkaConfig(bootstrap=bootstrap, topic_prefix=prefix,
                                                   partitions=3))


def test_simulator_publishes_every_event(kafka_broker: str, topic_prefix: str,
                                         tmp_path: Path) -> None:
    """Every simulated batch and log line lands on its topic, keyed by host."""
    cfg = config(tmp_path, kafka_broker, topic_prefix)
    opts = SimOptions(hosts=24, interval_s=5, batches=20, seed=5,
                      faults="gpu_xid_79@20s:40s, nccl_timeout(timeout=30s)@10s:60s")
    stats = asyncio.run(run_simulator(cfg, opts, stop=asyncio.Event()))
    assert stats.sent == stats.batches + stats.log_events and stats.buffered == 0
    got = asyncio.run(consume(kafka_broker, [cfg.topic("metrics"), cfg.topic("logs")],
                              stats.batches + stats.log_events))
    per_topic = Counter(t for t, _, _ in got)
    assert per_topic == {cfg.topic("metrics"): stats.batches, cfg.topic("logs"): stats.log_events}
    assert all(key.decode() == ev["host"] for _, key, ev in got)


def test_agent_publishes_batches(kafka_broker: str, topic_prefix: str, tmp_path: Path) -> None:
    """This host's agent ships its batches to the metrics topic with increasing seq."""
    cfg = config(tmp_path, kafka_broker, topic_prefix)
    opts = AgentOptions.from_config(cfg, interval_s=0.3, duration_s=1.6, host="itest",
                                    labels={"rack": "r1"}, gpu=False, per_core=False)
    stats = asyncio.run(run_agent(cfg, stop=asyncio.Event(), options=opts))
    assert stats.batches >= 3 and stats.sent == stats.batches
    got = asyncio.run(consume(kafka_broker, [cfg.topic("metrics")], stats.batches))
    seqs = [int(str(ev["seq"])) for _, _, ev in got]
    assert len(seqs) == stats.batches and seqs == sorted(seqs)
    assert {key for _, key, _ in got} == {b"itest"}
