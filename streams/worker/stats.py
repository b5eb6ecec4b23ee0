"""What the worker did, where operators look: a periodic log line and /metrics.

The counters are plain integers the worker's loop increments; the Prometheus collector
reads them (and the processing core's own counters) at scrape time, so counting costs
an integer add per event and a scrape never races an update (both run on one loop).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from common.selfmetrics import LATENCY_BUCKETS, SIZE_BUCKETS, Histogram, histogram_family
from streams.runtime import Runtime

__all__ = ["StatsLine", "WorkerCollector", "WorkerStats"]

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    """The worker shell's own counters (the core counts the rest)."""

    batches: int = 0  # take batches processed
    batch_cuts: int = 0  # take batches cut into one more part ([worker] batch_max_ms)
    state_flushes: int = 0  # staged host states written ([worker] state_interval_ms)
    records: int = 0  # input messages processed
    stale_skipped: int = 0  # delivered for a partition this worker does not own now
    seen_skipped: int = 0  # delivered again below the next offset to process
    refetched: int = 0  # read from the topic directly: the stream skipped them
    resent_suppressed: int = 0  # processed records the previous owner already delivered
    alerts_suppressed: int = 0  # alerts of those records the previous owner already sent
    watchdog_seeks: int = 0  # stalled partitions sought back to their next offset
    watchdog_exits: int = 0  # stalls a seek did not cure (the process then exits)
    commits_failed: int = 0
    ticks_timer: int = 0
    host_ticks: int = 0  # hosts judged at a tick (absence, timers, windows)
    # latest partition ends and next offsets seen by the watchdog, for the lag gauge
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)  # input topic -> messages processed
    transitions: dict[tuple[str, str], int] = field(default_factory=dict)  # (status, severity)
    batch_seconds: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))
    batch_messages: Histogram = field(default_factory=lambda: Histogram(SIZE_BUCKETS))

    def count_transition(self, status: str, severity: str) -> None:
        self.transitions[(status, severity)] = self.transitions.get((status, severity), 0) + 1

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, int)}


class StatsLine:
    """An info line at most every `every_s`, saying what changed since the last one."""

    def __init__(self, stats: WorkerStats, runtime: Runtime, every_s: float = 60.0) -> None:
        self.stats = stats
        self.runtime = runtime
        self.every_s = every_s
        self._last = stats.counts()
        self._at: float | None = None

    def maybe_log(self, now: float) -> str | None:
        """Log (and return) the line if it is due and anything changed."""
        if self._at is not None and now - self._at < self.every_s:
            return None
        self._at = now
        counts = self.stats.counts()
        delta = {k: v - self._last.get(k, 0) for k, v in counts.items() if v != self._last.get(k)}
        self._last = counts
        dedup = self.runtime.dedup.since_last()
        if not delta and not dedup:
            return None
        parts = [f"{k} +{v}" for k, v in delta.items()]
        if dedup:
            parts.append("dedup: " + dedup.describe())
        lag = sum(self.stats.lag.values())
        line = "worker: " + ", ".join(parts) + f"; lag {lag} messages"
        log.info("%s", line)
        return line


def _counter(name: str, doc: str, labels: list[str],
             values: Iterator[tuple[list[str], float]] | list[tuple[list[str], float]]
             ) -> CounterMetricFamily:
    fam = CounterMetricFamily(name, doc, labels=labels)
    for lv, v in values:
        fam.add_metric(lv, v)
    return fam


class WorkerCollector(Collector):
    """Exposes the worker's and the core's counters in Prometheus' format."""

    def __init__(self, stats: WorkerStats, runtime: Runtime,
                 assigned: Callable[[], int],
                 outputs: Callable[[], dict[str, int]] = dict) -> None:
        self.stats = stats
        self.runtime = runtime
        self.assigned = assigned
        self.outputs = outputs  # topic -> messages sent (the outbox's count)

    def collect(self) -> Iterator[Any]:
        s, rt = self.stats, self.runtime
        core = rt.metrics.counters
        yield _counter("rackwatch_worker_batches", "Take batches processed.", [],
                       [([], s.batches)])
        yield _counter("rackwatch_worker_input_messages", "Input messages processed.",
                       [], [([], s.records)])
        yield _counter("rackwatch_worker_skipped_messages",
                       "Deliveries not processed: of partitions not owned (stale) or already "
                       "processed (seen).", ["reason"],
                       [(["stale"], s.stale_skipped), (["seen"], s.seen_skipped)])
        yield _counter("rackwatch_worker_refetched_messages",
                       "Messages the stream skipped, read from the topic directly.", [],
                       [([], s.refetched)])
        yield _counter("rackwatch_worker_resent_suppressed",
                       "Processed records not sent again: the previous owner delivered them.",
                       [], [([], s.resent_suppressed)])
        yield _counter("rackwatch_worker_alerts_suppressed",
                       "Alert messages not sent again: the previous owner sent them for input "
                       "it had processed without committing.", [], [([], s.alerts_suppressed)])
        yield _counter("rackwatch_worker_watchdog_actions",
                       "Stalled partitions: sought back, or given up on (exit).", ["action"],
                       [(["seek"], s.watchdog_seeks), (["exit"], s.watchdog_exits)])
        yield _counter("rackwatch_worker_commit_failures", "Offset commits that failed.", [],
                       [([], s.commits_failed)])
        yield _counter("rackwatch_worker_metric_batches", "Metric batches processed.", [],
                       [([], core.batches)])
        yield _counter("rackwatch_worker_samples", "Samples processed.", [],
                       [([], core.samples)])
        yield _counter("rackwatch_worker_log_records", "Log records processed.", [],
                       [([], rt.log_records)])
        yield _counter("rackwatch_worker_alert_transitions",
                       "Alert state changes raised by the metric path.", [],
                       [([], core.alerts)])
        yield _counter("rackwatch_worker_dead_letters",
                       "Messages or samples dead-lettered, by reason.", ["reason"],
                       [([r], n) for r, n in sorted(rt.deadletter_reasons.items())])
        dedup: dict[tuple[str, str], int] = {}
        for (stream, reason, _), n in rt.dedup.counts.items():
            dedup[(stream, reason)] = dedup.get((stream, reason), 0) + n
        yield _counter("rackwatch_worker_dedup_verdicts",
                       "Dedup verdicts other than new: duplicate (dropped), new_epoch, "
                       "seq_reset, host_conflict (dead-lettered).", ["stream", "reason"],
                       [([st, r], n) for (st, r), n in sorted(dedup.items())])
        lag = GaugeMetricFamily("rackwatch_worker_partition_lag",
                                "Messages in an owned input partition not processed yet.",
                                labels=["topic", "partition"])
        for (topic, partition), n in sorted(s.lag.items()):
            lag.add_metric([topic, str(partition)], n)
        yield lag
        yield _counter("rackwatch_worker_messages_in", "Input messages processed, by topic.",
                       ["topic"], [([t], n) for t, n in sorted(s.inputs.items())])
        yield _counter("rackwatch_worker_messages_out", "Messages sent, by topic (outputs, "
                       "alerts, incidents, dead letters, changelogs).", ["topic"],
                       [([t], n) for t, n in sorted(self.outputs().items())])
        yield _counter("rackwatch_worker_rule_evaluations", "Rounds of rule evaluation: one "
                       "per metric batch, log record or host tick, each against every rule "
                       "that watches it.", ["trigger"],
                       [(["metrics"], core.batches), (["logs"], rt.log_records),
                        (["tick"], s.host_ticks)])
        yield _counter("rackwatch_worker_alert_state_changes", "Alert messages sent, by status "
                       "and severity (metric and log rules, re-sends included).",
                       ["status", "severity"],
                       [([st, sev], n) for (st, sev), n in sorted(s.transitions.items())])
        yield histogram_family("rackwatch_worker_batch_seconds", "Time to process one batch "
                               "and deliver its outputs and state.", [],
                               [([], s.batch_seconds)])
        yield histogram_family("rackwatch_worker_batch_messages", "Input messages per batch.",
                               [], [([], s.batch_messages)])
        yield GaugeMetricFamily("rackwatch_worker_assigned_partitions",
                                "Input partitions owned by this worker.", value=self.assigned())
