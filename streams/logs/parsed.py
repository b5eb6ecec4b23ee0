"""What a parser extracts from one line: the content to template, plus header fields."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

__all__ = ["FORMATS", "ParsedLine"]

logger = logging.getLogger(__name__)

# The header formats a line can be recognised as; "generic" is a logging library's
# header read field by field (streams.logs.header); "plain" means no header was found
# and the whole line is the message (a line is never dropped).
FORMATS = ("rfc5424", "rfc3164", "kernel", "kmsg", "json", "generic", "plain")


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One log line split into header fields and the message content.

    `message` is what template mining sees: the header (time, host, tag, kernel
    uptime) removed. Fields absent from the line are None; `extra` holds whatever
    else the format carried (syslog facility, RFC 5424 MSGID and structured data,
    kernel uptime, JSON attributes), as strings.
    """

    message: str
    format: str = "plain"
    ts: int | None = None  # epoch ms, only when the header gave a complete time
    host: str | None = None
    program: str | None = None
    pid: int | None = None
    severity: str | None = None  # normalised (streams.logs.severity), None when unstated
    extra: dict[str, str] = field(default_factory=dict)
