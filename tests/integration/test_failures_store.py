"""The ClickHouse store failing for a while under a running pipeline.

Workers run as processes; the sink runs in this process (on a thread, with its own event
loop) so that its store can be made to fail on purpose (`tests.support.insert_faults.InsertFaults`).
While the store is down the sink retries, stops consuming (its buffer stays under the
configured bound while the backlog waits in Kafka), and commits nothing; once the store
is back, everything lands, once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from common.broker import free_port
from common.config import Config
from sinks.run import run_sink
from sinks.settings import SinkSettings
from sinks.stats import SinkStats
from tests.integration.books import (
    RULES,
    Feeder,
    alert_problems,
    consume_values,
    make_input,
    replay_alerts,
    wait_alert,
    wait_books,
    wait_group,
)
from tests.integration.harness import Pipeline
from tests.support.insert_faults import InsertFaults

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
MAX_PENDING_ROWS = 3000
POLL_MESSAGES = 1000  # the most the sink takes in one poll (sinks/service.py)
OUTAGE_S = 10.0
FAULTS = ("cpu_saturation(host=r00-gpu02)@4s:26s, cpu_saturation(host=r01-gpu03)@12s:20s, "
          "cpu_saturation(host=r02-gpu01)@24s:12s")


class SinkThread(threading.Thread):
    """`run_sink` on its own event loop, stoppable from the test."""

    def __init__(self, cfg: Config, settings: SinkSettings, faults: InsertFaults) -> None:
        super().__init__(daemon=True, name="sink")
        self.cfg, self.settings, self.faults = cfg, settings, faults
        self.ready = threading.Event()
        self.stats: SinkStats | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._halt: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # reported by finish()
            self.error = e
            self.ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._halt = asyncio.Event()
        ready = asyncio.Event()
        task = asyncio.create_task(run_sink(self.cfg, stop=self._halt, ready=ready,
                                            faults=self.faults, settings=self.settings))
        await asyncio.wait([task, asyncio.create_task(ready.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
        self.ready.set()
        self.stats = await task

    def finish(self) -> SinkStats:
        if self._loop is not None and self._halt is not None:
            self._loop.call_soon_threadsafe(self._halt.set)
        self.join(60)
        if self.error is not None:
            raise self.error
        assert self.stats is not None
        return self.stats


def sink_status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as r:
        status: dict[str, Any] = orjson.loads(r.read())["status"]
    return status


def test_store_outage_pauses_and_catches_up(tmp_path: Path, kafka_broker: str,
                                            topic_prefix: str) -> None:
    """The store is down for a while mid-stream: the sink retries, pauses consumption with
    a bounded buffer and commits nothing; when it is back every row lands exactly once."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    port = free_port()
    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix, rules=rules,
                    partitions=PARTITIONS, serve_port=port)
    fin = make_input(hosts=12, racks=3, steps=48, faults=FAULTS)
    cfg = pipe.config()
    settings = dataclasses.replace(SinkSettings.from_config(cfg), max_pending_rows=MAX_PENDING_ROWS,
                                   retry_initial_s=0.05, retry_max_s=0.5, shutdown_flush_s=2.0)
    faults = InsertFaults()
    pipe.ensure_topics()
    sink = SinkThread(cfg, settings, faults)
    samples: list[dict[str, Any]] = []
    try:
        sink.start()
        assert sink.ready.wait(60) and sink.error is None, sink.error
        for i in (1, 2):
            pipe.start(f"worker-{i}", "worker")
        wait_group(kafka_broker, f"{topic_prefix}worker", f"{topic_prefix}metrics", 2,
                   PARTITIONS)
        feeder = Feeder(kafka_broker, topic_prefix, fin, steps_per_s=3.0)
        feeder.start()
        wait_alert(kafka_broker, f"{topic_prefix}alerts",
                   lambda a: a["status"] == "firing")
        faults.down()
        down_at = feeder.steps_sent
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            samples.append(sink_status(port))
            time.sleep(0.2)
        faults.up()
        feeder.finish()
        books = wait_books(pipe.query, fin)
        stored_alerts = pipe.query("SELECT count() AS n FROM alerts")[0]["n"]
    finally:
        pipe.stop_all()
        stats = sink.finish()
    live = [orjson.loads(v) for v in consume_values(kafka_broker, f"{topic_prefix}alerts")]
    replayed = replay_alerts(pipe.cli, fin.write_jsonl(tmp_path / "events.jsonl"), rules)

    assert down_at < len(fin.steps) - 10, "the outage must start mid-stream"
    settled = samples[len(samples) // 4:]  # once the failing insert was noticed
    assert all(s["paused"] and not s["healthy"] for s in settled), settled[:3]
    assert len({s["stats"]["commits_total"] for s in settled}) == 1  # nothing committed
    assert len({s["stats"]["messages_total"] for s in settled[-10:]}) == 1  # nothing taken
    most = max(s["buffered_rows"] for s in samples)
    produced_meanwhile = fin.samples * (len(samples) * 0.2 * 3.0) / len(fin.steps)
    assert most <= MAX_PENDING_ROWS + POLL_MESSAGES * 71, most
    assert most < produced_meanwhile / 2, (most, produced_meanwhile)  # left in Kafka
    assert stats.transient_errors_total > 0 and stats.pauses_total > 0
    assert books.balanced, books.line()
    assert alert_problems(live, replayed) == []
    assert stored_alerts == len(live)
