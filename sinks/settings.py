"""The store's and the sink's settings as they run, derived from the configuration.

Every key is declared, with its default and documentation, once, in common.config
(`[clickhouse]`, `[sink]`); these classes only derive what follows from them (the
sink's group from the topic prefix, the DDL template values) so that the store and
the sink code read plain attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType

from common.config import ClickHouseConfig, Config, SinkConfig

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "TABLES",
    "SinkSettings",
    "StoreSettings",
]

# Contract table names, in the order the migrations create them.
TABLES = ("metrics", "metrics_1m", "metrics_1h", "logs", "alerts", "incidents", "deadletter",
          "sink_batches", "alert_actions")

# Days of history each table keeps (whole parts are dropped past it): [clickhouse] ttl_days_*.
DEFAULT_RETENTION_DAYS: MappingProxyType[str, int] = MappingProxyType(
    {t: getattr(ClickHouseConfig(), f"ttl_days_{t}") for t in TABLES})


@dataclass(frozen=True)
class StoreSettings:
    """How the store is laid out: database, retention per table, dedup window."""

    database: str = ClickHouseConfig().database
    retention_days: MappingProxyType[str, int] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_RETENTION_DAYS)))
    dedup_window: int = ClickHouseConfig().dedup_window

    @classmethod
    def from_config(cls, cfg: Config) -> StoreSettings:
        ch = cfg.clickhouse
        days = {t: int(getattr(ch, f"ttl_days_{t}")) for t in TABLES}
        return cls(database=ch.database, retention_days=MappingProxyType(days),
                   dedup_window=ch.dedup_window)

    def template_values(self) -> dict[str, str]:
        """Values substituted into the DDL templates of schemas/sql."""
        values = {"database": self.database, "dedup_window": str(self.dedup_window)}
        values.update({f"ttl_days_{t}": str(d) for t, d in self.retention_days.items()})
        return values


@dataclass(frozen=True)
class SinkSettings(SinkConfig):
    """[sink] as the sink runs it: the group resolved."""

    group_id: str = "rackwatch-sink"

    @classmethod
    def from_config(cls, cfg: Config) -> SinkSettings:
        s = cfg.sink
        values = {f.name: getattr(s, f.name) for f in fields(SinkConfig)}
        # One group per topic prefix, so pipelines sharing a cluster stay apart.
        values["group_id"] = s.group_id or cfg.kafka.topic_prefix + "sink"
        return cls(**values)
