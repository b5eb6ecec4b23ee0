"""Every role's metrics collector, filled with a little of everything, and its exposition.

Used by the tests that parse the exposition text (prometheus-client's parser and, when
built, `promtool check metrics`), check that docs/operations.md documents every metric,
and that the Prometheus rules only use metrics rackwatch exports.
"""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from common.selfmetrics import LATENCY_BUCKETS, Histogram
from forwarder.stats import ForwarderCollector, TargetStats
from producers.buffer import SpillBuffer
from producers.publisher import PublisherStats
from producers.selfmetrics import AgentCollector
from sinks.selfmetrics import SinkCollector, SinkMetrics, State
from sinks.stats import SinkStats
from streams.rules import parse_rules
from streams.runtime import Runtime
from streams.worker.stats import WorkerCollector, WorkerStats

__all__ = ["ROLES", "collectors", "exposition"]

ROLES = ("worker", "sink", "agent", "forwarder")


def _worker() -> Collector:
    stats = WorkerStats(batches=3, records=40, lag={("rackwatch.metrics", 0): 5},
                        inputs={"rackwatch.metrics": 30, "rackwatch.logs": 10},
                        transitions={("firing", "warning"): 2, ("resolved", "warning"): 1})
    stats.batch_seconds.observe(0.02)
    stats.batch_messages.observe(40)
    runtime = Runtime(parse_rules("groups: []\n"), check_wall_clock=False)
    runtime.deadletter_reasons = {"bad_json": 1}
    runtime.dedup.counts[("metrics", "duplicate", "h1")] += 2
    return WorkerCollector(stats, runtime, lambda: 4,
                           lambda: {"rackwatch.alerts": 3, "rackwatch.processed.metrics": 30})


def _sink() -> Collector:
    m = SinkMetrics(messages={"rackwatch.processed.metrics": 10}, rows={"rackwatch.logs": 5},
                    dead_letters={"missing_field": 2})
    m.insert_seconds.observe(0.05)
    m.batch_rows.observe(500)
    state = State(lag={("rackwatch.processed.metrics", 0): 7}, buffered_rows=10,
                  inflight_rows=500, paused=False, healthy=True, assigned=2,
                  ready_partitions=2)
    return SinkCollector(SinkStats(inserts_total=3), m, lambda: state)


def _agent() -> Collector:
    agent = SimpleNamespace(stats=SimpleNamespace(batches=5, log_events=3, xid_events=0),
                            problems=SimpleNamespace(total=1))
    buffer = SpillBuffer(max_items=10, memory_items=10, spill_path=None)
    publisher = SimpleNamespace(stats=PublisherStats(published=8, sent=7), buffer=buffer,
                                connected=True)
    h = Histogram(LATENCY_BUCKETS)
    h.observe(0.01)
    return AgentCollector(agent, lambda: publisher, h)


def _forwarder() -> Collector:
    t = TargetStats("alertmanager:am:9093", received=4, sent=4, requests={"ok": 2},
                    failed={"connection": 1}, skipped={"bad_json": 1}, lag={0: 2}, up=True)
    t.latency.observe(0.01)
    t.batch.observe(2)
    return ForwarderCollector(lambda: [t])


def collectors() -> dict[str, Collector]:
    """Role -> its collector, with sample values."""
    return {"worker": _worker(), "sink": _sink(), "agent": _agent(),
            "forwarder": _forwarder()}


def exposition(role: str) -> str:
    """The /metrics text of `role`, as its endpoint serves it."""
    reg = CollectorRegistry()
    reg.register(collectors()[role])
    return generate_latest(reg).decode()
