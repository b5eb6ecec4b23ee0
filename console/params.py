"""Validation of the console API's query parameters: a closed vocabulary, checked once.

Every parameter a page or script may send is parsed here into a plain value, or
refused with a message that names the parameter and what was expected (HTTP 400).
Names follow strict shapes (a host, a metric name, a template id), times are epoch
milliseconds or a preset range, numbers are bounded. `now_ms` is passed in: no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "MAX_SPAN_MS",
    "RANGES",
    "SEVERITIES",
    "ParamError",
    "TimeRange",
    "choice",
    "host_name",
    "limit",
    "metric_name",
    "optional_name",
    "template_id",
    "time_range",
]

SEVERITIES = ("critical", "warning", "info")

# Preset ranges a page offers, in milliseconds.
RANGES: dict[str, int] = {"5m": 300_000, "15m": 900_000, "1h": 3_600_000, "6h": 21_600_000,
                          "24h": 86_400_000, "7d": 604_800_000}
MAX_SPAN_MS = 31 * 86_400_000
# Points per series a chart is given at most (a chart is ~1,000 px wide).
MAX_POINTS = 720
MIN_STEP_MS = 1_000

_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,252}$")
_METRIC = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_TEMPLATE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/@-]{0,127}$")


class ParamError(ValueError):
    """A request parameter is missing or malformed (answered with HTTP 400)."""


@dataclass(frozen=True)
class TimeRange:
    """[from_ms, to_ms) and the bucket width that keeps a chart under MAX_POINTS."""

    from_ms: int
    to_ms: int
    step_ms: int


def _matching(value: str, pattern: re.Pattern[str], what: str, param: str) -> str:
    if not pattern.match(value):
        raise ParamError(f"{param}: not a valid {what}: {value[:80]!r}")
    return value


def host_name(value: str, param: str = "host") -> str:
    """A host as agents name it: letters, digits and . _ : @ -, at most 253 characters."""
    return _matching(value, _HOST, "host name", param)


def metric_name(value: str, param: str = "metric") -> str:
    """A dotted metric name of the catalogue's shape (`gpu.temperature`)."""
    if len(value) > 128:
        raise ParamError(f"{param}: longer than 128 characters")
    return _matching(value, _METRIC, "metric name", param)


def template_id(value: str, param: str = "template_id") -> str:
    """A log template id (opaque: letters, digits and . _ : -, as the miner names them)."""
    return _matching(value, _TEMPLATE, "template id", param)


def optional_name(query: Mapping[str, str], param: str) -> str | None:
    """A free label value (a rack, a rule name), or None when absent or empty."""
    value = query.get(param, "")
    if not value:
        return None
    return _matching(value, _NAME, "name", param)


def choice(query: Mapping[str, str], param: str, options: tuple[str, ...],
           default: str | None = None) -> str | None:
    """One of `options`, `default` when absent."""
    value = query.get(param, "")
    if not value:
        return default
    if value not in options:
        raise ParamError(f"{param}: expected one of {', '.join(options)}, got {value[:40]!r}")
    return value


def limit(query: Mapping[str, str], default: int, maximum: int, param: str = "limit") -> int:
    """A positive count, at most `maximum`."""
    text = query.get(param, "")
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise ParamError(f"{param}: expected an integer from 1 to {maximum}, got {text[:20]!r}")
    return int(text)


def _epoch_ms(text: str, param: str) -> int:
    if not text.isdigit() or len(text) > 15:
        raise ParamError(f"{param}: expected epoch milliseconds, got {text[:20]!r}")
    return int(text)


def _nice_step(span_ms: int, max_points: int) -> int:
    """The smallest of 1 s, 2 s, 5 s, 10 s, ... that keeps span/step <= max_points."""
    raw = max(MIN_STEP_MS, -(-span_ms // max_points))
    for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
              21600, 43200, 86400):
        if s * 1000 >= raw:
            return s * 1000
    return -(-raw // 86_400_000) * 86_400_000


def time_range(query: Mapping[str, str], now_ms: int, default: str = "1h",
               max_points: int = MAX_POINTS) -> TimeRange:
    """`range=1h` (a preset, ending now) or `from=MS&to=MS` (to defaults to now)."""
    if "from" in query:
        start = _epoch_ms(query["from"], "from")
        end = _epoch_ms(query["to"], "to") if query.get("to") else now_ms
        if end <= start:
            raise ParamError("to: must be after from")
        if end - start > MAX_SPAN_MS:
            raise ParamError(f"from/to: at most {MAX_SPAN_MS // 86_400_000} days")
    else:
        preset = query.get("range") or default
        if preset not in RANGES:
            raise ParamError(f"range: expected one of {', '.join(RANGES)}, got {preset[:20]!r}")
        end, start = now_ms, now_ms - RANGES[preset]
    return TimeRange(start, end, _nice_step(end - start, max_points))
