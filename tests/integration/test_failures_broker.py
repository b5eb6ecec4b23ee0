"""The broker restarted under a running pipeline.

This test runs its own broker (free ports, data in a temporary directory), since it stops
and starts it; the session's broker is left alone. The simulator publishes the fleet's
metric batches and an agent-style publisher the log lines; both buffer while the broker
is away and send the backlog when it is back; workers and the sink reconnect by
themselves. Nothing may be lost or doubled, and the alerts must equal a replay's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from common.broker import LocalBroker, free_port
from common.config import BrokerConfig, Config
from producers.buffer import SpillBuffer
from producers.publisher import KafkaTransport, Publisher
from producers.simulator.runner import SimStats, run_simulator
from tests.integration.books import (
    RULES,
    FleetInput,
    alert_problems,
    consume_values,
    make_input,
    replay_alerts,
    wait_alert,
    wait_books,
    wait_group,
)
from tests.integration.harness import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
STEPS_PER_S = 3.0
HOSTS = 12
FAULTS = ("cpu_saturation(host=r00-gpu02)@4s:26s, cpu_saturation(host=r01-gpu03)@12s:20s, "
          "cpu_saturation(host=r02-gpu01)@24s:12s")


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    broker = LocalBroker(BrokerConfig(port=free_port(), controller_port=free_port()),
                         tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


class Producers(threading.Thread):
    """The simulator (metric batches) and an agent-style publisher (log lines), both
    through the producers' buffering publisher, paced at STEPS_PER_S."""

    def __init__(self, cfg: Config, fin: FleetInput) -> None:
        super().__init__(daemon=True, name="producers")
        self.cfg, self.fin = cfg, fin
        self.sim: SimStats | None = None
        self.agent: Publisher | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # reported by finish()
            self.error = e

    async def _main(self) -> None:
        opts = dataclasses.replace(self.fin.sim_options(), batches=len(self.fin.steps),
                                   rate=HOSTS * STEPS_PER_S)
        sim = asyncio.create_task(run_simulator(self.cfg, opts, stop=asyncio.Event()))
        transport = KafkaTransport(self.cfg.bootstrap, client_id="test-agent",
                                   request_timeout_ms=3000)
        buffer = SpillBuffer(max_items=100_000, memory_items=50,
                             spill_path=self.cfg.home / "agent.spill")
        agent = self.agent = Publisher(transport, buffer, backoff_s=0.2, max_backoff_s=1.0)
        stop = asyncio.Event()
        sender = asyncio.create_task(agent.run(stop, flush_timeout=30.0))
        for step in self.fin.steps:
            for short, key, value in step:
                if short == "logs":
                    agent.publish(self.cfg.topic("logs"), key, value)
            await asyncio.sleep(1 / STEPS_PER_S)
        assert await agent.drained(90.0), f"{agent.buffered} log lines still buffered"
        stop.set()
        await sender
        self.sim = await sim

    def finish(self, timeout: float = 150.0) -> None:
        self.join(timeout)
        if self.error is not None:
            raise self.error
        assert self.sim is not None, "producers still running"


def test_broker_restart_loses_nothing(tmp_path: Path, own_broker: LocalBroker,
                                      topic_prefix: str) -> None:
    """The broker stops mid-stream and comes back: producers buffer and resend, workers
    and sink reconnect, and every sample, log line and alert arrives once."""
    bootstrap = own_broker.bootstrap
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    pipe = Pipeline(tmp_path / "home", bootstrap, topic_prefix, rules=rules,
                    partitions=PARTITIONS, serve_port=free_port())
    fin = make_input(hosts=HOSTS, racks=3, steps=48, faults=FAULTS)
    pipe.ensure_topics()
    producers = Producers(pipe.config(), fin)
    try:
        pipe.start("sink", "sink")
        for i in (1, 2):
            pipe.start(f"worker-{i}", "worker")
        wait_group(bootstrap, f"{topic_prefix}worker", f"{topic_prefix}metrics", 2, PARTITIONS)
        producers.start()
        wait_alert(bootstrap, f"{topic_prefix}alerts", lambda a: a["status"] == "firing")
        own_broker.stop()
        time.sleep(5.0)  # the producers keep producing into their buffers
        assert producers.agent is not None
        buffered = producers.agent.buffered
        own_broker.start()
        producers.finish()
        books = wait_books(pipe.query, fin, timeout=120)
        for name, proc in pipe.procs.items():
            assert proc.poll() is None, f"{name} exited:\n{pipe.log_of(name)[-3000:]}"
    finally:
        pipe.stop_all()
    live = [orjson.loads(v) for v in consume_values(bootstrap, f"{topic_prefix}alerts")]
    replayed = replay_alerts(pipe.cli, fin.write_jsonl(tmp_path / "events.jsonl"), rules)

    assert producers.sim is not None and producers.agent is not None
    assert buffered > 0  # the agent did hold lines back while the broker was away
    assert producers.sim.batches == fin.batches and producers.sim.dropped == 0
    assert producers.agent.dropped == 0
    assert books.balanced, books.line()
    assert alert_problems(live, replayed) == []
