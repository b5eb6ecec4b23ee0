"""A producer that starts again from scratch is never mistaken for its own duplicates.

`rackwatch simulate` run twice against one worker numbers its batches from 1 both times,
as an agent whose state file was wiped does; each run is a new producer epoch, so the
second run's data is stored like the first's, while a real resend (the same epoch and
seq again) is still dropped, and counted where operators look.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.broker import free_port
from tests.integration.harness import Pipeline, produce

pytestmark = pytest.mark.integration


def dedup_verdicts(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {s.labels["reason"]: s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == "rackwatch_worker_dedup_verdicts_total"
            and s.labels.get("stream") == "metrics"}


def test_simulate_twice_shows_the_fleet_again(tmp_path: Path, kafka_broker: str,
                                             topic_prefix: str) -> None:
    """Two simulator runs (seqs from 1 each time) are both stored, once each."""
    port = free_port()
    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix, partitions=4,
                    serve_port=free_port())
    with open(pipe.home / "rackwatch.toml", "a") as f:
        f.write(f"[worker]\nmetrics_port = {port}\n")
    pipe.ensure_topics()
    start = int(time.time() * 1000) - 120_000
    start -= start % 1000
    try:
        pipe.start("sink", "sink")
        pipe.start("worker", "worker")
        counts = []
        for k in range(2):  # the second run starts 30 s of event time after the first
            res = pipe.cli("simulate", "--hosts", "4", "--batches", "20", "--interval", "1",
                           "--seed", "3", "--start-ms", str(start + 30_000 * k),
                           timeout=120)
            assert res.returncode == 0, res.stderr
            counts.append(int(res.stderr.split("batches (")[1].split(" samples")[0]))
        rows = pipe.wait_for("SELECT count() AS n FROM metrics",
                             lambda r: bool(r) and int(str(r[0]["n"])) >= sum(counts),
                             timeout=120)
        time.sleep(3)
        verdicts = dedup_verdicts(port)
        stored = pipe.query("SELECT count() AS n, uniqExact(host, name, ts, labels) AS u "
                            "FROM metrics")
    finally:
        pipe.stop_all()
    assert int(str(rows[0]["n"])) == sum(counts)
    assert int(str(stored[0]["n"])) == int(str(stored[0]["u"])) == sum(counts)
    assert verdicts.get("new_epoch", 0) == 4  # each host of the second run
    assert verdicts.get("duplicate", 0) == 0


def test_a_resent_batch_is_dropped_and_counted(tmp_path: Path, kafka_broker: str,
                                              topic_prefix: str) -> None:
    """The same batch twice (a producer's resend after a broker error): stored once, and
    the drop is counted on the worker's /metrics."""
    port = free_port()
    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix, partitions=2,
                    serve_port=free_port())
    with open(pipe.home / "rackwatch.toml", "a") as f:
        f.write(f"[worker]\nmetrics_port = {port}\n")
    pipe.ensure_topics()
    now = int(time.time() * 1000) - 60_000
    batches = [orjson.dumps({"schema": "rackwatch.metrics/v1", "host": "rs-1",
                             "ts": now + i * 1000, "seq": i, "epoch": "e1",
                             "labels": {"rack": "r1"},
                             "samples": [{"name": "cpu.usage", "value": 0.5}]})
               for i in range(1, 6)]
    try:
        pipe.start("sink", "sink")
        pipe.start("worker", "worker")
        produce(kafka_broker, f"{topic_prefix}metrics",
                [(b"rs-1", b) for b in [*batches, batches[2], batches[3]]])
        pipe.wait_for("SELECT count() AS n FROM metrics",
                      lambda r: bool(r) and int(str(r[0]["n"])) >= 5, timeout=90)
        time.sleep(3)
        stored = pipe.query("SELECT count() AS n FROM metrics")
        verdicts = dedup_verdicts(port)
    finally:
        pipe.stop_all()
    assert int(str(stored[0]["n"])) == 5
    assert verdicts.get("duplicate") == 2
