"""`rackwatch forward` against a real Alertmanager and real webhook receivers."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.broker import free_port
from common.kafka import admin_client
from tests.integration.harness import Pipeline, produce
from tests.integration.receivers import AlertmanagerProcess, Receiver
from tests.support import tools

pytestmark = pytest.mark.integration

RULES = """
groups:
  - name: forward
    rules:
      - alert: CpuSaturated
        kind: threshold
        metric: cpu.usage
        above: 90%
        clear: 80%
        for: 2s
        labels: {severity: warning}
        annotations: {summary: "CPU at {{ $value | humanizePercentage }} on {{ $labels.host }}"}
"""
FAULTS = "cpu_saturation(host=r00-gpu01)@2s:30s, cpu_saturation(host=r00-gpu02)@45s:15s"


@pytest.fixture
def am_binary() -> Path:
    binary = tools.alertmanager()
    if binary is None:
        pytest.skip("Alertmanager binary not found: `make tools` builds it (Go needed), or "
                    "set RACKWATCH_ALERTMANAGER")
    return binary


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def metric(values: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float:
    return sum(v for (n, ls), v in values.items()
               if n == name and all((k, val) in ls for k, val in labels.items()))


def test_alertmanager_and_webhook(tmp_path: Path, kafka_broker: str, topic_prefix: str,
                                  am_binary: Path, receivers: list[Receiver]) -> None:
    """A fault's alert reaches Alertmanager with its labels, stays active past its endsAt
    while firing (re-sends), resolves when the fault ends; a silence made through
    Alertmanager's API suppresses the second fault's alert; a webhook target gets
    Alertmanager-shaped payloads of every state change."""
    notified, hook = Receiver(), Receiver()
    receivers += [notified, hook]
    am = AlertmanagerProcess(am_binary, tmp_path / "am", notified)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix, rules=rules)
    mport = free_port()
    pipe.ensure_topics()
    try:
        pipe.start("worker", "worker")
        pipe.start("forward", "--set", "forwarder.resend_interval_s=2",
                   "--set", "forwarder.ends_at_after_s=6",
                   "--set", f"forwarder.metrics_port={mport}", "forward",
                   "--alertmanager", am.url, "--webhook", hook.url)
        pipe.start("simulate", "simulate", "--hosts", "3", "--interval", "1", "--realtime",
                   "--seed", "5", "--duration", "75", "--faults", FAULTS)
        first = am.wait_for("the first alert in Alertmanager", lambda: am.alerts(
            alertname="CpuSaturated", host="r00-gpu01"), timeout=120)[0]
        sid = am.silence("maintenance on gpu02", host="r00-gpu02")
        assert first["labels"]["rack"] == "r00" and first["labels"]["severity"] == "warning"
        assert first["labels"]["cluster"] == "c1" and first["status"]["state"] == "active"
        assert first["annotations"]["summary"].startswith("CPU at ")
        assert "var-fingerprint=" in first["generatorURL"]
        ends = first["endsAt"]
        time.sleep(8)  # longer than ends_at_after_s: only the re-sends keep it active
        again = am.alerts(alertname="CpuSaturated", host="r00-gpu01")
        assert again and again[0]["status"]["state"] == "active" and again[0]["endsAt"] > ends

        am.wait_for("the resolution", lambda: any(
            a["status"] == "resolved" and a["labels"].get("host") == "r00-gpu01"
            for a in notified.alerts()), timeout=120)
        assert not am.alerts(alertname="CpuSaturated", host="r00-gpu01")
        silenced = am.wait_for("the second alert, silenced", lambda: am.alerts(
            alertname="CpuSaturated", host="r00-gpu02"), timeout=120)[0]
        assert silenced["status"]["state"] == "suppressed"
        assert silenced["status"]["silencedBy"] == [sid]
        am.wait_for("the second resolution at the webhook", lambda: any(
            a["status"] == "resolved" and a["labels"].get("host") == "r00-gpu02"
            for a in hook.alerts()), timeout=120)
        counts = metrics(mport)
    finally:
        pipe.stop_all()
        am.close()
    assert not any(a["labels"].get("host") == "r00-gpu02" for a in notified.alerts())
    assert notified.problems == [] and hook.problems == []
    changes = [(a["labels"]["host"], a["status"]) for a in hook.alerts()]
    assert changes == [("r00-gpu01", "firing"), ("r00-gpu01", "resolved"),
                       ("r00-gpu02", "firing"), ("r00-gpu02", "resolved")]
    assert metric(counts, "rackwatch_forwarder_sent_total") >= 8
    assert metric(counts, "rackwatch_forwarder_refreshed_total") >= 2
    assert metric(counts, "rackwatch_forwarder_target_up") == 2.0


def alert_message(i: int, status: str) -> tuple[bytes, bytes]:
    fp = f"{i:016x}"
    msg = {"schema": "rackwatch.alert/v1", "fingerprint": fp, "status": status,
           "rule": "Test", "severity": "info", "host": f"h{i}", "labels": {"rack": "r1"},
           "annotations": {"summary": f"alert {i}", "description": ""}, "value": 1.0,
           "threshold": 0.5, "starts_at": "2026-01-01T00:00:00.000Z",
           "ends_at": None if status == "firing" else "2026-01-01T00:01:00.000Z",
           "updated_at": "2026-01-01T00:01:00.000Z"}
    return fp.encode(), orjson.dumps(msg)


def by_alert(alerts: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Each alert's states in the order received (the order that is promised: alerts on
    different partitions may arrive in any order relative to each other)."""
    out: dict[str, list[str]] = {}
    for a in alerts:
        out.setdefault(a["fingerprint"], []).append(a["status"])
    return out


def group_offset(bootstrap: str, group: str) -> int:
    """The group's committed offsets, summed over partitions (0: none)."""

    async def main() -> int:
        admin = admin_client(bootstrap)
        await admin.start()
        try:
            offs = await admin.list_consumer_group_offsets(group)
            return sum(o.offset for o in offs.values() if o.offset >= 0)
        finally:
            await admin.close()

    return asyncio.run(main())


def group_of(prefix: str, url: str) -> str:
    """The forwarder's group for a webhook URL (forwarder.targets)."""
    return f"{prefix}forward.webhook-{hashlib.sha256(url.encode()).hexdigest()[:8]}"


def test_at_least_once_and_a_target_down(tmp_path: Path, kafka_broker: str,
                                         topic_prefix: str, receivers: list[Receiver]) -> None:
    """A target answering 500 gets everything after retries; one that is down holds back
    only its own offsets; killed and restarted, the forwarder sends the down target all
    it missed, once the target is up."""
    flaky = Receiver(fail_first=3)
    receivers.append(flaky)
    down_port = free_port()
    down_url = f"http://127.0.0.1:{down_port}/hook"
    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix)
    pipe.ensure_topics()
    mport = free_port()
    args = ["--set", "forwarder.retry_initial_s=0.2", "--set", "forwarder.retry_max_s=1",
            "--set", "forwarder.max_batch=4", "--set", f"forwarder.metrics_port={mport}",
            "forward", "--webhook", flaky.url,
            "--webhook", down_url]
    try:
        pipe.start("forward", *args)
        time.sleep(6)  # joined its groups (they start at the topic's end)
        msgs = [alert_message(i, s) for i in range(10) for s in ("firing", "resolved")]
        produce(kafka_broker, f"{topic_prefix}alerts", msgs)
        deadline = time.monotonic() + 60
        while len(flaky.alerts()) < len(msgs) and time.monotonic() < deadline:
            time.sleep(0.5)
        counts = metrics(mport)
        time.sleep(2)  # a commit round
        done = group_offset(kafka_broker, group_of(topic_prefix, flaky.url))
        held = group_offset(kafka_broker, group_of(topic_prefix, down_url))
        assert pipe.stop("forward", signal.SIGKILL) != 0
        late = Receiver(port=down_port)  # the down target comes up where it was expected
        receivers.append(late)
        pipe.start("forward", *args)
        deadline = time.monotonic() + 60
        while len(late.alerts()) < len(msgs) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        pipe.stop_all()
    expected = by_alert(orjson.loads(v) for _, v in msgs)
    assert by_alert(flaky.alerts()) == expected, "the flaky one got every change once, in order"
    assert flaky.requests > 3 and flaky.problems == []
    assert metric(counts, "rackwatch_forwarder_failed_total", reason="http_500") == 3
    assert metric(counts, "rackwatch_forwarder_failed_total", reason="connection") >= 1
    assert metric(counts, "rackwatch_forwarder_retried_total") >= 3
    assert (done, held) == (len(msgs), 0), "each target's group moves with its deliveries"
    assert by_alert(late.alerts()) == expected, "after the restart the down one got them all"
