"""A flood of malformed messages mixed with good ones.

Good batches are produced at a steady rate, first alone, then with several malformed
messages of every kind between each two good ones. The good ones are all processed,
as fast as without the flood; every malformed one is dead-lettered once, with its reason,
and counted; the books balance.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from common.broker import free_port
from streams.worker.offsets import SOURCE_HEADER
from tests.integration.books import (
    RULES,
    Feeder,
    alert_problems,
    consume_values,
    make_input,
    replay_alerts,
    wait_books,
    wait_group,
)
from tests.integration.harness import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
STEPS_PER_S = 4.0
STEPS = 32  # per phase
FLOOD_COPIES = 8  # of each malformed kind per step: 80 bad messages to 12 good ones


@dataclass
class Phase:
    good: int
    rate: float  # good messages processed per second, first input to last output
    p95_latency_ms: float


Record = tuple[int, int, int, bytes, list[tuple[str, bytes]]]


async def _read(bootstrap: str, topic: str) -> list[Record]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    out: list[Record] = []
    try:
        idle = 0
        while idle < 4:
            got = await consumer.getmany(timeout_ms=300)
            idle = 0 if got else idle + 1
            for msgs in got.values():
                out.extend((m.partition, m.offset, m.timestamp, m.key or b"",
                            list(m.headers or ())) for m in msgs)
    finally:
        await consumer.stop()
    return out


def measure(bootstrap: str, prefix: str, windows: list[tuple[float, float]]) -> list[Phase]:
    """Per production window: how fast the good metric batches produced in it came out
    of the worker (broker timestamps of input and output, so no clock is mixed)."""
    inputs = asyncio.run(_read(bootstrap, f"{prefix}metrics"))
    outputs = asyncio.run(_read(bootstrap, f"{prefix}processed.metrics"))
    out_ts: dict[tuple[int, int], int] = {}
    for partition, _off, ts, _key, headers in outputs:
        src = dict(headers).get(SOURCE_HEADER)
        if src is not None:
            out_ts[(partition, int(src))] = ts
    phases = []
    for start, end in windows:
        firsts, lasts, lat = [], [], []
        for partition, offset, ts, key, _h in inputs:
            if key.startswith(b"bad-") or not start * 1000 <= ts <= end * 1000:
                continue
            done = out_ts.get((partition, offset))
            assert done is not None, f"good input {partition}:{offset} has no output"
            firsts.append(ts)
            lasts.append(done)
            lat.append(done - ts)
        span_s = max(1e-3, (max(lasts) - min(firsts)) / 1000)
        phases.append(Phase(len(lat), len(lat) / span_s,
                            statistics.quantiles(lat, n=20)[-1]))
    return phases


def test_flood_of_malformed_messages(tmp_path: Path, kafka_broker: str,
                                     topic_prefix: str) -> None:
    """Malformed messages are dead-lettered once each with their reason and counted; the
    good ones around them are all stored, at the rate they were produced."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix, rules=rules,
                    partitions=PARTITIONS, serve_port=free_port())
    # The calm steps, then the same fleet's next steps with the flood mixed in.
    fin = make_input(hosts=12, racks=3, steps=2 * STEPS, seed=3, bad_every=1,
                     bad_copies=FLOOD_COPIES, bad_from=STEPS)
    pipe.ensure_topics()
    try:
        pipe.start("sink", "sink")
        pipe.start("worker", "worker")
        wait_group(kafka_broker, f"{topic_prefix}worker", f"{topic_prefix}metrics", 1,
                   PARTITIONS)
        feeder = Feeder(kafka_broker, topic_prefix, fin, steps_per_s=STEPS_PER_S)
        t0 = time.time()
        feeder.start()
        feeder.wait_step(STEPS)
        t1 = time.time()
        feeder.finish()
        t2 = time.time()
        books = wait_books(pipe.query, fin)
        reasons = {str(r["reason_code"]): int(str(r["n"])) for r in pipe.query(
            "SELECT reason_code, count() AS n FROM deadletter WHERE origin = 'stream' "
            "GROUP BY reason_code")}
        doubled = pipe.query("SELECT count() AS n FROM (SELECT source_partition, "
                             "source_offset, source_topic FROM deadletter GROUP BY ALL "
                             "HAVING count() > 1)")[0]["n"]
    finally:
        pipe.stop_all()
    calm_phase, flood_phase = measure(kafka_broker, topic_prefix, [(t0, t1), (t1, t2)])
    live = [orjson.loads(v) for v in consume_values(kafka_broker, f"{topic_prefix}alerts")]
    replayed = replay_alerts(pipe.cli, fin.write_jsonl(tmp_path / "events.jsonl"), rules)

    assert fin.bad == STEPS * FLOOD_COPIES * 10
    assert books.balanced, books.line()
    assert reasons == dict(fin.bad_reasons)
    assert doubled == 0
    assert alert_problems(live, replayed) == []
    produced_rate = calm_phase.good / (t1 - t0)
    assert calm_phase.rate >= 0.8 * produced_rate, (calm_phase, produced_rate)
    assert flood_phase.rate >= 0.8 * calm_phase.rate, (calm_phase, flood_phase)
    assert flood_phase.p95_latency_ms <= max(2000.0, 3 * calm_phase.p95_latency_ms), (
        calm_phase, flood_phase)
