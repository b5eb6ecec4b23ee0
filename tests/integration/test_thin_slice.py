"""The thin slice end to end: agent-shaped batches -> worker -> ClickHouse and alerts topic."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from common.broker import free_port
from tests.integration.harness import Pipeline, produce

pytestmark = pytest.mark.integration

RULES = """
groups:
  - name: slice
    rules:
      - alert: CpuHot
        kind: threshold
        metric: cpu.usage
        above: 80%
        clear: 70%
        for: 3s
        labels: {severity: warning}
        annotations: {summary: "CPU at {{ $value }}"}
"""
PERCENT = [50, 55, 60, 85, 90, 95, 92, 91, 88, 86, 60, 50, 45, 40, 42, 41, 40, 39, 41, 40]
TAU_MS = 60_000.0

CONSUMER = """
import asyncio, sys
from aiokafka import AIOKafkaConsumer
async def main():
    c = AIOKafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], group_id=None,
                         auto_offset_reset="earliest", enable_auto_commit=False)
    await c.start()
    try:
        idle = 0
        while idle < 6:
            got = await c.getmany(timeout_ms=500)
            idle = 0 if got else idle + 1
            for msgs in got.values():
                for m in msgs:
                    sys.stdout.write(m.value.decode() + "\\n")
    finally:
        await c.stop()
asyncio.run(main())
"""


def expected_ewma(values: list[float], step_ms: float) -> list[float]:
    a = 1 - math.exp(-step_ms / TAU_MS)
    out, s = [], values[0]
    for i, v in enumerate(values):
        s = v if i == 0 else a * v + (1 - a) * s
        out.append(s)
    return out


def test_series_crossing_threshold(tmp_path: Path, kafka_broker: str, topic_prefix: str) -> None:
    """Exactly the samples stored with their EWMA, a re-sent batch dropped, malformed
    messages dead-lettered while good ones flow; one firing then one resolved alert."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix, rules=rules,
                    serve_port=free_port())
    host = "slice-h1"
    t0 = (int(time.time()) - 60) * 1000
    batches = [
        (host.encode(), orjson.dumps({
            "schema": "rackwatch.metrics/v1", "host": host, "ts": t0 + i * 1000, "seq": i + 1,
            "labels": {"rack": "r1", "cluster": "c1"},
            "samples": [{"name": "cpu.percent", "value": float(v)}]}))
        for i, v in enumerate(PERCENT)
    ]
    batches.insert(7, batches[6])  # a producer retry: the same batch twice
    bad = [b"{not json", orjson.dumps({"schema": "rackwatch.metrics/v1", "host": host}),
           orjson.dumps({"schema": "rackwatch.metrics/v1", "host": host, "ts": t0, "seq": 999,
                         "labels": {}, "samples": [{"name": "cpu.usage", "value": "high"}]})]
    for i, raw in enumerate(bad):  # malformed messages between good ones
        batches.insert(3 + 4 * i, (host.encode(), raw))
    pipe.ensure_topics()
    try:
        pipe.start("sink", "sink")
        pipe.start("worker", "worker")
        produce(kafka_broker, f"{topic_prefix}metrics", batches)
        rows = pipe.wait_for(
            f"SELECT toUnixTimestamp64Milli(ts) AS t, value, raw, ewma FROM metrics "
            f"WHERE host = '{host}' ORDER BY ts",
            lambda r: len(r) >= len(PERCENT), timeout=120)
        time.sleep(2.0)  # a duplicate insert would land in the next flush: give it time
        rows = pipe.query(f"SELECT toUnixTimestamp64Milli(ts) AS t, value, raw, ewma "
                          f"FROM metrics WHERE host = '{host}' ORDER BY ts")
        dead = pipe.wait_for("SELECT reason_code FROM deadletter ORDER BY reason_code",
                             lambda r: len(r) >= len(bad), timeout=60)
    finally:
        pipe.stop_all()
    assert [r["t"] for r in rows] == [t0 + i * 1000 for i in range(len(PERCENT))]
    assert [r["raw"] for r in rows] == [float(v) for v in PERCENT]
    assert [r["value"] for r in rows] == pytest.approx([v / 100 for v in PERCENT])
    assert [r["ewma"] for r in rows] == pytest.approx(
        expected_ewma([v / 100 for v in PERCENT], 1000.0), rel=1e-9)

    # The books balance: every good batch stored once, every bad message dead-lettered.
    assert sorted(str(d["reason_code"]) for d in dead) == ["bad_json", "bad_type", "missing_field"]

    consumer = subprocess.run(
        [sys.executable, "-c", CONSUMER, kafka_broker, f"{topic_prefix}alerts"],
        capture_output=True, text=True, timeout=60, check=True)
    alerts = [orjson.loads(line) for line in consumer.stdout.splitlines() if line.strip()]
    mine = [a for a in alerts if a["host"] == host]
    assert [a["status"] for a in mine] == ["firing", "resolved"], mine
    firing, resolved = mine
    assert firing["schema"] == "rackwatch.alert/v1" and firing["rule"] == "CpuHot"
    assert firing["fingerprint"] == resolved["fingerprint"]
    assert firing["ends_at"] is None and resolved["ends_at"] is not None
    # pending at 85 % (i=3); `for: 3s` -> firing at i=6; cleared below 70 % at i=10
    from streams.core.timefmt import ms_to_rfc3339

    assert firing["updated_at"] == ms_to_rfc3339(t0 + 6000)
    assert resolved["updated_at"] == ms_to_rfc3339(t0 + 10_000)
