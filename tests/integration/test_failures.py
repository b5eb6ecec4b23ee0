"""Worker failures: a worker SIGKILLed mid-stream, and every worker stopped and restarted.

Workers, the sink and the store run as real processes on the session's broker, fed a
simulated fleet at a steady pace while the failure happens. Afterwards the books must
balance (every sample and log record stored once, nothing missing) and the alerts must
be those `rackwatch replay` raises over the same events, up to identical re-sends.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import orjson
import pytest

from common.broker import free_port
from tests.integration.books import (
    RULES,
    Feeder,
    alert_problems,
    consume_values,
    host_partition,
    make_input,
    owner_pid,
    replay_alerts,
    wait_alert,
    wait_books,
    wait_group,
)
from tests.integration.harness import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 6
# r00-gpu02 saturates long enough to be firing when its worker dies and to resolve
# after its partition has moved; the others fire and resolve around the failure.
MOVED_HOST = "r00-gpu02"
FAULTS = (f"cpu_saturation(host={MOVED_HOST})@4s:26s, cpu_saturation(host=r01-gpu03)@12s:20s, "
          "cpu_saturation(host=r02-gpu01)@24s:12s")


def _pipeline(tmp_path: Path, bootstrap: str, prefix: str) -> tuple[Pipeline, Path]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    pipe = Pipeline(tmp_path / "home", bootstrap, prefix, rules=rules, partitions=PARTITIONS,
                    serve_port=free_port())
    pipe.ensure_topics()
    return pipe, rules


def _alive(pipe: Pipeline) -> None:
    for name, proc in pipe.procs.items():
        assert proc.poll() is None, f"{name} exited:\n{pipe.log_of(name)[-3000:]}"


def _firing(host: str) -> object:
    return lambda a: a["host"] == host and a["status"] == "firing"


def test_worker_killed_mid_stream(tmp_path: Path, kafka_broker: str, topic_prefix: str) -> None:
    """SIGKILL the worker that holds a host with a firing alert while the others run: after
    the rebalance every sample is stored once, and the alert stays firing and resolves once."""
    pipe, rules = _pipeline(tmp_path, kafka_broker, topic_prefix)
    fin = make_input(hosts=12, racks=3, steps=48, faults=FAULTS)
    group, metrics = f"{topic_prefix}worker", f"{topic_prefix}metrics"
    alerts = f"{topic_prefix}alerts"
    try:
        pipe.start("sink", "sink")
        for i in (1, 2, 3):
            pipe.start(f"worker-{i}", "worker")
        owned = wait_group(kafka_broker, group, metrics, 3, PARTITIONS, alive=lambda: _alive(pipe))
        victim_pid = owner_pid(owned, host_partition(MOVED_HOST, PARTITIONS))
        victim = next(n for n, p in pipe.procs.items() if p.pid == victim_pid)
        feeder = Feeder(kafka_broker, topic_prefix, fin, steps_per_s=3.0)
        feeder.start()
        fired = wait_alert(kafka_broker, alerts, _firing(MOVED_HOST))  # type: ignore[arg-type]
        at_step = feeder.steps_sent
        assert at_step < len(fin.steps) - 10, "the kill must land mid-stream"
        assert pipe.stop(victim, signal.SIGKILL) == -signal.SIGKILL
        survivors = wait_group(kafka_broker, group, metrics, 2, PARTITIONS,
                               alive=lambda: _alive(pipe))
        feeder.finish()
        books = wait_books(pipe.query, fin)
        _alive(pipe)
    finally:
        pipe.stop_all()
    live = [orjson.loads(v) for v in consume_values(kafka_broker, alerts)]
    replayed = replay_alerts(pipe.cli, fin.write_jsonl(tmp_path / "events.jsonl"), rules)

    assert victim_pid not in {owner_pid(survivors, p) for p in range(PARTITIONS)}
    assert books.balanced, books.line()
    assert alert_problems(live, replayed) == []
    episode = [a for a in live if a["fingerprint"] == fired["fingerprint"]]
    assert {a["starts_at"] for a in episode} == {fired["starts_at"]}, episode
    assert episode[-1]["status"] == "resolved", episode
    assert len({a["updated_at"] for a in episode if a["status"] == "resolved"}) == 1


def test_all_workers_stopped_and_restarted(tmp_path: Path, kafka_broker: str,
                                          topic_prefix: str) -> None:
    """Every worker stops while data keeps coming and a host's alert is firing; restarted,
    they restore their state from the changelogs: nothing lost or doubled, the alert
    resolves (it is neither forgotten nor fired anew)."""
    pipe, rules = _pipeline(tmp_path, kafka_broker, topic_prefix)
    fin = make_input(hosts=12, racks=3, steps=48, faults=FAULTS)
    group, metrics = f"{topic_prefix}worker", f"{topic_prefix}metrics"
    alerts = f"{topic_prefix}alerts"
    try:
        pipe.start("sink", "sink")
        for i in (1, 2):
            pipe.start(f"worker-{i}", "worker")
        wait_group(kafka_broker, group, metrics, 2, PARTITIONS, alive=lambda: _alive(pipe))
        feeder = Feeder(kafka_broker, topic_prefix, fin, steps_per_s=3.0)
        feeder.start()
        fired = wait_alert(kafka_broker, alerts, _firing(MOVED_HOST))  # type: ignore[arg-type]
        for i in (1, 2):
            assert pipe.stop(f"worker-{i}") == 0, pipe.log_of(f"worker-{i}")[-3000:]
        stopped_at = feeder.steps_sent
        time.sleep(2.0)  # data keeps arriving while no worker runs
        for i in (1, 2):
            pipe.start(f"worker-{i}", "worker")
        feeder.finish()
        books = wait_books(pipe.query, fin, timeout=120)
        _alive(pipe)
    finally:
        pipe.stop_all()
    live = [orjson.loads(v) for v in consume_values(kafka_broker, alerts)]
    replayed = replay_alerts(pipe.cli, fin.write_jsonl(tmp_path / "events.jsonl"), rules)

    assert stopped_at < len(fin.steps) - 10, "the stop must land mid-stream"
    assert books.balanced, books.line()
    assert alert_problems(live, replayed) == []
    episode = [a for a in live if a["fingerprint"] == fired["fingerprint"]]
    assert {a["starts_at"] for a in episode} == {fired["starts_at"]}, episode
    assert episode[-1]["status"] == "resolved", episode
