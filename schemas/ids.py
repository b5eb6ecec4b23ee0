"""Schema ids (contract): every JSON event carries one in its `schema` field."""

METRICS = "rackwatch.metrics/v1"
LOGS = "rackwatch.logs/v1"
ALERT = "rackwatch.alert/v1"
INCIDENT = "rackwatch.incident/v1"
DEADLETTER = "rackwatch.deadletter/v1"
ACTION = "rackwatch.action/v1"
METRIC_ROW = "rackwatch.metric_row/v1"
LOG_RECORD = "rackwatch.log_record/v1"
# Internal (worker -> sink on processed.metrics): one batch's metric rows as columns.
METRIC_BLOCK = "rackwatch.metric_block/v1"

# Kafka headers on every message of the alerts and incidents topics (contract): what the
# value is, so a consumer can route or reject it without parsing it first.
HEADER_CONTENT_TYPE = "content-type"
HEADER_SCHEMA = "rackwatch-schema"
CONTENT_TYPE_JSON = "application/json"


def message_headers(schema: str) -> list[tuple[str, bytes]]:
    """The headers of a message whose value is JSON of `schema`."""
    return [(HEADER_CONTENT_TYPE, CONTENT_TYPE_JSON.encode()), (HEADER_SCHEMA, schema.encode())]


__all__ = ["ACTION", "ALERT", "CONTENT_TYPE_JSON", "DEADLETTER", "HEADER_CONTENT_TYPE",
           "HEADER_SCHEMA", "INCIDENT", "LOGS", "LOG_RECORD", "METRICS", "METRIC_BLOCK",
           "METRIC_ROW", "message_headers"]
