"""One severity scale for every log source: the eight syslog levels, by name.

Sources say "how bad" in many dialects: syslog PRI numbers, kernel printk levels,
words like `warn`/`ERROR`/`fatal`, Python and pino numeric levels, journald's
PRIORITY. Rules and queries should not have to know them all, so every record
carries one of the names in `SEVERITIES`, ordered from worst to mildest:

    emergency, alert, critical, error, warning, notice, info, debug

which are RFC 5424's levels 0-7. Anything unrecognised maps to None, and the
processor decides the fallback (see streams.logs.processor).
"""

from __future__ import annotations

import logging
import re

__all__ = [
    "SEVERITIES",
    "from_level",
    "from_number",
    "from_syslog_pri",
    "rank",
    "sniff_content",
    "sniff_level_token",
]

logger = logging.getLogger(__name__)

SEVERITIES: tuple[str, ...] = (
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "info",
    "debug",
)
_RANK = {name: i for i, name in enumerate(SEVERITIES)}

_WORDS: dict[str, str] = {
    "emerg": "emergency",
    "emergency": "emergency",
    "panic": "emergency",
    "alert": "alert",
    "crit": "critical",
    "critical": "critical",
    "fatal": "critical",
    "failure": "critical",  # BlueGene RAS: the level above FATAL
    "f": "critical",
    "c": "critical",
    "err": "error",
    "error": "error",
    "eror": "error",
    "severe": "error",
    "e": "error",
    "warn": "warning",
    "warning": "warning",
    "wrn": "warning",
    "w": "warning",
    "notice": "notice",
    "n": "notice",
    "info": "info",
    "inf": "info",
    "information": "info",
    "informational": "info",
    "i": "info",
    "debug": "debug",
    "dbg": "debug",
    "d": "debug",
    "trace": "debug",
    "verbose": "debug",
    "v": "debug",
    "t": "debug",
}

# Leading level markers in free text: "ERROR: ...", "[WARN] ...", "fatal: ...",
# "NCCL WARN ...", glog's "E0610 12:00:00.123 ..." (letter + MMDD).
_SNIFF = re.compile(
    r"^\s*(?:\[?(?P<word>emerg(?:ency)?|alert|crit(?:ical)?|fatal|err(?:or)?|warn(?:ing)?"
    r"|notice|info|debug|trace)\]?(?=[\s:\]]|$)"
    r"|(?P<glog>[IWEF])\d{4} \d{2}:\d{2}:\d{2})",
    re.IGNORECASE,
)
# Upper-case level words standing alone among a line's first 12 words, where a header
# the parsers do not know carries one ("081109 203615 148 INFO dfs.DataNode: ...",
# "... RAS KERNEL FATAL data TLB error interrupt"). Lower-case and mixed-case words are
# prose there, and ALERT/ERR/single letters are too often names to be trusted.
_LEVEL_TOKENS = {
    "EMERG": "emergency", "EMERGENCY": "emergency", "CRIT": "critical",
    "CRITICAL": "critical", "FATAL": "critical", "FAILURE": "critical", "SEVERE": "error",
    "ERROR": "error", "WARN": "warning", "WARNING": "warning", "NOTICE": "notice",
    "INFO": "info", "DEBUG": "debug", "TRACE": "debug",
}
_LEVEL_TOKEN_WINDOW = 12
_TOKEN_TRIM = "[]():|,;<>"
# NCCL prefixes its level with "host:pid:tid [rank] ", so it is searched, not anchored
_NCCL = re.compile(r"\bNCCL (WARN|INFO|ERROR|TRACE)\b")


def rank(severity: str) -> int:
    """0 (emergency) to 7 (debug); unknown names rank as info, which is the default."""
    return _RANK.get(severity, _RANK["info"])


def from_syslog_pri(pri: int) -> str:
    """The severity part of a syslog PRI (facility * 8 + severity), or a bare printk level."""
    return SEVERITIES[pri & 7]


def from_level(value: object) -> str | None:
    """A level as written by a logging library (word or number) -> our scale, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return from_number(value)
    if isinstance(value, float):
        return from_number(int(value)) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text.isascii() and text.isdigit():
            return from_number(int(text))
        return _WORDS.get(text)
    return None


def from_number(n: int) -> str | None:
    """A numeric level: 0-7 are syslog levels; 10-60 are pino/bunyan (10 trace .. 60 fatal).

    Python's logging uses 10-50 with the same ordering offset by one step (its 50 is
    CRITICAL where pino's 50 is error); pino's reading is used because numeric levels in
    JSON logs come from pino/bunyan far more often, Python formatters write level names.
    """
    if 0 <= n <= 7:
        return SEVERITIES[n]
    table = {10: "debug", 20: "debug", 30: "info", 40: "warning", 50: "error", 60: "critical"}
    return table.get(n)


def sniff_content(message: str) -> str | None:
    """A level marker at the start of free text, when the header said nothing."""
    m = _SNIFF.match(message)
    if m is not None:
        return _WORDS.get((m.group("word") or m.group("glog")).lower())
    n = _NCCL.search(message, 0, 120)
    return _WORDS.get(n.group(1).lower()) if n is not None else None


def sniff_level_token(message: str) -> tuple[str, str] | None:
    """(severity, the word as written) for an upper-case level word among a line's first
    words, when its header was not parsed; the word is the header's, not the message's."""
    for token in message.split(None, _LEVEL_TOKEN_WINDOW)[:_LEVEL_TOKEN_WINDOW]:
        word = token.strip(_TOKEN_TRIM)
        level = _LEVEL_TOKENS.get(word)
        if level is not None:
            return level, word
    return None
