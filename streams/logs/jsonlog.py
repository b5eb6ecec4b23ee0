"""JSON application logs: one object per line, in the dialects loggers actually write.

Field names differ by library (structlog, pino/bunyan, logrus/zap, python-json-logger,
Elastic Common Schema, journald `-o json`, Docker's json-file), so each header field
is looked up under its usual names, first hit wins. Nested ECS objects are read
by dotted path ("log.level", "host.name"). Everything else that is a scalar is kept
in `extra`, stringified, so rules and queries can still see it.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from streams.logs.parsed import ParsedLine
from streams.logs.severity import from_level, from_syslog_pri
from streams.logs.timestamps import epoch_number_to_ms, iso_to_ms

__all__ = ["parse_json", "parse_json_object"]

logger = logging.getLogger(__name__)

MESSAGE_KEYS = ("message", "msg", "MESSAGE", "event", "log", "text", "short_message")
TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "t", "datetime", "asctime", "date",
             "__REALTIME_TIMESTAMP")
LEVEL_KEYS = ("level", "severity", "log.level", "levelname", "lvl", "loglevel", "PRIORITY",
              "priority", "levelno")
HOST_KEYS = ("host", "hostname", "host.name", "_HOSTNAME", "node", "nodename")
PROGRAM_KEYS = ("program", "app", "application", "service", "service.name", "SYSLOG_IDENTIFIER",
                "_COMM", "process.name", "logger", "logger_name", "name", "syslog_identifier")
PID_KEYS = ("pid", "_PID", "process.pid", "SYSLOG_PID", "process")
_MAX_EXTRA = 32


def _lookup(obj: dict[str, Any], key: str) -> Any:
    if key in obj:
        return obj[key]
    if "." in key:
        node: Any = obj
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node
    return None


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        value = _lookup(obj, key)
        if value is not None and not isinstance(value, dict | list):
            return key, value
    return None, None


def _time(key: str | None, value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if key == "__REALTIME_TIMESTAMP":  # journald: microseconds, as a string
        text = str(value)
        return int(text) // 1000 if text.isascii() and text.isdigit() else None
    if isinstance(value, int | float):
        return epoch_number_to_ms(float(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return iso_to_ms(text)
    return epoch_number_to_ms(number)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def parse_json_object(obj: dict[str, Any]) -> ParsedLine:
    """Header fields and message of a decoded JSON log object."""
    used: set[str] = set()
    msg_key, message = _first(obj, MESSAGE_KEYS)
    time_key, time_value = _first(obj, TIME_KEYS)
    level_key, level = _first(obj, LEVEL_KEYS)
    host_key, host = _first(obj, HOST_KEYS)
    prog_key, program = _first(obj, PROGRAM_KEYS)
    pid_key, pid = _first(obj, PID_KEYS)
    for key in (msg_key, time_key, level_key, host_key, prog_key, pid_key):
        if key is not None:
            used.add(key.split(".", 1)[0])
    if level_key == "PRIORITY":
        text = str(level)
        severity = from_syslog_pri(int(text)) if text.isascii() and text.isdigit() else (
            from_level(level))
    else:
        severity = from_level(level)
    extra: dict[str, str] = {}
    for key, value in obj.items():
        if key in used or isinstance(value, dict | list) or value is None:
            continue
        if len(extra) >= _MAX_EXTRA:
            break
        extra[key] = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = "" if message is None else str(message)
    return ParsedLine(
        message=text.rstrip("\r\n") if msg_key == "log" else text,
        format="json",
        ts=_time(time_key, time_value),
        host=None if host is None else str(host),
        program=None if program is None else str(program),
        pid=_int(pid),
        severity=severity,
        extra=extra,
    )


def parse_json(line: str) -> ParsedLine | None:
    """A JSON-object line, or None when the line is not one."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    return parse_json_object(obj)
