"""The sink's /metrics: what it read, stored, dead-lettered and how far behind it is.

`SinkMetrics` holds what the service loop observes beside the writer's counters
(sinks.stats): messages in and rows out per topic, dead letters by reason (those the
store's views routed included: the writer reads them back with each batch), insert
time, batch sizes and committed offsets. `SinkCollector` exposes both at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from common.selfmetrics import LATENCY_BUCKETS, SIZE_BUCKETS, Histogram, histogram_family
from sinks.stats import SinkStats

__all__ = ["SinkCollector", "SinkMetrics", "State", "readiness"]

TPKey = tuple[str, int]


@dataclass
class SinkMetrics:
    """Observed by the sink's loop (one thread: the event loop)."""

    messages: dict[str, int] = field(default_factory=dict)  # topic -> messages read
    rows: dict[str, int] = field(default_factory=dict)  # topic -> rows stored
    dead_letters: dict[str, int] = field(default_factory=dict)  # reason_code -> records
    insert_seconds: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))
    batch_rows: Histogram = field(default_factory=lambda: Histogram(SIZE_BUCKETS))
    committed: dict[TPKey, int] = field(default_factory=dict)  # next offset to read again

    def add(self, table: dict[str, int], key: str, n: int = 1) -> None:
        table[key] = table.get(key, 0) + n


@dataclass(frozen=True)
class State:
    """What the collector asks the running sink at scrape time."""

    lag: dict[TPKey, int]  # messages not stored yet, per assigned partition
    buffered_rows: int
    inflight_rows: int
    paused: bool
    healthy: bool
    assigned: int
    ready_partitions: int


def readiness(st: State, ready_lag: int) -> tuple[bool, str]:
    """Ready: partitions assigned and prepared, the store healthy, and caught up."""
    if not st.assigned or st.ready_partitions < st.assigned:
        return False, f"{st.ready_partitions} of {st.assigned} partitions ready"
    if not st.healthy:
        return False, "the store is failing"
    behind = sum(st.lag.values())
    return behind < ready_lag, f"{st.assigned} partitions, {behind} messages not stored yet"


def _counter(name: str, doc: str, labels: list[str],
             rows: list[tuple[list[str], float]]) -> CounterMetricFamily:
    fam = CounterMetricFamily(name, doc, labels=labels)
    for values, v in rows:
        fam.add_metric(values, v)
    return fam


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


_WRITER_COUNTERS = {  # SinkStats field -> (metric name, help)
    "inserts_total": ("rackwatch_sink_inserts", "Successful inserts (data, journal, dead "
                      "letters)."),
    "insert_retries_total": ("rackwatch_sink_insert_retries", "Inserts retried after a "
                             "transient error."),
    "transient_errors_total": ("rackwatch_sink_transient_errors", "Store errors worth "
                               "retrying (connection, timeout, too many parts)."),
    "data_errors_total": ("rackwatch_sink_data_errors", "Inserts the store refused for their "
                          "data (the batch is then split to isolate the rows)."),
    "batches_total": ("rackwatch_sink_batches", "Batches written."),
    "commits_total": ("rackwatch_sink_commits", "Offset commits after stored batches."),
    "commit_failures_total": ("rackwatch_sink_commit_failures", "Offset commits that failed "
                              "(the next one covers them)."),
    "pauses_total": ("rackwatch_sink_pauses", "Times consumption paused for back-pressure."),
    "realigned_batches_total": ("rackwatch_sink_realigned_batches", "First batches cut at a "
                                "journaled offset range after a restart."),
    "discarded_rows_total": ("rackwatch_sink_discarded_rows", "Buffered rows of revoked "
                             "partitions, left to their next owner."),
    "dead_letters_produced_total": ("rackwatch_sink_dead_letters_published", "Dead letters "
                                    "also published on the dead-letter topic."),
}


class SinkCollector(Collector):
    """Exposes the sink's counters, histograms and gauges."""

    def __init__(self, stats: SinkStats, metrics: SinkMetrics, state: Callable[[], State]
                 ) -> None:
        self.stats, self.metrics, self.state = stats, metrics, state

    def collect(self) -> Iterator[Any]:
        m, st = self.metrics, self.state()
        yield _counter("rackwatch_sink_messages", "Kafka messages read, by topic.", ["topic"],
                       [([t], n) for t, n in sorted(m.messages.items())])
        yield _counter("rackwatch_sink_rows_stored", "Rows stored, by source topic (metric "
                       "rows counted inside each message).", ["topic"],
                       [([t], n) for t, n in sorted(m.rows.items())])
        yield _counter("rackwatch_sink_dead_letters", "Records dead-lettered by the sink, by "
                       "reason: refused in Python or routed by the store's views.", ["reason"],
                       [([r], n) for r, n in sorted(m.dead_letters.items())])
        for key, (name, doc) in _WRITER_COUNTERS.items():
            yield _counter(name, doc, [], [([], getattr(self.stats, key))])
        yield histogram_family("rackwatch_sink_insert_seconds", "Time to store one round of "
                               "batches (journal, inserts, dead letters).", [],
                               [([], m.insert_seconds)])
        yield histogram_family("rackwatch_sink_batch_rows", "Rows per batch written.", [],
                               [([], m.batch_rows)])
        lag = GaugeMetricFamily("rackwatch_sink_partition_lag", "Messages of an assigned "
                                "partition not stored and committed yet.",
                                labels=["topic", "partition"])
        for (topic, partition), n in sorted(st.lag.items()):
            lag.add_metric([topic, str(partition)], n)
        yield lag
        yield _gauge("rackwatch_sink_buffered_rows", "Rows read and waiting for their batch.",
                     st.buffered_rows)
        yield _gauge("rackwatch_sink_inflight_rows", "Rows being written now.",
                     st.inflight_rows)
        yield _gauge("rackwatch_sink_paused", "1 while consumption is paused (back-pressure "
                     "or a failing store).", float(st.paused))
        yield _gauge("rackwatch_sink_store_healthy", "0 while inserts keep failing.",
                     float(st.healthy))
        yield _gauge("rackwatch_sink_assigned_partitions", "Partitions this sink stores.",
                     st.assigned)
