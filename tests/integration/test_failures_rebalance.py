"""Workers killed while the group is still settling, the broker killed in between.

The sequence that once stopped the pipeline for good, without a word: a backlog is in
the broker; the worker is SIGKILLed and restarted three times a few seconds apart, so
each new one joins a group still rebalancing, and the broker itself is SIGKILLed and
restarted between the second and the third kill. Every sample must be stored once and
the alerts must be `rackwatch replay`'s over the same events, silent hosts included: the
fleet is small (12 hosts on 12 partitions), so a host the simulator silences for two
minutes is alone on its partition, and its silence is judged from the backlog as replay
judges it. This test runs its own broker, since it kills it.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from common.broker import LocalBroker, free_port
from common.config import BrokerConfig
from tests.integration.books import (
    alert_problems,
    consume_values,
    make_input,
    produce_messages,
    replay_alerts,
    wait_books,
)
from tests.integration.harness import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 12
RULES = """
groups:
  - name: rebalance
    repeat_interval: 1h
    keep_resolved_for: 1h
    resend_resolved_every: 1h
    stale_after: 1h
    rules:
      - alert: CpuSaturated
        kind: threshold
        metric: cpu.usage
        above: 90%
        clear: 80%
        for: 3s
        labels: {severity: warning}
      - alert: HostSilent
        kind: absent
        duration: 30s
        labels: {severity: critical}
"""
FAULTS = ("cpu_saturation(host=r00-gpu02)@20s:40s, host_silent(host=r01-gpu03)@60s:120s, "
          "host_silent(host=r02-gpu01)@100s:90s")


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    broker = LocalBroker(BrokerConfig(port=free_port(), controller_port=free_port()),
                         tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_worker_kills_during_rebalance_and_a_broker_kill(tmp_path: Path,
                                                         own_broker: LocalBroker,
                                                         topic_prefix: str) -> None:
    """Three worker SIGKILLs 1-4 s apart, the broker SIGKILLed between the second and the
    third: nothing stalls, every sample is stored once, alerts equal replay."""
    bootstrap = own_broker.bootstrap
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    pipe = Pipeline(tmp_path / "home", bootstrap, topic_prefix, rules=rules,
                    partitions=PARTITIONS, serve_port=free_port())
    # History, not live data (two hours old): judged up to its end, as replay judges it.
    start = int(time.time() * 1000) - 7_200_000
    fin = make_input(hosts=12, racks=3, steps=300, faults=FAULTS, log_every=20,
                     start_ms=start - start % 1000)
    pipe.ensure_topics()
    produce_messages(bootstrap, topic_prefix, fin.messages())
    try:
        pipe.start("sink", "sink")
        pipe.start("worker", "worker")
        for k in range(3):
            time.sleep(2.0 + k)
            if k == 2:
                own_broker.kill()
                time.sleep(2.0)
                own_broker.start()
            pipe.stop("worker", sig=signal.SIGKILL)
            time.sleep(1.0)
            pipe.start("worker", "worker")
        books = wait_books(pipe.query, fin, timeout=240)
        time.sleep(5.0)  # the last resolutions reach the topic
        for name, proc in pipe.procs.items():
            assert proc.poll() is None, f"{name} exited:\n{pipe.log_of(name)[-3000:]}"
    finally:
        pipe.stop_all()
    live = [orjson.loads(v) for v in consume_values(bootstrap, f"{topic_prefix}alerts")]
    replayed = replay_alerts(pipe.cli, fin.write_jsonl(tmp_path / "events.jsonl"), rules)
    assert books.balanced, books.line()
    assert {a["host"] for a in replayed if a["rule"] == "HostSilent"} >= {"r01-gpu03",
                                                                          "r02-gpu01"}
    assert alert_problems(live, replayed) == []
