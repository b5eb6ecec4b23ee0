"""Syslog headers: RFC 5424 and RFC 3164 (BSD, as written by rsyslog/syslog-ng to files).

RFC 3164 in the wild is loose, so the parser accepts what real files hold:
the PRI is optional (files usually drop it), the time is either "Mmm dd hh:mm:ss"
or RFC 3339 (rsyslog's high-precision template), the host may be missing, and
the tag may carry a version ("syslogd 1.4.1:"), a path ("/usr/sbin/cron[12]:"),
a parenthesised module ("sshd(pam_unix)[19939]:"), a leading "-- " (login(1)) or,
on macOS, an address after the pid ("launchd[1] (com.apple.x.1):"). A level word
where the host would be ("2024-06-10T12:00:00Z INFO [main] ...") means the line is a
logging library's header, not syslog: it is left to streams.logs.header.
"""

from __future__ import annotations

import logging
import re

from streams.logs.header import is_level_word
from streams.logs.parsed import ParsedLine
from streams.logs.severity import from_syslog_pri
from streams.logs.timestamps import dated_to_ms, iso_to_ms, yearless_to_ms

__all__ = ["FACILITIES", "parse_rfc3164", "parse_rfc5424"]

logger = logging.getLogger(__name__)

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)

_RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<ver>[1-9]\d?) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) "
    r"(?P<procid>\S+) (?P<msgid>\S+) ?(?P<rest>.*)",
    re.DOTALL,
)
_SD_PARAM = re.compile(r'\s*([^=\s\]"]+)="((?:[^"\\]|\\.)*)"')

_MONTH = r"Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_RFC3164 = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?"
    r"(?:(?P<mon>" + _MONTH + r") {1,2}(?P<day>\d{1,2}) (?P<hh>\d{2}):(?P<mm>\d{2}):(?P<ss>\d{2})"
    r"(?:\.(?P<frac>\d{1,6}))?(?: (?P<year>(?:19|20)\d{2})(?= ))?"
    r"|(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?))"
    r"(?: +(?P<rest>.*)|$)",
    re.DOTALL,
)
# "name:", "name[123]:" alone as the first word: a line written without a host
_TAG_ONLY = re.compile(r"[^\s\[\]:]+(?:\[\d+\])?:$")
# macOS adds " (address)" after the pid: "launchd[1] (com.apple.xpc.launchd.domain.pid.X.1):"
_TAG = re.compile(r"(?P<tag>[^:\[\]]{1,64}?)(?:\[(?P<pid>\d{1,10})\])?"
                  r"(?: \((?P<addr>[^()\s]{1,128})\))?:(?: +|$)(?P<msg>.*)", re.DOTALL)
# a word after the time that is no host: a level (a logging library's header, not
# syslog's), a container stream, a bracket or a separator
_NOT_A_HOST = frozenset({"stdout", "stderr", "-", "|"})


def _facility(pri: int) -> str:
    code = pri >> 3
    return FACILITIES[code] if code < len(FACILITIES) else str(code)


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _structured_data(rest: str) -> tuple[dict[str, str], str]:
    """Split RFC 5424 STRUCTURED-DATA from MSG; params come back as "sdid.name"."""
    extra: dict[str, str] = {}
    if rest.startswith("-"):
        return extra, rest[2:] if rest[1:2] == " " else rest[1:]
    i = 0
    while i < len(rest) and rest[i] == "[":
        end = i + 1
        in_quotes = False
        while end < len(rest):
            c = rest[end]
            if c == "\\":
                end += 2
                continue
            if c == '"':
                in_quotes = not in_quotes
            elif c == "]" and not in_quotes:
                break
            end += 1
        element = rest[i + 1 : end]
        sd_id, _, params = element.partition(" ")
        for name, value in _SD_PARAM.findall(params):
            extra[f"{sd_id}.{name}"] = re.sub(r"\\([\"\\\]])", r"\1", value)
        i = end + 1
    msg = rest[i:]
    return extra, msg[1:] if msg.startswith(" ") else msg


def parse_rfc5424(line: str) -> ParsedLine | None:
    """`<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`, or None if it is not one."""
    m = _RFC5424.match(line)
    if m is None:
        return None
    pri = int(m.group("pri"))
    if pri > 191:
        return None
    extra, msg = _structured_data(m.group("rest"))
    msg = msg.removeprefix("\ufeff")
    extra["facility"] = _facility(pri)
    msgid = _nil(m.group("msgid"))
    if msgid is not None:
        extra["msgid"] = msgid
    procid = _nil(m.group("procid"))
    pid = int(procid) if procid is not None and procid.isascii() and procid.isdigit() else None
    if procid is not None and pid is None:
        extra["procid"] = procid
    ts_text = _nil(m.group("ts"))
    return ParsedLine(
        message=msg,
        format="rfc5424",
        ts=iso_to_ms(ts_text) if ts_text else None,
        host=_nil(m.group("host")),
        program=_nil(m.group("app")),
        pid=pid,
        severity=from_syslog_pri(pri),
        extra=extra,
    )


def _program(tag: str) -> str | None:
    """The program name inside a tag: "syslogd 1.4.1" -> syslogd, "-- root" -> root."""
    words = tag.split()
    if not words or len(words) > 2:
        return None
    for word in words:
        if any(c.isalpha() for c in word):
            return word.rsplit("/", 1)[-1] if word.startswith("/") else word
    return None


def parse_rfc3164(line: str, reference_ms: int | None = None) -> ParsedLine | None:
    """`[<PRI>]TIME [HOST] TAG[PID]: MSG`, or None if the line has no such time header."""
    m = _RFC3164.match(line)
    if m is None:
        return None
    extra: dict[str, str] = {}
    severity = None
    if m.group("pri") is not None:
        pri = int(m.group("pri"))
        if pri > 191:
            return None
        severity = from_syslog_pri(pri)
        extra["facility"] = _facility(pri)
    if m.group("iso"):
        ts = iso_to_ms(m.group("iso"))
    else:
        frac = m.group("frac") or ""
        frac_ms = int((frac + "000")[:3]) if frac else 0
        day, hh, mm, ss = (int(m.group(g)) for g in ("day", "hh", "mm", "ss"))
        if m.group("year"):
            ts = dated_to_ms(int(m.group("year")), m.group("mon"), day, hh, mm, ss, frac_ms)
        else:
            ts = yearless_to_ms(m.group("mon"), day, hh, mm, ss, frac_ms, reference_ms)
    rest = m.group("rest") or ""
    host: str | None = None
    first, _, after = rest.partition(" ")
    if first in _NOT_A_HOST or first.startswith("[") or is_level_word(first):
        return None
    if not _TAG_ONLY.match(first):
        host = first or None
        rest = after.lstrip(" ")
    program = pid = None
    msg = rest
    t = _TAG.match(rest)
    if t is not None:
        prog = _program(t.group("tag"))
        if prog is not None:
            program = prog
            pid = int(t.group("pid")) if t.group("pid") else None
            msg = t.group("msg")
            if t.group("addr"):
                extra["address"] = t.group("addr")
    return ParsedLine(message=msg, format="rfc3164", ts=ts, host=host, program=program,
                      pid=pid, severity=severity, extra=extra)

