"""From the JSON records on the processed topics to row tuples of the store's tables.

Validation happens here, once, in plain Python: a record that cannot become a row
raises RowError with a deadletter reason code, so one bad record never blocks its
partition and the server only ever sees values its columns can hold. Times become
epoch milliseconds, which is what DateTime64(3) stores, so no datetime objects are built
on the hot path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas import ids
from sinks.errors import RowError

__all__ = [
    "DEADLETTER_COLUMNS",
    "INGEST_COLUMNS",
    "MAX_TS_MS",
    "METRIC_COLUMNS",
    "Limits",
    "TableSpec",
    "deadletter_row",
    "decode_message",
    "estimate_records",
    "rfc3339_ms",
    "table_specs",
]

Row = tuple[Any, ...]
MAX_TS_MS = 10_413_792_000_000  # 2300-01-01: DateTime64(3) cannot go further
_MAX_U64 = 2**64 - 1


@dataclass(frozen=True)
class Limits:
    """Size limits past which a record is dead-lettered as too large."""

    max_field_bytes: int = 1024 * 1024


def _bad(code: str, reason: str) -> RowError:
    return RowError(code, reason)


def _str(r: Mapping[str, Any], key: str, limit: int) -> str:
    v = r[key]
    if type(v) is not str:
        raise _bad("bad_type", f"{key} should be a string, got {type(v).__name__}")
    if len(v) * 4 > limit and len(v.encode()) > limit:
        raise _bad("too_large", f"{key} is {len(v.encode())} bytes, limit {limit}")
    return v


def _opt_str(r: Mapping[str, Any], key: str, limit: int) -> str:
    """Absent or null means unknown, stored as ''."""
    if r.get(key) is None:
        return ""
    return _str(r, key, limit)


def _num(r: Mapping[str, Any], key: str) -> float:
    v = r[key]
    t = type(v)
    if t is float:
        return v  # type: ignore[no-any-return]
    if t is int:
        try:
            return float(v)
        except OverflowError:
            raise _bad("bad_value", f"{key} is out of the Float64 range") from None
    raise _bad("bad_type", f"{key} should be a number, got {t.__name__}")


def _opt_num(r: Mapping[str, Any], key: str) -> float | None:
    return None if r.get(key) is None else _num(r, key)


def _uint(r: Mapping[str, Any], key: str, top: int = _MAX_U64) -> int:
    v = r[key]
    if type(v) is not int:
        raise _bad("bad_type", f"{key} should be an integer, got {type(v).__name__}")
    if not 0 <= v <= top:
        raise _bad("bad_value", f"{key}={v} is out of range 0..{top}")
    return v


def _ts(r: Mapping[str, Any], key: str) -> int:
    v = r[key]
    if type(v) is not int:
        raise _bad("bad_type", f"{key} should be epoch milliseconds, got {type(v).__name__}")
    if not 0 <= v < MAX_TS_MS:
        raise _bad("bad_value", f"{key}={v} is not a storable epoch-millisecond time")
    return v


def _labels(r: Mapping[str, Any], key: str, limit: int) -> dict[str, str]:
    v = r.get(key)
    if v is None:
        return {}
    if type(v) is not dict:
        raise _bad("bad_type", f"{key} should be an object of strings")
    for k, s in v.items():
        if type(s) is not str:
            raise _bad("bad_type", f"{key}.{k} should be a string, got {type(s).__name__}")
        if len(s) * 4 > limit and len(s.encode()) > limit:
            raise _bad("too_large", f"{key}.{k} is larger than {limit} bytes")
    return v


def _str_list(r: Mapping[str, Any], key: str) -> list[str]:
    v = r.get(key)
    if v is None:
        return []
    if type(v) is not list or any(type(s) is not str for s in v):
        raise _bad("bad_type", f"{key} should be a list of strings")
    return v


def rfc3339_ms(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 time; naive times are taken as UTC."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as e:
        raise _bad("bad_value", f"not an RFC 3339 time: {text[:64]!r}") from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    ms = round(dt.timestamp() * 1000)
    if not 0 <= ms < MAX_TS_MS:
        raise _bad("bad_value", f"time {text[:64]!r} is out of the storable range")
    return ms


def _time(r: Mapping[str, Any], key: str) -> int:
    v = r[key]
    if type(v) is str:
        return rfc3339_ms(v)
    if type(v) is int:
        return _ts(r, key)
    raise _bad("bad_type", f"{key} should be an RFC 3339 string, got {type(v).__name__}")


def _opt_time(r: Mapping[str, Any], key: str) -> int | None:
    return None if r.get(key) is None else _time(r, key)


def _check_schema(r: Mapping[str, Any], expected: str) -> None:
    got = r.get("schema")
    if got is not None and got != expected:
        raise _bad("unknown_schema", f"schema {got!r} where {expected!r} was expected")


# --- one converter per table ----------------------------------------------------------

METRIC_COLUMNS = ("host", "ts", "name", "labels", "rack", "value", "raw", "ewma", "wma",
                  "outlier", "seq")


def metric_row(r: Mapping[str, Any], lim: Limits) -> Row:
    """The hot path: written out by hand, one dict lookup per field."""
    m = lim.max_field_bytes
    _check_schema(r, ids.METRIC_ROW)
    labels = _labels(r, "labels", m)
    outlier = r.get("outlier", False)
    if type(outlier) is not bool:
        raise _bad("bad_type", "outlier should be a boolean")
    ewma = r.get("ewma")
    wma = r.get("wma")
    return (
        _str(r, "host", m), _ts(r, "ts"), _str(r, "name", m), labels, labels.get("rack", ""),
        _num(r, "value"), _num(r, "raw"),
        math.nan if ewma is None else _num(r, "ewma"),
        math.nan if wma is None else _num(r, "wma"),
        outlier, _uint(r, "seq"),
    )


LOG_COLUMNS = ("host", "ts", "seq", "rack", "severity", "program", "pid", "component", "source",
               "template_id", "template", "fault_class", "fault_source", "message", "labels")


def log_row(r: Mapping[str, Any], lim: Limits) -> Row:
    m = lim.max_field_bytes
    _check_schema(r, ids.LOG_RECORD)
    labels = _labels(r, "labels", m)
    pid = r.get("pid")
    return (
        _str(r, "host", m), _ts(r, "ts"), _uint(r, "seq"), labels.get("rack", ""),
        _opt_str(r, "severity", m), _opt_str(r, "program", m),
        0 if pid is None else _uint(r, "pid", 2**32 - 1),
        _opt_str(r, "component", m), _opt_str(r, "source", m), _opt_str(r, "template_id", m),
        _opt_str(r, "template", m), _opt_str(r, "fault_class", m), _opt_str(r, "fault_source", m),
        _str(r, "message", m), labels,
    )


ALERT_COLUMNS = ("fingerprint", "status", "rule", "severity", "host", "rack", "labels",
                 "annotations", "value", "threshold", "starts_at", "ends_at", "updated_at",
                 "incident_id")


def alert_row(r: Mapping[str, Any], lim: Limits) -> Row:
    m = lim.max_field_bytes
    _check_schema(r, ids.ALERT)
    labels = _labels(r, "labels", m)
    status = _str(r, "status", m)
    if status not in ("firing", "resolved"):
        raise _bad("bad_value", f"status {status[:32]!r} is neither firing nor resolved")
    return (
        _str(r, "fingerprint", m), status, _str(r, "rule", m), _str(r, "severity", m),
        _opt_str(r, "host", m), labels.get("rack", ""), labels, _labels(r, "annotations", m),
        _opt_num(r, "value"), _opt_num(r, "threshold"), _time(r, "starts_at"),
        _opt_time(r, "ends_at"), _time(r, "updated_at"), _opt_str(r, "incident_id", m),
    )


INCIDENT_COLUMNS = ("incident_id", "status", "scope", "scope_value", "suspect", "suspects",
                    "root_cause_hint", "fault_probability", "hosts", "alerts", "fault_classes",
                    "severity", "opened_at", "updated_at", "resolved_at", "evidence")


def incident_row(r: Mapping[str, Any], lim: Limits) -> Row:
    m = lim.max_field_bytes
    _check_schema(r, ids.INCIDENT)
    evidence = r.get("evidence")
    ev = "" if evidence is None else orjson.dumps(evidence).decode()
    if len(ev) > m:
        raise _bad("too_large", f"evidence is larger than {m} bytes")
    suspects = r.get("suspects")
    if suspects is not None and not isinstance(suspects, list):
        raise _bad("bad_type", "suspects should be a list")
    sus = orjson.dumps(suspects).decode() if suspects else ""
    if len(sus) > m:
        raise _bad("too_large", f"suspects is larger than {m} bytes")
    return (
        _str(r, "incident_id", m), _str(r, "status", m), _opt_str(r, "scope", m),
        _opt_str(r, "scope_value", m), _opt_str(r, "suspect", m), sus,
        _opt_str(r, "root_cause_hint", m), _opt_num(r, "fault_probability"),
        _str_list(r, "hosts"), _str_list(r, "alerts"), _str_list(r, "fault_classes"),
        _str(r, "severity", m), _time(r, "opened_at"), _time(r, "updated_at"),
        _opt_time(r, "resolved_at"), ev,
    )


ACTION_COLUMNS = ("action_id", "action", "fingerprint", "by", "at", "note", "assignee",
                  "priority", "group_key", "starts_at", "rule", "host", "rack", "labels",
                  "matchers", "until", "level")
_ACTIONS = frozenset({"assigned", "acknowledged", "escalated", "silenced", "resolved",
                      "reopened"})


def action_row(r: Mapping[str, Any], lim: Limits) -> Row:
    """One handling action (rackwatch.action/v1) as a row of alert_actions; a silence
    names no alert (empty fingerprint)."""
    m = lim.max_field_bytes
    _check_schema(r, ids.ACTION)
    action = _str(r, "action", m)
    if action not in _ACTIONS:
        raise _bad("bad_value", f"action {action[:32]!r} is not a handling action")
    by = _str(r, "by", m)
    if not by.strip():
        raise _bad("bad_value", "an action without a name (by)")
    labels = _labels(r, "labels", m) if r.get("labels") is not None else {}
    level = r.get("level")
    return (
        _str(r, "action_id", m), action, _opt_str(r, "fingerprint", m), by, _time(r, "at"),
        _opt_str(r, "note", m), _opt_str(r, "assignee", m), _opt_str(r, "priority", m),
        _opt_str(r, "group", m), _opt_time(r, "starts_at"), _opt_str(r, "rule", m),
        _opt_str(r, "host", m), labels.get("rack", ""), labels, _str_list(r, "matchers"),
        _opt_time(r, "until"), _uint(r, "level", 65_535) if level is not None else 0,
    )


DEADLETTER_COLUMNS = ("rejected_at", "reason_code", "reason", "source_topic", "source_partition",
                      "source_offset", "key", "raw", "raw_encoding", "origin")


def _opt_int(r: Mapping[str, Any], key: str) -> int | None:
    v = r.get(key)
    if v is None:
        return None
    if type(v) is not int:
        raise _bad("bad_type", f"{key} should be an integer")
    return v


def deadletter_row(r: Mapping[str, Any], lim: Limits, origin: str = "stream") -> Row:
    m = lim.max_field_bytes
    _check_schema(r, ids.DEADLETTER)
    return (
        _time(r, "rejected_at"), _str(r, "reason_code", m), _str(r, "reason", m),
        _opt_str(r, "source_topic", m), _opt_int(r, "source_partition"),
        _opt_int(r, "source_offset"), None if r.get("key") is None else _str(r, "key", m),
        _str(r, "raw", m), _opt_str(r, "raw_encoding", m) or "utf-8", origin,
    )


@dataclass(frozen=True)
class TableSpec:
    """Where one topic's records go and how each becomes a row.

    With `ingest`, the sink does not decode the messages: it inserts them as they are
    into that Null table, whose materialized views parse, validate and route the records
    inside ClickHouse (see schemas/sql/0008_metrics_ingest.sql); `convert` then serves
    only tools and tests that build rows in Python.
    """

    topic: str  # short topic name, e.g. "processed.metrics"
    table: str
    columns: tuple[str, ...]
    convert: Callable[[Mapping[str, Any], Limits], Row]
    batched: bool  # the message value is a JSON array of records
    ingest: str | None = None  # Null table taking the raw messages
    block_ingest: str | None = None  # ... and the messages that are JSON objects


INGEST_COLUMNS = ("topic", "partition", "offset", "key", "doc")


def table_specs() -> dict[str, TableSpec]:
    """The sink's routing, keyed by short topic name (prefix it with cfg.topic)."""
    specs = [
        TableSpec("processed.metrics", "metrics", METRIC_COLUMNS, metric_row, True,
                  ingest="metrics_ingest", block_ingest="metric_blocks_ingest"),
        TableSpec("processed.logs", "logs", LOG_COLUMNS, log_row, True),
        TableSpec("alerts", "alerts", ALERT_COLUMNS, alert_row, False),
        TableSpec("incidents", "incidents", INCIDENT_COLUMNS, incident_row, False),
        TableSpec("deadletter", "deadletter", DEADLETTER_COLUMNS, deadletter_row, False),
        TableSpec("actions", "alert_actions", ACTION_COLUMNS, action_row, False),
    ]
    return {s.topic: s for s in specs}


_BLOCK_N = re.compile(rb'^\{"schema":"' + re.escape(ids.METRIC_BLOCK.encode())
                      + rb'","n":(\d{1,9})[,}]')


def estimate_records(value: bytes) -> int:
    """About how many records a message holds, without decoding it (for batch sizes and
    back-pressure only): a metric block's "n" (the worker writes it first, after the
    schema), else the objects of a JSON array (a string containing '},{' counts extra)."""
    if len(value) <= 2:
        return 0
    if value[:1] == b"{":
        m = _BLOCK_N.match(value)
        return int(m.group(1)) if m is not None else 1
    return value.count(b"},{") + 1


def decode_message(value: bytes | None, max_bytes: int) -> list[Any]:
    """The records of one Kafka message: a JSON array, or one JSON object."""
    if value is None:
        raise _bad("empty", "message has no value (a tombstone?)")
    if len(value) > max_bytes:
        raise _bad("too_large", f"message is {len(value)} bytes, limit {max_bytes}")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise _bad("bad_json", f"undecodable JSON: {e}") from e
    if type(doc) is list:
        return doc
    if type(doc) is dict:
        return [doc]
    raise _bad("bad_type", f"message is a JSON {type(doc).__name__}, not an object or array")
