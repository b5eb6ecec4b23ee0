"""Kernel log lines: dmesg (plain, -T, -x), /dev/kmsg records and printk level prefixes.

dmesg's "[12345.678901]" is seconds since boot, not a wall time: it is kept in
`extra["uptime_s"]` and removed from the message, because it would otherwise
make every kernel line unique to the template miner. The same prefix is removed
from kernel lines that arrive through syslog ("kernel: [  12.3] ...").
"""

from __future__ import annotations

import logging
import re

from streams.logs.parsed import ParsedLine
from streams.logs.severity import SEVERITIES, from_level, from_syslog_pri
from streams.logs.syslog import FACILITIES
from streams.logs.timestamps import dated_to_ms

__all__ = ["parse_kernel", "split_uptime"]

logger = logging.getLogger(__name__)

_UPTIME = re.compile(r"\[\s*(\d{1,10}\.\d{1,9})\] ?")
_DMESG_T = re.compile(
    r"\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) "
    r"(?P<hh>\d{2}):(?P<mm>\d{2}):(?P<ss>\d{2}) (?P<year>\d{4})\] ?(?P<msg>.*)",
    re.DOTALL,
)
_DMESG_X = re.compile(
    r"(?P<fac>" + "|".join(FACILITIES) + r") *:(?P<lvl>emerg|alert|crit|err|warn|notice|info|debug)"
    r" *: ?(?P<msg>.*)",
    re.DOTALL,
)
_KMSG = re.compile(r"(?P<pri>\d{1,3}),(?P<seq>\d+),(?P<usec>\d+),[^;]*;(?P<msg>.*)", re.DOTALL)
_PRINTK = re.compile(r"<(?P<lvl>[0-7])>(?P<msg>.*)", re.DOTALL)
_BRACKETED_LEVEL = re.compile(r"\[(?:emerg|alert|crit|error|warn|notice|info|debug|trace)"
                              r"(?:[\w:]*)\]", re.IGNORECASE)


def split_uptime(message: str) -> tuple[str | None, str]:
    """("12.345678", rest) when the message starts with a dmesg uptime, else (None, message)."""
    m = _UPTIME.match(message)
    if m is None:
        return None, message
    return m.group(1), message[m.end():]


def parse_kernel(line: str) -> ParsedLine | None:
    """A kernel-format line, or None when the line has none of the kernel prefixes."""
    m = _KMSG.match(line)
    if m is not None:
        pri = int(m.group("pri"))
        usec = int(m.group("usec"))
        since_boot = f"{usec // 1_000_000}.{usec % 1_000_000:06d}"
        extra = {"kmsg_seq": m.group("seq"), "uptime_s": since_boot}
        return ParsedLine(message=m.group("msg"), format="kmsg", program="kernel",
                          severity=from_syslog_pri(pri), extra=extra)
    severity: str | None = None
    extra = {}
    rest = line
    m = _DMESG_X.match(rest)
    if m is not None:
        extra["facility"] = m.group("fac")
        severity = from_level(m.group("lvl"))
        rest = m.group("msg")
    else:
        m = _PRINTK.match(rest)
        if m is not None:
            severity = SEVERITIES[int(m.group("lvl"))]
            rest = m.group("msg")
    ts: int | None = None
    m = _DMESG_T.match(rest)
    if m is not None and _BRACKETED_LEVEL.match(m.group("msg")):
        return None  # Apache's error log: "[ctime] [error] ...", same time, then a level
    if m is not None:
        ts = dated_to_ms(int(m.group("year")), m.group("mon"), int(m.group("day")),
                         int(m.group("hh")), int(m.group("mm")), int(m.group("ss")))
        rest = m.group("msg")
        matched = True
    else:
        uptime, rest = split_uptime(rest)
        if uptime is not None:
            extra["uptime_s"] = uptime
        matched = uptime is not None
    if not matched and severity is None:
        return None
    return ParsedLine(message=rest, format="kernel", ts=ts, program="kernel", severity=severity,
                      extra=extra)
