"""The consumer examples of docs/forwarding.md, run against the session's broker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from common.kafka import producer
from schemas.ids import ALERT, message_headers

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "forwarding.md"


def example(kind: str) -> str:
    text = DOC.read_text()
    m = re.search(rf"<!-- example: {kind} -->\n```\w+\n(.*?)```", text, re.S)
    assert m, f"no {kind} example in {DOC.name}"
    return m.group(1)


def publish(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Two alert changes as the worker writes them (key, headers), one sent twice, and a
    message that is not an alert."""
    import asyncio

    alerts: list[dict[str, Any]] = [
              {"schema": ALERT, "fingerprint": "00000000000000a1", "status": s,
               "rule": "GpuTooHot", "severity": "critical", "host": "h1", "labels": {},
               "annotations": {"summary": f"GPU hot ({s})", "description": ""},
               "value": 90.0, "threshold": 85.0, "starts_at": "2026-01-01T00:00:00.000Z",
               "ends_at": None if s == "firing" else "2026-01-01T00:05:00.000Z",
               "updated_at": "2026-01-01T00:0" + ("0" if s == "firing" else "5") + ":00.000Z"}
              for s in ("firing", "resolved")]

    async def main() -> None:
        p = producer(bootstrap, acks="all")
        await p.start()
        try:
            for a in [alerts[0], alerts[0], alerts[1]]:
                await p.send_and_wait(topic, orjson.dumps(a), key=b"00000000000000a1",
                                      headers=message_headers(ALERT))
            await p.send_and_wait(topic, b'{"schema": "other/v1"}', key=b"x")
        finally:
            await p.stop()

    asyncio.run(main())
    return alerts


def test_python_example(kafka_broker: str, topic_prefix: str, tmp_path: Path) -> None:
    """The aiokafka consumer prints each change once and skips what is not an alert."""
    topic = f"{topic_prefix}alerts"
    publish(kafka_broker, topic)
    code = example("python").replace("127.0.0.1:19092", kafka_broker).replace(
        '"rackwatch.alerts"', f'"{topic}"').replace("my-paging-bridge", topic_prefix + "doc")
    script = tmp_path / "consume.py"
    script.write_text(code)
    try:
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             timeout=20).stdout
    except subprocess.TimeoutExpired as e:  # it follows the topic forever: stop it
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    assert out.splitlines() == ["firing GpuTooHot h1 GPU hot (firing)",
                                "resolved GpuTooHot h1 GPU hot (resolved)"]


def test_kcat_example(kafka_broker: str, topic_prefix: str) -> None:
    """kcat shows the key, the headers (content type, schema id) and the values."""
    topic = f"{topic_prefix}alerts"
    publish(kafka_broker, topic)
    cmd = example("kcat").strip().replace("127.0.0.1:19092", kafka_broker).replace(
        "rackwatch.alerts", topic)
    res = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60,
                         check=True)
    lines = res.stdout.splitlines()
    assert lines[0] == ("key=00000000000000a1 headers=content-type=application/json,"
                        "rackwatch-schema=rackwatch.alert/v1")
    assert orjson.loads(lines[1])["status"] == "firing" and len(lines) == 8
