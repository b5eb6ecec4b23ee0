"""parse_line: recognise a line's format and split header from content.

Order matters only where formats overlap: a leading "<n>" is RFC 5424 if a version
follows, RFC 3164 if a time follows, else a printk level; syslog and kernel shapes
are tried before a generic logging-library header (streams.logs.header), which is
the last resort. A line none of the parsers recognise comes back as format "plain"
with the whole line as message:
nothing is ever dropped, and parse_line never raises on any input.
"""

from __future__ import annotations

import logging

from streams.logs.header import parse_header
from streams.logs.jsonlog import parse_json
from streams.logs.kernel import parse_kernel, split_uptime
from streams.logs.parsed import ParsedLine
from streams.logs.syslog import parse_rfc3164, parse_rfc5424

__all__ = ["parse_line"]

logger = logging.getLogger(__name__)


def _header(line: str, reference_ms: int | None) -> ParsedLine | None:
    first = line[:1]
    if first == "{":
        return parse_json(line)
    if first == "<":
        return parse_rfc5424(line) or parse_rfc3164(line, reference_ms) or parse_kernel(line)
    if first.isdigit():
        return (parse_kernel(line) or parse_rfc3164(line, reference_ms)
                or parse_header(line, reference_ms))
    if first == "[":
        return parse_kernel(line) or parse_header(line, reference_ms)
    return (parse_rfc3164(line, reference_ms) or parse_kernel(line)
            or parse_header(line, reference_ms))


def _refine(parsed: ParsedLine) -> ParsedLine:
    """Content-level structure under a header: a kernel uptime, an application's own
    header (a line a program wrote with its logging library, then sent to syslog) or a
    JSON body. The application's level is more specific than the syslog PRI."""
    message = parsed.message
    if message.startswith("["):
        uptime, rest = split_uptime(message)
        if uptime is not None:
            extra = {**parsed.extra, "uptime_s": uptime}
            return ParsedLine(rest, parsed.format, parsed.ts, parsed.host, parsed.program,
                              parsed.pid, parsed.severity, extra)
    elif message[:1].isdigit():
        inner = parse_header(message, parsed.ts)
        if inner is not None:  # an application's own header under syslog's
            return ParsedLine(
                message=inner.message,
                format=parsed.format,
                ts=parsed.ts if parsed.ts is not None else inner.ts,
                host=parsed.host or inner.host,
                program=parsed.program or inner.program,
                pid=parsed.pid if parsed.pid is not None else inner.pid,
                severity=inner.severity or parsed.severity,
                extra={**inner.extra, **parsed.extra},
            )
    elif message.startswith("{"):
        inner = parse_json(message)
        if inner is not None:
            return ParsedLine(
                message=inner.message,
                format=parsed.format,
                ts=parsed.ts if parsed.ts is not None else inner.ts,
                host=parsed.host or inner.host,
                program=parsed.program or inner.program,
                pid=parsed.pid if parsed.pid is not None else inner.pid,
                # the application's own level is more specific than the syslog PRI
                severity=inner.severity or parsed.severity,
                extra={**inner.extra, **parsed.extra},
            )
    return parsed


def parse_line(line: str, *, reference_ms: int | None = None) -> ParsedLine:
    """Split one raw log line into header fields and message content.

    reference_ms (usually the event time) supplies the year for RFC 3164 times,
    which have none; without it such times stay None.
    """
    line = line.rstrip("\r\n")
    try:
        parsed = _header(line, reference_ms)
        if parsed is None:
            return ParsedLine(message=line)
        if parsed.format in ("rfc3164", "rfc5424", "generic"):
            parsed = _refine(parsed)
        return parsed
    except (ValueError, OverflowError, IndexError) as e:  # defensive: a bad line stays a line
        logger.debug("unparseable log line kept as plain text: %s", e)
        return ParsedLine(message=line)
