"""Build the two producer events (contract: schemas.events) and encode them.

Both the agent and the simulator go through these functions, so a simulated
fleet emits byte-for-byte the same shapes as real agents.
"""

from __future__ import annotations

import orjson

from schemas.events import LogEvent, MetricBatch, Sample
from schemas.ids import LOGS, METRICS

__all__ = ["encode", "log_event", "metric_batch", "sample"]


def sample(name: str, value: float, labels: dict[str, str] | None = None) -> Sample:
    """One sample; `labels` only when the series needs them (device, gpu, ...)."""
    if labels:
        return {"name": name, "value": value, "labels": labels}
    return {"name": name, "value": value}


def metric_batch(host: str, ts_ms: int, seq: int, labels: dict[str, str],
                 samples: list[Sample], interval_ms: int | None = None,
                 epoch: str | None = None) -> MetricBatch:
    """A `rackwatch.metrics/v1` batch: one host, one moment, all its samples. `epoch`
    names the producer's sequence state (dedup keys on host, epoch and seq)."""
    batch: MetricBatch = {
        "schema": METRICS,
        "host": host,
        "ts": ts_ms,
        "seq": seq,
        "labels": labels,
        "samples": samples,
    }
    if epoch:
        batch["epoch"] = epoch
    if interval_ms is not None:
        batch["interval_ms"] = interval_ms
    return batch


def log_event(host: str, ts_ms: int, seq: int, message: str, source: str,
              labels: dict[str, str], epoch: str | None = None) -> LogEvent:
    """A `rackwatch.logs/v1` record: one line as it was read, with topology labels."""
    event: LogEvent = {
        "schema": LOGS,
        "host": host,
        "ts": ts_ms,
        "seq": seq,
        "message": message,
        "source": source,
        "labels": labels,
    }
    if epoch:
        event["epoch"] = epoch
    return event


def encode(event: MetricBatch | LogEvent) -> bytes:
    """The wire form: compact JSON via orjson."""
    return orjson.dumps(event)
