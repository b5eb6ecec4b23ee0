"""Schema ids (contract): every JSON event carries one in its `schema` field."""

METRICS = "rackwatch.metrics/v1"
LOGS = "rackwatch.logs/v1"
ALERT = "rackwatch.alert/v1"
INCIDENT = "rackwatch.incident/v1"
DEADLETTER = "rackwatch.deadletter/v1"
METRIC_ROW = "rackwatch.metric_row/v1"
LOG_RECORD = "rackwatch.log_record/v1"
# Internal (worker -> sink on processed.metrics): one batch's metric rows as columns.
METRIC_BLOCK = "rackwatch.metric_block/v1"

__all__ = ["ALERT", "DEADLETTER", "INCIDENT", "LOGS", "LOG_RECORD", "METRICS", "METRIC_BLOCK",
           "METRIC_ROW"]
