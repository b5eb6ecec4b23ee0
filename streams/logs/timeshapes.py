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

from streams.logs.timestamps import MONTHS, civil_to_ms, yearless_to_ms

__all__ = ["TimeMatch", "match_time"]

logger = logging.getLogger(__name__)

_MON = r"Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_DOW = r"Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_HMS = r"(?P<{p}h>\d{{1,2}})[:.](?P<{p}m>\d{{1,2}})[:.](?P<{p}s>\d{{1,2}})"
_FRAC = r"(?:[.,:](?P<{p}f>\d{{1,9}}))?"
_ZONE = r"(?:\s?(?P<{p}z>Z|[+-]\d{{2}}:?\d{{2}}))?"
_END = r"(?=[\s\]|,;)]|$)"
_MONTH_NAMES = tuple(MONTHS)

# Field names: Y year, y two-digit year, M month, N month name, D day, h m s f time,
# z zone, P AM/PM, L glog level, e epoch; A/B/C the three numbers of "nn/nn/nn".
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


def _rule(prefix: str, body: str) -> str:
    return body.format(p=prefix, hms=_HMS.format(p=prefix), frac=_FRAC.format(p=prefix),
                       zone=_ZONE.format(p=prefix))


# one pass finds which shape (if any) starts here; that shape's own pattern then reads
# its fields by plain names (same text, same end: both stop at the same boundary)
_TIME = re.compile(
    "(?:" + "|".join(f"(?P<{name}>{_rule(name + '_', rx)})" for name, rx in _RULES) + ")" + _END)
_SHAPES = {name: re.compile(_rule("", rx) + _END) for name, rx in _RULES}


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


def _zoned(ms: int | None, zone: str | None) -> int | None:
    if ms is None or not zone or zone == "Z":
        return ms
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    return ms - sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0)) * 60_000


def _date(kind: str, g: dict[str, str | None]) -> tuple[int | None, int, int] | None:
    """(year or None, month, day) of a match, None when they are out of range."""
    if kind == "slash2":  # yy/MM/dd, log4j's default in Spark; nn/nn/nnnn is ambiguous
        a, b, c = (str(g[k]) for k in "ABC")
        if len(c) == 4:
            return (None, 1, 1) if int(a) <= 31 and int(b) <= 31 else None
        year: int | None = 2000 + int(a)
        month, day = int(b), int(c)
    else:
        name = g.get("N")
        month = MONTHS[name] if name else int(g["M"] or 0)
        day = int(g["D"] or 0)
        y2 = g.get("y")
        full = g.get("Y") or g.get("Z")
        year = int(full) if full else (2000 + int(y2) if y2 else None)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return year, month, day


def _read(kind: str, g: dict[str, str | None], end: int,
          reference_ms: int | None) -> TimeMatch | None:
    """The meaning of one matched shape, or None when its fields are out of range."""
    if kind == "epoch":
        value = float(str(g["e"]))
        return TimeMatch(end, round(value * 1000) if value < 1e11 else round(value), kind)
    frac = g.get("f") or ""
    frac_ms = int((frac + "000")[:3]) if frac else 0
    if kind == "time":
        hh, mm, ss = int(g["h"] or 0), int(g["m"] or 0), int(g["s"] or 0)
        if not (hh < 24 and mm < 60 and ss < 61):
            return None
        return TimeMatch(end, None, kind, day_ms=((hh * 60 + mm) * 60 + ss) * 1000 + frac_ms)
    ymd = _date(kind, g)
    if ymd is None:
        return None
    year, month, day = ymd
    if kind == "date":
        return TimeMatch(end, civil_to_ms(int(year or 0), month, day, 0, 0, 0), kind,
                         date_only=True)
    hh, mm, ss = int(g["h"] or 0), int(g["m"] or 0), int(g["s"] or 0)
    if g.get("P") is not None:
        hh = hh % 12 + (12 if g["P"] == "PM" else 0)
    if not (hh < 24 and mm < 60 and ss < 61):
        return None
    if kind == "slash2" and len(str(g["C"])) == 4:
        ms = None  # a time, but dd/MM or MM/dd cannot be told
    elif year is None:
        ms = yearless_to_ms(_MONTH_NAMES[month - 1], day, hh, mm, ss, frac_ms, reference_ms)
    else:
        ms = _zoned(civil_to_ms(year, month, day, hh, mm, ss, frac_ms), g.get("z"))
    return TimeMatch(end, ms, kind, level=g.get("L"))


def match_time(line: str, pos: int, reference_ms: int | None = None) -> TimeMatch | None:
    """The time (or date) starting at `pos`, or None."""
    m = _TIME.match(line, pos)
    if m is None or m.lastgroup is None:
        return None
    shape = _SHAPES[m.lastgroup].match(line, pos)
    if shape is None:  # cannot happen: the same pattern at the same place
        return None
    return _read(m.lastgroup, shape.groupdict(), m.end(), reference_ms)
