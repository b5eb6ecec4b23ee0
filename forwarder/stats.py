"""What the forwarder counts, per target, and its /metrics collector.

Plain attributes updated on the forwarder's event loop, read at scrape time (the same
pattern as the worker's and the sink's collectors; common.selfmetrics)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from common.selfmetrics import LATENCY_BUCKETS, SIZE_BUCKETS, Histogram, histogram_family

__all__ = ["ForwarderCollector", "TargetStats"]


@dataclass
class TargetStats:
    """One target's counters and gauges."""

    name: str
    received: int = 0  # alert messages read
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> messages not alerts
    sent: int = 0  # alert state changes in requests the target took (2xx)
    refreshed: int = 0  # re-sends of firing alerts the target took
    requests: dict[str, int] = field(default_factory=dict)  # outcome -> requests
    failed: dict[str, int] = field(default_factory=dict)  # reason -> failed requests
    retried: int = 0  # requests made again after a failure
    rejected: int = 0  # alerts the target refused for good, dropped
    commits: int = 0
    commit_failures: int = 0
    up: bool = False  # the last request got a 2xx
    latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))
    batch: Histogram = field(default_factory=lambda: Histogram(SIZE_BUCKETS))
    lag: dict[int, int] = field(default_factory=dict)  # partition -> messages not delivered
    queued: int = 0
    firing: int = 0
    assigned: int = 0

    def bump(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


def _counter(name: str, doc: str, labels: list[str],
             rows: Sequence[tuple[list[str], float]]) -> CounterMetricFamily:
    fam = CounterMetricFamily(name, doc, labels=labels)
    for values, v in rows:
        fam.add_metric(values, v)
    return fam


def _gauge(name: str, doc: str, labels: list[str],
           rows: Sequence[tuple[list[str], float]]) -> GaugeMetricFamily:
    fam = GaugeMetricFamily(name, doc, labels=labels)
    for values, v in rows:
        fam.add_metric(values, v)
    return fam


class ForwarderCollector(Collector):
    """Exposes every target's numbers, labelled `target`."""

    def __init__(self, stats: Callable[[], Sequence[TargetStats]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        ts = list(self.stats())
        t = ["target"]
        yield _counter("rackwatch_forwarder_received", "Alert messages read from the alerts "
                       "topic.", t, [([s.name], s.received) for s in ts])
        yield _counter("rackwatch_forwarder_skipped", "Messages on the alerts topic that are "
                       "not alerts (not JSON, another schema), skipped.", [*t, "reason"],
                       [([s.name, r], n) for s in ts for r, n in sorted(s.skipped.items())])
        yield _counter("rackwatch_forwarder_sent", "Alert state changes the target took "
                       "(2xx).", t, [([s.name], s.sent) for s in ts])
        yield _counter("rackwatch_forwarder_refreshed", "Re-sends of firing alerts the "
                       "target took (keeps them active in Alertmanager).", t,
                       [([s.name], s.refreshed) for s in ts])
        yield _counter("rackwatch_forwarder_requests", "Requests by outcome: ok, retry, "
                       "refused.", [*t, "outcome"],
                       [([s.name, o], n) for s in ts for o, n in sorted(s.requests.items())])
        yield _counter("rackwatch_forwarder_failed", "Failed requests by reason: connection, "
                       "timeout, http_<status>.", [*t, "reason"],
                       [([s.name, r], n) for s in ts for r, n in sorted(s.failed.items())])
        yield _counter("rackwatch_forwarder_retried", "Requests made again after a failure.",
                       t, [([s.name], s.retried) for s in ts])
        yield _counter("rackwatch_forwarder_rejected", "Alerts the target refused for good "
                       "(HTTP 400, 413, 422 on the alert alone), dropped.", t,
                       [([s.name], s.rejected) for s in ts])
        yield _counter("rackwatch_forwarder_commits", "Offset commits after deliveries.", t,
                       [([s.name], s.commits) for s in ts])
        yield _counter("rackwatch_forwarder_commit_failures", "Offset commits that failed "
                       "(the next one covers them).", t,
                       [([s.name], s.commit_failures) for s in ts])
        yield histogram_family("rackwatch_forwarder_request_seconds", "Time a request to the "
                               "target took, answered or not.", t,
                               [([s.name], s.latency) for s in ts])
        yield histogram_family("rackwatch_forwarder_batch_alerts", "Alerts per request.", t,
                               [([s.name], s.batch) for s in ts])
        yield _gauge("rackwatch_forwarder_target_up", "1 when the last request to the target "
                     "got a 2xx.", t, [([s.name], float(s.up)) for s in ts])
        yield _gauge("rackwatch_forwarder_queued_alerts", "Alerts read and not yet delivered.",
                     t, [([s.name], s.queued) for s in ts])
        yield _gauge("rackwatch_forwarder_firing_alerts", "Firing alerts the target is kept "
                     "informed of.", t, [([s.name], s.firing) for s in ts])
        yield _gauge("rackwatch_forwarder_partition_lag", "Messages of an alerts partition "
                     "not yet delivered to the target.", [*t, "partition"],
                     [([s.name, str(p)], n) for s in ts for p, n in sorted(s.lag.items())])
        yield _gauge("rackwatch_forwarder_assigned_partitions", "Alerts partitions this "
                     "process forwards to the target.", t, [([s.name], s.assigned) for s in ts])
