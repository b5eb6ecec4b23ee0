"""Scaling out: worker processes share the partitions and their state, and the result is
the same as one process's.

Two `rackwatch worker` processes start in one consumer group, take half a simulated
fleet's stream each, then a third joins mid-stream, so partitions and their state
(dedup, smoothing, rule and alert state) move to it. The store must hold every sample
once, and the alerts must be those `rackwatch replay` raises over the same events.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from common.broker import free_port
from tests.integration.books import (
    RULES,
    alert_problems,
    consume_values,
    make_input,
    produce_messages,
    repeats,
    replay_alerts,
    wait_books,
    wait_group,
)
from tests.integration.harness import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 6
# Three hosts saturate their CPU for a while, so alerts fire and resolve while the
# partitions move.
FAULTS = ("cpu_saturation(host=r00-gpu02)@4s:20s, cpu_saturation(host=r01-gpu03)@10s:22s, "
          "cpu_saturation(host=r02-gpu01)@18s:14s")


def test_two_then_three_workers_match_a_single_replay(tmp_path: Path, kafka_broker: str,
                                                      topic_prefix: str) -> None:
    """Two workers split the stream, a third joins mid-stream and takes partitions with
    their state: every sample is stored once and the alerts equal a single replay's."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix, rules=rules,
                    partitions=PARTITIONS, serve_port=free_port())
    fin = make_input(hosts=12, racks=3, steps=40, faults=FAULTS)
    group, metrics = f"{topic_prefix}worker", f"{topic_prefix}metrics"
    pipe.ensure_topics()

    def alive() -> None:
        for name, proc in pipe.procs.items():
            assert proc.poll() is None, f"{name} exited:\n{pipe.log_of(name)[-3000:]}"

    try:
        pipe.start("sink", "sink")
        pipe.start("worker-1", "worker")
        pipe.start("worker-2", "worker")
        two = wait_group(kafka_broker, group, metrics, 2, PARTITIONS, alive=alive)
        for k in range(20):
            produce_messages(kafka_broker, topic_prefix, fin.messages(k, k + 1))
        pipe.start("worker-3", "worker")
        three = wait_group(kafka_broker, group, metrics, 3, PARTITIONS, alive=alive)
        for k in range(20, len(fin.steps)):
            produce_messages(kafka_broker, topic_prefix, fin.messages(k, k + 1))
        books = wait_books(pipe.query, fin)
        alive()
    finally:
        pipe.stop_all()
    live = [orjson.loads(v) for v in consume_values(kafka_broker, f"{topic_prefix}alerts")]
    replayed = replay_alerts(pipe.cli, fin.write_jsonl(tmp_path / "events.jsonl"), rules)

    assert len(two) == 2 and len(three) == 3, (two, three)
    assert books.balanced, books.line()
    assert len(replayed) >= 6, replayed  # the three faults fired and resolved
    assert alert_problems(live, replayed) == []
    assert repeats(live) == {}  # nobody crashed: not even a re-send
