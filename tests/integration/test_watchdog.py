"""The worker's watchdog against a partition stalled on purpose.

The worker process is made to lose one delivery behind its back (tests/integration/
support/sitecustomize.py: the messages are fetched by faust and never handed to the
worker, as happened around a rebalance). Nothing more arrives for that partition, so
without the watchdog it would stall for good. The watchdog must report it within its
timeout, seek the stream back to the next offset to process, and the partition recover.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.broker import free_port
from producers.events import encode, metric_batch, sample
from streams.worker import partition_of
from tests.integration.harness import Pipeline, consume_all, produce

pytestmark = pytest.mark.integration

SUPPORT = Path(__file__).with_name("support")
STALL_S = 4


def batches(host: str, seqs: range) -> list[tuple[bytes, bytes]]:
    now = int(time.time() * 1000) - 120_000
    return [(host.encode(), encode(metric_batch(host, now + s * 1000, s, {"rack": "r1"},
                                                [sample("cpu.usage", 0.5)])))
            for s in seqs]


def watchdog_seeks(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "rackwatch_worker_watchdog_actions_total"
               and s.labels.get("action") == "seek")


def test_stalled_partition_is_reported_and_recovers(tmp_path: Path, kafka_broker: str,
                                                    topic_prefix: str) -> None:
    """One delivery lost: reported within the stall timeout, sought back, recovered."""
    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix, partitions=2)
    port = free_port()
    with open(pipe.home / "rackwatch.toml", "a") as f:
        f.write(f"[worker]\nstall_timeout_s = {STALL_S}\nmetrics_port = {port}\n")
    host = "wd-h1"
    topic = f"{topic_prefix}metrics"
    tp = (topic, partition_of(host.encode(), 2))
    pipe.env.update(RACKWATCH_TEST_LOSE=f"{topic}:{tp[1]}:5", PYTHONPATH=str(SUPPORT))
    pipe.ensure_topics()
    produce(kafka_broker, topic, batches(host, range(1, 6)))
    try:
        pipe.start("worker", "worker", "--loglevel", "info")
        processed = f"{topic_prefix}processed.metrics"
        _wait(lambda: len(consume_all(kafka_broker, processed, idle_s=1.0)) >= 5, 90)
        produced_at = time.monotonic()
        produce(kafka_broker, topic, batches(host, range(6, 11)))
        _wait(lambda: len(consume_all(kafka_broker, processed, idle_s=1.0)) >= 10, 60)
        recovered_s = time.monotonic() - produced_at
        seeks = watchdog_seeks(port)
        log = pipe.log_of("worker")
    finally:
        pipe.stop_all()
    assert f"{topic}:{tp[1]} has not moved for" in log
    assert "seeking the stream back to it" in log
    assert seeks >= 1
    assert recovered_s < STALL_S + 20
    assert len(consume_all(kafka_broker, processed, idle_s=1.0)) == 10


def _wait(cond: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (callable(cond) and cond()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.5)
