"""Storage and sink settings that are not (yet) in common.config, with their defaults.

common.config is closed and owned elsewhere; the knobs below are read from it when
a field of the same name exists (`cfg.clickhouse.ttl_days_metrics`, `cfg.sink.group_id`,
...) and fall back to the defaults here otherwise, so adding a field to the config is
all it takes to make one configurable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from common.config import Config

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "TABLES",
    "SinkSettings",
    "StoreSettings",
]

# Contract table names, in the order the migrations create them.
TABLES = ("metrics", "metrics_1m", "metrics_1h", "logs", "alerts", "incidents", "deadletter",
          "sink_batches")

# Days of history each table keeps; whole daily parts are dropped past it.
DEFAULT_RETENTION_DAYS: MappingProxyType[str, int] = MappingProxyType({
    "metrics": 30,
    "metrics_1m": 180,
    "metrics_1h": 730,
    "logs": 30,
    "alerts": 365,
    "incidents": 365,
    "deadletter": 30,
    "sink_batches": 7,
})


def _opt(section: object, name: str, default: Any) -> Any:
    value = getattr(section, name, None)
    return default if value is None or value == "" else value


@dataclass(frozen=True)
class StoreSettings:
    """How the store is laid out: database, retention per table, dedup window."""

    database: str = "rackwatch"
    retention_days: MappingProxyType[str, int] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_RETENTION_DAYS)))
    # Block hashes a non-replicated MergeTree remembers for insert deduplication; one
    # insert per second per partition keeps hours of retries covered.
    dedup_window: int = 10_000

    @classmethod
    def from_config(cls, cfg: Config) -> StoreSettings:
        ch = cfg.clickhouse
        days = {t: int(_opt(ch, f"ttl_days_{t}", d)) for t, d in DEFAULT_RETENTION_DAYS.items()}
        bad = {t: d for t, d in days.items() if d <= 0}
        if bad:
            raise ValueError(f"retention must be at least one day: {bad}")
        return cls(database=ch.database, retention_days=MappingProxyType(days),
                   dedup_window=int(_opt(ch, "dedup_window", cls.dedup_window)))

    def template_values(self) -> dict[str, str]:
        """Values substituted into the DDL templates of schemas/sql."""
        values = {"database": self.database, "dedup_window": str(self.dedup_window)}
        values.update({f"ttl_days_{t}": str(d) for t, d in self.retention_days.items()})
        return values


@dataclass(frozen=True)
class SinkSettings:
    """Sink behaviour beyond cfg.sink: consumer group, limits, retry policy."""

    group_id: str = "rackwatch-sink"
    batch_rows: int = 5000  # a batch is written once this big (or batch_interval_s old)...
    batch_interval_s: float = 1.0
    max_batch_rows: int = 100_000  # ...and grows up to this while the writer is busy
    max_pending_rows: int = 400_000
    serve_host: str = "127.0.0.1"
    serve_port: int = 18123
    serve_token: str = ""
    max_message_bytes: int = 8 * 1024 * 1024  # a larger Kafka message is dead-lettered
    max_field_bytes: int = 1024 * 1024  # a larger string value makes its row dead-lettered
    retry_initial_s: float = 0.2
    retry_max_s: float = 10.0
    shutdown_flush_s: float = 10.0  # how long a graceful stop keeps trying to flush

    @classmethod
    def from_config(cls, cfg: Config) -> SinkSettings:
        s = cfg.sink
        d = cls()
        return cls(
            # One group per topic prefix, so pipelines sharing a cluster stay apart.
            group_id=str(_opt(s, "group_id", cfg.kafka.topic_prefix + "sink")),
            batch_rows=max(1, int(s.batch_rows)),
            batch_interval_s=float(s.batch_interval_s),
            max_batch_rows=max(int(s.batch_rows),
                               int(_opt(s, "max_batch_rows", d.max_batch_rows))),
            max_pending_rows=max(1, int(s.max_pending_rows)),
            serve_host=str(_opt(s, "serve_host", d.serve_host)),
            serve_port=int(s.serve_port),
            serve_token=str(s.serve_token),
            max_message_bytes=int(_opt(s, "max_message_bytes", d.max_message_bytes)),
            max_field_bytes=int(_opt(s, "max_field_bytes", d.max_field_bytes)),
            retry_initial_s=float(_opt(s, "retry_initial_s", d.retry_initial_s)),
            retry_max_s=float(_opt(s, "retry_max_s", d.retry_max_s)),
            shutdown_flush_s=float(_opt(s, "shutdown_flush_s", d.shutdown_flush_s)),
        )
