"""Alert handling end to end through the real broker and store: a replica's time to
first token rises (a throttled GPU), the latency alert fires and is assigned to the
model's team by the routing tree, escalated when nobody acknowledges it in time,
acknowledged and resolved with `rackwatch ack` / `rackwatch resolve`, and the record in
`alert_actions` gives the documented MTTA and MTTR."""

from __future__ import annotations

import re
import time
from pathlib import Path

import orjson
import pytest

from common.broker import free_port
from streams.core.timefmt import ms_to_rfc3339, rfc3339_to_ms
from tests.integration.harness import Pipeline, consume_all, produce

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RULES = """
groups:
  - name: serving
    rules:
      - alert: ServingLatencyHigh
        kind: threshold
        metric: serving.ttft_s.p99
        above: 2
        clear: 1.5
        for: 2s
        labels: {severity: warning}
"""
ROUTES = """
route:
  assignee: ops
  routes:
    - match_re: {alertname: "Serving.*", model: ".+"}
      assignee: ml-serving
      priority: P2
      ack_timeout: 5s
      repeat_interval: 1h
"""
HOST, MODEL = "serve-07", "llama-8b"


def batches(t0: int, seconds: range, slow: range) -> list[tuple[bytes, bytes]]:
    """The agent's batches of one replica: p99 time to first token 4 s while `slow`."""
    return [(HOST.encode(), orjson.dumps({
        "schema": "rackwatch.metrics/v1", "host": HOST, "ts": t0 + i * 1000, "seq": i + 1,
        "labels": {"rack": "r07"},
        "samples": [{"name": "serving.ttft_s.p99", "value": 4.0 if i in slow else 0.08,
                     "labels": {"model": MODEL, "replica": "r-3"}}]})) for i in seconds]


def documented(qid: str) -> str:
    text = (REPO / "docs" / "queries.md").read_text()
    found = dict(re.findall(r"<!-- query: (\w+) -->\s*```sql\n(.*?)```", text, re.DOTALL))
    return str(found[qid])


def actions_sql(fp: str) -> str:
    return (f"SELECT action, by, toUnixTimestamp64Milli(at) AS at, assignee, priority, level, "
            f"rack FROM alert_actions FINAL WHERE fingerprint = '{fp}' ORDER BY at, action")


def test_latency_alert_is_assigned_acknowledged_and_resolved(
        tmp_path: Path, kafka_broker: str, topic_prefix: str) -> None:
    rules, routes = tmp_path / "rules.yaml", tmp_path / "routes.yaml"
    rules.write_text(RULES)
    routes.write_text(ROUTES)
    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix, rules=rules,
                    serve_port=free_port(), partitions=2)
    with (pipe.home / "rackwatch.toml").open("a") as f:
        f.write(f'[routing]\nfile = "{routes}"\n')
    t0 = (int(time.time()) - 300) * 1000
    slow = range(5, 40)
    pipe.ensure_topics()
    try:
        pipe.start("sink", "sink")
        pipe.start("worker", "worker")
        produce(kafka_broker, f"{topic_prefix}metrics", batches(t0, range(20), slow))
        first = pipe.wait_for(
            "SELECT fingerprint, toUnixTimestamp64Milli(assumeNotNull(starts_at)) AS starts "
            "FROM alert_actions FINAL WHERE action = 'assigned'", lambda r: len(r) == 1,
            timeout=120)
        fp, starts = str(first[0]["fingerprint"]), int(str(first[0]["starts"]))
        pipe.wait_for(actions_sql(fp), lambda r: any(a["action"] == "escalated" for a in r),
                      timeout=60)
        acked, fixed = starts + 12_000, starts + 30_000
        ack = pipe.cli("ack", fp, "--by", "alice", "--note", "looking at GPU 3",
                       "--at", ms_to_rfc3339(acked))
        assert ack.returncode == 0, ack.stderr
        anonymous = pipe.cli("resolve", fp, "--note", "who?")
        assert anonymous.returncode == 2 and "anonymous" in anonymous.stderr
        done = pipe.cli("resolve", fp, "--by", "alice", "--note", "GPU 3 clocks restored",
                        "--at", ms_to_rfc3339(fixed))
        assert done.returncode == 0, done.stderr
        produce(kafka_broker, f"{topic_prefix}metrics", batches(t0, range(20, 50), slow))
        record = pipe.wait_for(actions_sql(fp), lambda r: sum(
            a["action"] == "resolved" for a in r) == 2, timeout=120)
        handling = pipe.wait_for(documented("mtta_mttr"), lambda r: len(r) == 3, timeout=30)
    finally:
        pipe.stop_all()

    steps = [(a["action"], a["by"]) for a in record]
    assert steps == [("assigned", "rackwatch"), ("escalated", "rackwatch"),
                     ("acknowledged", "alice"), ("resolved", "alice"),
                     ("resolved", "rackwatch")], steps
    assigned, escalated = record[0], record[1]
    assert (assigned["assignee"], assigned["priority"], assigned["rack"]) == (
        "ml-serving", "P2", "r07")
    assert escalated["at"] == starts + 5_000 and escalated["level"] == 1

    alerts = [orjson.loads(v) for v in consume_all(kafka_broker, f"{topic_prefix}alerts")]
    mine = [a for a in alerts if a["fingerprint"] == fp]
    assert mine[0]["status"] == "firing" and mine[-1]["status"] == "resolved"
    assert all((a["assignee"], a["priority"]) == ("ml-serving", "P2") for a in mine)
    assert rfc3339_to_ms(mine[0]["starts_at"]) == starts

    by = {(r["by"], r["value"]): r for r in handling}
    for key in (("assignee", "ml-serving"), ("rule", "ServingLatencyHigh"), ("rack", "r07")):
        row = by[key]
        assert (row["episodes"], row["acknowledged"], row["resolved"]) == (1, 1, 1), row
        assert row["mtta_min"] == pytest.approx(round(12 / 60, 2))
        assert row["mttr_min"] == pytest.approx(round(30 / 60, 2))
