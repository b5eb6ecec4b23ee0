"""The contracts shared by producers, stream processors and sinks.

Everything that crosses a process boundary (a Kafka topic, a ClickHouse table, a
replay file) is described here once: schema ids, the shape of each event, the
metric catalogue and the DDL. Keep these stable; see DESIGN.md.
"""

from schemas.ids import (
    ALERT,
    DEADLETTER,
    INCIDENT,
    LOG_RECORD,
    LOGS,
    METRIC_BLOCK,
    METRIC_ROW,
    METRICS,
)

__all__ = ["ALERT", "DEADLETTER", "INCIDENT", "LOGS", "LOG_RECORD", "METRICS", "METRIC_BLOCK",
           "METRIC_ROW"]
