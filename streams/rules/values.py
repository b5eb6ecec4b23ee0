"""Scalar vocabulary of rule files: durations, numbers with units, RFC 3339 times.

Rule files are written by people, so numbers may carry the units people think in
("80%", "50M", "1.5Gi") and durations read like Prometheus ("90s", "1h30m").
Everything is parsed once at load time into plain ints (milliseconds) and floats.
"""

from __future__ import annotations

import math
import re
import time

__all__ = ["format_rfc3339_ms", "parse_duration_ms", "parse_number"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
                     "w": 7 * 86_400_000}

_NUMBER = re.compile(
    r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(%|k|K|M|G|T|Ki|Mi|Gi|Ti)?\s*")
_SUFFIX = {"%": 0.01, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


def parse_duration_ms(value: object) -> int:
    """`"1h30m"`, `"90s"`, `"250ms"` or the integer 0 -> milliseconds; ValueError otherwise.

    A bare non-zero number is refused on purpose: "5" could mean seconds or minutes.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '5m', got {value!r}")
    if isinstance(value, int) and value == 0:
        return 0
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like '5m' (with a unit), got {value!r}")
    text = value.strip()
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNIT_MS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"expected a duration like '90s', '5m', '1h30m', got {value!r}")
    return round(total)


def parse_number(value: object) -> float:
    """A YAML number, or a string such as "80%", "50M", "1.5Gi", "50e6" -> float.

    `%` divides by 100 (fractions are the canonical unit); k/M/G/T are powers of
    1000 and Ki/Mi/Gi/Ti powers of 1024. Infinite and NaN values are refused.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        m = _NUMBER.fullmatch(value)
        if m is None:
            raise ValueError(f"expected a number such as 0.8, '80%', '50M', got {value!r}")
        result = float(m.group(1)) * (_SUFFIX[m.group(2)] if m.group(2) else 1.0)
    else:
        raise ValueError(f"expected a number, got {value!r}")
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


def format_rfc3339_ms(epoch_ms: int) -> str:
    """Epoch milliseconds -> "2024-01-01T00:00:05.000Z" (UTC, always milliseconds)."""
    seconds, millis = divmod(int(epoch_ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
