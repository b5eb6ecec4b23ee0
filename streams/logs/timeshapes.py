"""Times at the start of a header, in the many shapes loggers write them.

`match_time(line, pos)` recognises one time (or date) at `pos` and says what it
means in epoch ms when the text says enough: a zone-less time is UTC, a time
without a year takes the year closest to the reference (as RFC 3164 times do),
and a day-month order that cannot be told apart (01/02/2024) gives no time at
all rather than a wrong one. The shapes, longest first:

    2024-06-10T12:34:56.789Z  2015-07-29 17:41:44,747  2024/06/10 12:34:56
    2005-06-03-15.42.50.675872 (BGL)  20171223-22:15:29:606 (HealthApp)
    17/06/09 20:10:40 (yy/MM/dd, log4j in Spark)  081109 203615 (yyMMdd HHmmss)
    03-17 16:13:38.811 (logcat)  10.30 16:49:06 (MM.dd)  10/Oct/2000:13:55:36 -0700
    10-Jun-2024 12:34:56.789  Sun Dec 04 04:47:44 2005  Jun 10, 2024 1:02:03 PM
    Jun 14 15:16:01  2005.06.03 (a date alone)  12:34:56.789 (a time alone)
    1117838570 / 1718020800123 (epoch s / ms)  I0610 12:34:56.123456 (glog: level too)

A match must end at a word boundary, so "2024-06-10x" or an IP address is no time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from streams.logs.timestamps import MONTHS, dated_to_ms, iso_to_ms, yearless_to_ms

__all__ = ["TimeMatch", "match_time"]

logger = logging.getLogger(__name__)

_MON = r"Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_DOW = r"Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_FRAC = r"(?:[.,:](?P<{p}f>\d{{1,9}}))?"
_ZONE = r"(?:\s?(?P<{p}z>Z|[+-]\d{{2}}:?\d{{2}}))?"
_HMS = r"(?P<{p}h>\d{{1,2}})[:.](?P<{p}m>\d{{1,2}})[:.](?P<{p}s>\d{{1,2}})"
_MONTH_NAMES = tuple(MONTHS)


def _rule(prefix: str, body: str) -> str:
    return body.format(p=prefix, hms=_HMS.format(p=prefix), frac=_FRAC.format(p=prefix),
                       zone=_ZONE.format(p=prefix))


_RULES: tuple[tuple[str, str], ...] = (
    ("iso", r"(?P<{p}Y>\d{{4}})[-/.](?P<{p}M>\d{{1,2}})[-/.](?P<{p}D>\d{{1,2}})(?:[T ]|-(?=\d\d\.))"
     r"{hms}{frac}{zone}"),
    ("compact", r"(?P<{p}Y>\d{{4}})(?P<{p}M>\d{{2}})(?P<{p}D>\d{{2}})[-T ]{hms}{frac}"),
    ("slash2", r"(?P<{p}A>\d{{2}})/(?P<{p}B>\d{{2}})/(?P<{p}C>\d{{2}}(?:\d{{2}})?) {hms}{frac}"),
    ("digits6", r"(?P<{p}y>\d{{2}})(?P<{p}M>\d{{2}})(?P<{p}D>\d{{2}}) "
     r"(?P<{p}h>\d{{2}})(?P<{p}m>\d{{2}})(?P<{p}s>\d{{2}})"),
    ("monthday", r"(?P<{p}M>\d{{2}})[-.](?P<{p}D>\d{{2}}) {hms}{frac}"),
    ("clf", r"(?P<{p}D>\d{{2}})/(?P<{p}N>" + _MON + r")/(?P<{p}Y>\d{{4}}):{hms}{zone}"),
    ("dmy", r"(?P<{p}D>\d{{1,2}})[- ](?P<{p}N>" + _MON + r")[- ](?P<{p}Y>\d{{4}})[ :]{hms}{frac}"),
    ("named", r"(?:(?:" + _DOW + r"),? )?(?P<{p}N>" + _MON + r") +(?P<{p}D>\d{{1,2}})"
     r"(?:,? (?P<{p}Y>\d{{4}}))? {hms}{frac}(?: (?P<{p}P>[AP]M))?(?: (?P<{p}Z>\d{{4}}))?"),
    ("glog", r"(?P<{p}L>[IWEF])(?P<{p}M>\d{{2}})(?P<{p}D>\d{{2}}) {hms}{frac}"),
    ("date", r"(?P<{p}Y>\d{{4}})[-/.](?P<{p}M>\d{{2}})[-/.](?P<{p}D>\d{{2}})"),
    ("time", r"(?P<{p}h>\d{{1,2}}):(?P<{p}m>\d{{2}}):(?P<{p}s>\d{{2}}){frac}"),
    ("epoch", r"(?P<{p}e>1\d{{9}}(?:\.\d{{1,9}})?|1\d{{12}})"),
)
_TIME = re.compile(
    "(?:" + "|".join(f"(?P<{name}>{_rule(name + '_', rx)})" for name, rx in _RULES) + ")"
    + r"(?=[\s\]|,;)]|$)"
)


@dataclass(frozen=True, slots=True)
class TimeMatch:
    """A time found in a header: where it ends, its value, and what kind of stamp it was.

    `ms` is None when the text is a time but says too little (a time of day alone,
    an ambiguous day/month order). `date_only` marks a date a following time
    completes; `level` is glog's level letter.
    """

    end: int
    ms: int | None
    kind: str
    date_only: bool = False
    level: str | None = None
    day_ms: int | None = None  # a time of day alone, in ms since midnight


def _int(m: re.Match[str], name: str) -> int:
    return int(m.group(name) or 0)


def _frac_ms(m: re.Match[str], p: str) -> int:
    frac = (m.group(p + "f") if p + "f" in _TIME.groupindex else None) or ""
    return int((frac + "000")[:3]) if frac else 0


def _ymd(y: int, mo: int, d: int, m: re.Match[str], p: str) -> int | None:
    if not 1 <= mo <= 12:
        return None
    return dated_to_ms(y, _MONTH_NAMES[mo - 1], d, _int(m, p + "h"), _int(m, p + "m"),
                       _int(m, p + "s"), _frac_ms(m, p))


def _yearless(mo: int, d: int, m: re.Match[str], p: str, reference_ms: int | None) -> int | None:
    if not 1 <= mo <= 12:
        return None
    return yearless_to_ms(_MONTH_NAMES[mo - 1], d, _int(m, p + "h"), _int(m, p + "m"),
                          _int(m, p + "s"), _frac_ms(m, p), reference_ms)


def _zoned(ms: int | None, m: re.Match[str], p: str) -> int | None:
    zone = m.group(p + "z")
    if ms is None or not zone or zone == "Z":
        return ms
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    return ms - sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0)) * 60_000


def _named(m: re.Match[str], reference_ms: int | None) -> int | None:
    p = "named_"
    hour = _int(m, p + "h")
    ampm = m.group(p + "P")
    if ampm is not None:
        hour = hour % 12 + (12 if ampm == "PM" else 0)
    year = m.group(p + "Y") or m.group(p + "Z")
    mon, day = m.group(p + "N"), _int(m, p + "D")
    if year is None:
        return yearless_to_ms(mon, day, hour, _int(m, p + "m"), _int(m, p + "s"),
                              _frac_ms(m, p), reference_ms)
    return dated_to_ms(int(year), mon, day, hour, _int(m, p + "m"), _int(m, p + "s"),
                       _frac_ms(m, p))


def _value(kind: str, m: re.Match[str], reference_ms: int | None) -> int | None:
    """Epoch ms of a matched time, or None when it cannot be told exactly."""
    p = kind + "_"
    if kind in ("iso", "compact"):
        ms = _ymd(_int(m, p + "Y"), _int(m, p + "M"), _int(m, p + "D"), m, p)
        return _zoned(ms, m, p) if kind == "iso" else ms
    if kind == "slash2":  # yy/MM/dd (log4j's Spark default); dd/MM/yyyy is ambiguous
        c = m.group(p + "C")
        if len(c) == 4:
            return None
        return _ymd(2000 + int(m.group(p + "A")), _int(m, p + "B"), int(c), m, p)
    if kind == "digits6":
        return _ymd(2000 + _int(m, p + "y"), _int(m, p + "M"), _int(m, p + "D"), m, p)
    if kind in ("monthday", "glog"):
        return _yearless(_int(m, p + "M"), _int(m, p + "D"), m, p, reference_ms)
    if kind in ("clf", "dmy"):
        ms = dated_to_ms(_int(m, p + "Y"), m.group(p + "N"), _int(m, p + "D"), _int(m, p + "h"),
                         _int(m, p + "m"), _int(m, p + "s"), _frac_ms(m, p))
        return _zoned(ms, m, p) if kind == "clf" else ms
    if kind == "named":
        return _named(m, reference_ms)
    if kind == "epoch":
        value = float(m.group(p + "e"))
        return round(value * 1000) if value < 1e11 else round(value)
    return None


def _valid(kind: str, m: re.Match[str]) -> bool:
    """Range checks that tell a time from a number of the same shape (081109 203615)."""
    p = kind + "_"
    if kind == "epoch":
        return True
    month = m.group(p + "M") if p + "M" in _TIME.groupindex else None
    day = m.group(p + "D") if p + "D" in _TIME.groupindex else None
    if month is not None and not 1 <= int(month) <= 12:
        return False
    if day is not None and not 1 <= int(day) <= 31:
        return False
    if kind == "date":
        return True
    hh, mm, ss = _int(m, p + "h"), _int(m, p + "m"), _int(m, p + "s")
    return hh < 24 and mm < 60 and ss < 61


def match_time(line: str, pos: int, reference_ms: int | None = None) -> TimeMatch | None:
    """The time (or date) starting at `pos`, or None."""
    m = _TIME.match(line, pos)
    if m is None or m.lastgroup is None:
        return None
    kind = m.lastgroup
    if not _valid(kind, m):
        return None
    if kind == "date":
        p = "date_"
        iso = iso_to_ms(f"{m.group(p + 'Y')}-{m.group(p + 'M')}-{m.group(p + 'D')}T00:00:00")
        return TimeMatch(m.end(), iso, kind, date_only=True)
    if kind == "time":
        p = "time_"
        day_ms = ((_int(m, p + "h") * 60 + _int(m, p + "m")) * 60 + _int(m, p + "s")) * 1000
        return TimeMatch(m.end(), None, kind, day_ms=day_ms + _frac_ms(m, p))
    level = m.group("glog_L") if kind == "glog" else None
    return TimeMatch(m.end(), _value(kind, m, reference_ms), kind, level=level)
