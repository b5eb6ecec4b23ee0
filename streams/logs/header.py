"""Generic log headers: a time, then the fields a logging library writes before the message.

Syslog, kernel and JSON lines have their own parsers. Everything else that has a
header was written by a logging library with some pattern (log4j's
"%d %-5p [%t] %c: %m", Python's "%(asctime)s - %(name)s - %(levelname)s - %(message)s",
logcat's "MM-dd HH:mm:ss.SSS pid tid L tag: msg", HPC/RAS records, Apache's
"[time] [level] msg", ...), and nothing says which. So the header is read as a
sequence of fields recognised by their shape:

    T  a time or date (streams.logs.timeshapes), bare or in brackets
    L  a level word (INFO, Warning, [notice], error:, a logcat letter before its tag)
    N  a number (pid, tid, record id)
    B  a bracketed group ([main], [req-1 - - -], [QuorumPeer[myid=1]/...@774])
    C  a component ending in a colon (crond(pam_unix)[2915]:, logcat's D/Tag( 12):)
    G  a source location (glog's file.cc:88], zap's pkg/file.go:42)
    S  a separator (-, |, ",", CRI's "stdout F")
    H  any other word (host, node, logger, file name)

The rules, none of them about one format:

- a header has a time among its first four fields; without one the line has no
  header (a level word alone at the start, "INFO: task blocked", stays message);
- before the level, words (H) and numbers (N) are weak: a run of them is part of the
  header only when a strong field follows, and only as many as that field allows:
  up to two before a separator, one of them a plain word ("logger -", "app.exe *64 -"),
  and after such a name only a strong field; one before a bracket; exactly one (a
  host) before a component, so "NVRM:" right after a time stays in the message; two
  before a time ("node 2005-06-03-..."); three before a level ("node RAS KERNEL INFO").
  A component or source location ends the header;
- after the level come at most a separator, a bracket (thread), a component (with a
  colon; or a source location; or a name followed by a bracket or separator, then
  maybe a bracket, the context) and a separator, in that order.

The header ends after the last field these rules accept; the rest of the line is the
message, so header + message is always the line. Pipe-separated headers
("time|component|pid|message") are read field by field up to the last pipe-free word.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from streams.logs.parsed import ParsedLine
from streams.logs.severity import from_level
from streams.logs.timeshapes import TimeMatch, match_time

__all__ = ["LEVEL_WORDS", "is_level_word", "parse_header"]

logger = logging.getLogger(__name__)

LEVEL_WORDS = frozenset({
    "trace", "debug", "dbg", "verbose", "info", "information", "informational", "notice",
    "warn", "warning", "wrn", "err", "error", "eror", "severe", "crit", "critical", "fatal",
    "alert", "emerg", "emergency", "panic",
})
_LOGCAT_LEVELS = frozenset("VDIWEFA")
_MAX_FIELDS = 14
_MAX_WEAK = {"T": 2, "L": 3, "S": 2, "B": 1, "C": 1}  # weak fields allowed before each
_SPACE = re.compile(r"[ \t]*")
_TOKEN = re.compile(r"[^ \t]+")
_SEPARATORS = frozenset({"-", "--", "|", ",", ":", "=>"})
# a time that starts with a letter: a month or weekday name, or glog's level letter + digit
_TIME_WORDS = frozenset(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                         "Nov", "Dec", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
_NOT_A_WORD = re.compile(r"[\[\]\"'{}=]")
_LOGCAT = re.compile(r"(?P<lvl>[VDIWEFA])/(?P<tag>[^\s(:]{1,64}?)(?:\(\s*(?P<pid>\d{1,10})\))?:"
                     r"(?=[ \t]|$)")
_COMPONENT = re.compile(
    r"(?P<name>[\w.$@#/~+-]*[A-Za-z][\w.$@#/~+-]*)(?:\((?P<sub>[^\s()]{0,64})\))?"
    r"(?:\[(?P<pid>\d{1,10})\])?:")
# a source location ends a header: glog/klog's "file.go:123]", zap's "pkg/file.go:42"
_SOURCE_LINE = re.compile(r"[\w./-]{1,128}:\d{1,7}\]|[\w./-]{0,128}\.(?:go|py|java|c|cc|cpp|h|rs"
                          r"|js|ts|rb|scala|kt|cs|php|lua|ex|erl):\d{1,7}")
_BRACKETS = re.compile(r"[\[\]]")
# every time shape has one of these: a quick test before reading any field
_TIME_HINT = re.compile(r"\d(?::\d\d?[:.]\d|\d{3}[-/.]\d\d[-/.]\d\d|\d{5} \d{6}"
                        r"|(?<=(?<!\d)1)\d{9}(?:\d{3})?(?!\d))")


@dataclass(slots=True)
class _Field:
    kind: str  # T L N B C S H as in the module docstring; G source location; LC logcat
    end: int
    text: str = ""
    time: TimeMatch | None = None
    pid: int | None = None


@dataclass(slots=True)
class _Header:
    """What the accepted fields say, filled in as they are accepted."""

    end: int = 0
    ts: int | None = None
    date_ms: int | None = None
    level: str | None = None
    host: str | None = None
    program: str | None = None
    pid: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _bracket_end(line: str, pos: int) -> int | None:
    """The index after the "]" that closes the "[" at pos (nesting allowed), or None."""
    close = line.find("]", pos, pos + 300)
    if close > 0 and line.find("[", pos + 1, close) < 0:
        return close + 1  # the common case: no bracket inside
    depth = 0
    for m in _BRACKETS.finditer(line, pos, min(len(line), pos + 300)):
        depth += 1 if m.group() == "[" else -1
        if depth == 0:
            return m.end()
    return None


def is_level_word(token: str) -> bool:
    """Whether a token states a level the way headers write it (INFO, Warning, err:)."""
    return _level(token) is not None


def _level(token: str) -> str | None:
    """The level word a token states ("INFO", "Warning", "<error>", "err:"), or None."""
    colon = token.endswith(":")
    word = token[:-1] if colon else token
    bracketed = word.startswith("<") and word.endswith(">")
    if bracketed:
        word = word[1:-1]
    if word.lower() not in LEVEL_WORDS:
        return None
    return word if bracketed or colon or word.isupper() or word.istitle() else None


def _bracket(line: str, pos: int, reference_ms: int | None) -> _Field | None:
    end = _bracket_end(line, pos)
    if end is None:
        return None
    inner = line[pos + 1 : end - 1].strip()
    t = match_time(inner, 0, reference_ms)
    if t is not None and t.end == len(inner):
        return _Field("T", end, inner, time=t)
    if inner.lower() in LEVEL_WORDS:
        return _Field("L", end, inner)
    return _Field("B", end, inner)


def _word(line: str, pos: int, token: str) -> _Field | None:
    """A field that is one whitespace-free token (level, separator, component, ...)."""
    end = pos + len(token)
    if token.isalpha():  # the common case: a plain word
        if token.lower() in LEVEL_WORDS and (token.isupper() or token.istitle()):
            return _Field("L", end, token)
        if token in ("stdout", "stderr") and line[end + 1 : end + 2] in ("F", "P") and (
                end + 2 == len(line) or line[end + 2] in " \t"):
            return _Field("S", end + 2, token)  # CRI's "stdout F": a container stream
        return _Field("H", end, token) if len(token) <= 128 else None
    last = token[-1]
    if last not in ":]>" and not last.isdigit() and token[1:2] != "/":  # a name, or nothing
        if token in _SEPARATORS:
            return _Field("S", end, token)
        if len(token) > 128 or _NOT_A_WORD.search(token):
            return None
        return _Field("H", end, token)
    level = _level(token)
    if level is not None:
        return _Field("L", end, level)
    if token in _SEPARATORS:
        return _Field("S", end, token)
    if (token[-1:].isdigit() or token.endswith("]")) and _SOURCE_LINE.fullmatch(token):
        return _Field("G", end, token.removesuffix("]"))
    if len(token) > 2 and token[1] == "/" and token[0] in _LOGCAT_LEVELS:
        m = _LOGCAT.match(line, pos)  # logcat's "D/Tag( 123):": a level and a component
        if m is not None:
            pid = int(m.group("pid")) if m.group("pid") else None
            return _Field("LC", m.end(), m.group("lvl") + "/" + m.group("tag"), pid=pid)
    if token.endswith(":"):
        m = _COMPONENT.fullmatch(token)
        if m is not None:
            pid = int(m.group("pid")) if m.group("pid") else None
            return _Field("C", end, m.group("name"), pid=pid)
        return None
    if token.isdigit():
        return _Field("N", end, token) if len(token) <= 10 and token.isascii() else None
    if len(token) > 128 or _NOT_A_WORD.search(token):
        return None
    return _Field("H", end, token)


def _next(line: str, pos: int, reference_ms: int | None) -> _Field | None:
    """The field starting at pos (pos is not a space), or None when none fits."""
    first = line[pos]
    if first == "[":
        return _bracket(line, pos, reference_ms)
    if first.isdigit() or line[pos : pos + 3] in _TIME_WORDS or (
            first in "IWEF" and line[pos + 1 : pos + 2].isdigit()):
        t = match_time(line, pos, reference_ms)
        if t is not None:
            return _Field("T", t.end, line[pos : t.end], time=t)
    m = _TOKEN.match(line, pos)
    return None if m is None else _word(line, pos, m.group())


class _Fields:
    """The fields of a line, read lazily: most lines need only a few."""

    def __init__(self, line: str, reference_ms: int | None) -> None:
        self.line = line
        self.reference_ms = reference_ms
        self.items: list[_Field] = []
        self.pos = len(line) - len(line.lstrip(" \t"))
        self.done = False

    def __getitem__(self, i: int) -> _Field | None:
        items = self.items
        if i < len(items):
            return items[i]
        line = self.line
        while not self.done:
            if self.pos >= len(line) or len(items) >= _MAX_FIELDS:
                break
            f = _next(line, self.pos, self.reference_ms)
            if f is None:
                break
            items.append(f)
            self.pos = _SPACE.match(line, f.end).end()  # type: ignore[union-attr]
            if i < len(items):
                return f
        self.done = True
        return None


def _take_time(h: _Header, f: _Field) -> None:
    t = f.time
    if t is None:
        return
    if t.level is not None and h.level is None:
        h.level = from_level(t.level)
    if t.date_only:
        h.date_ms = t.ms
    elif t.day_ms is not None:
        if h.ts is None and h.date_ms is not None:
            h.ts = h.date_ms + t.day_ms
    elif h.ts is None and t.ms is not None:
        h.ts = t.ms


def _take_weak(h: _Header, weak: list[_Field], before: str) -> None:
    """Give the weak fields before an accepted strong one their meaning."""
    for i, f in enumerate(weak):
        if f.kind == "N":
            if h.pid is None:
                h.pid = int(f.text)
            else:
                h.extra.setdefault("tid", f.text)
        elif i == 0 and before in ("S", "B") and h.program is None:
            h.program = f.text
        elif i == 0 and before in ("T", "C") and h.host is None and h.ts is not None:
            h.host = f.text
        else:
            h.extra["fields"] = f"{h.extra['fields']} {f.text}" if "fields" in h.extra else f.text


def _take_component(h: _Header, f: _Field) -> None:
    if h.program is None:
        name = f.text.split("/", 1)[-1] if f.kind == "LC" else f.text
        h.program = name.rsplit("/", 1)[-1] if name.startswith("/") else name
    if f.pid is not None and h.pid is None:
        h.pid = f.pid
    if f.kind == "LC" and h.level is None:
        h.level = from_level(f.text[0])


def _after_level(fs: _Fields, i: int, h: _Header) -> None:
    """Fields allowed after the level: [S] [B thread] [component [B context]] [S]."""
    f = fs[i]
    if f is not None and f.kind == "S":
        h.end, i, f = f.end, i + 1, fs[i + 1]
    if f is not None and f.kind == "B":
        h.extra["thread"] = f.text
        h.end, i, f = f.end, i + 1, fs[i + 1]
    if f is None:
        return
    if f.kind == "G":
        h.extra["source"] = f.text
        h.end = f.end
        return
    if f.kind == "C" or (f.kind == "H" and (n := fs[i + 1]) is not None and n.kind in "BS"):
        _take_component(h, f)
        if f.kind == "C":
            h.end = f.end
            return
        h.end, i, f = f.end, i + 1, fs[i + 1]
        if f is not None and f.kind == "B":
            h.extra["context"] = f.text
            h.end, i, f = f.end, i + 1, fs[i + 1]
    if f is not None and f.kind == "S":
        h.end = f.end


def _pipes(line: str, pos: int, h: _Header) -> None:
    """"time|component|pid|message": pipe-free words before the last pipe are fields."""
    for _ in range(4):
        nxt = line.find("|", pos + 1)
        part = line[pos + 1 : nxt]
        if nxt < 0 or not part or len(part) > 64 or any(c.isspace() for c in part):
            break
        if part.isascii() and part.isdigit() and len(part) <= 10 and h.pid is None:
            h.pid = int(part)
        elif h.program is None:
            h.program = part
        else:
            h.extra["fields"] = f"{h.extra['fields']} {part}" if "fields" in h.extra else part
        pos = nxt
    h.end = pos + 1


def _scan(fs: _Fields, h: _Header) -> bool:
    """Accept fields by the rules in the module docstring; False when there is no header."""
    first = 0
    while (f := fs[first]) is None or f.kind != "T":
        first += 1
        if f is None or first == 4:
            return False
    weak: list[_Field] = []
    named = False  # a separator just closed a name ("logger -"): only a strong field may follow
    i = 0
    while (f := fs[i]) is not None:
        kind = f.kind
        if kind == "H" and f.text in _LOGCAT_LEVELS and (n := fs[i + 1]) is not None and (
                n.kind == "C"):
            kind = "L"
        if kind in ("H", "N"):
            weak.append(f)
            if len(weak) > 3 or named:
                return True
            i += 1
            continue
        strong = "C" if kind in ("LC", "G") else kind
        if i < first and strong not in ("S",):
            return True  # only labels, names and numbers come before the first time
        if len(weak) > _MAX_WEAK.get(strong, 0) or (kind == "C" and len(weak) != 1) or (
                strong == "S" and sum(1 for w in weak if w.text.isalpha()) > 1):
            return True
        _take_weak(h, weak, strong)
        named = strong == "S" and bool(weak)
        weak = []
        h.end = f.end
        if kind == "T":
            _take_time(h, f)
            if h.end < len(fs.line) and fs.line[h.end] == "|":
                _pipes(fs.line, h.end, h)
                return True
        elif kind == "L":
            h.level = from_level(f.text)
            _after_level(fs, i + 1, h)
            return True
        elif kind in ("C", "LC"):
            _take_component(h, f)
            return True
        elif kind == "G":
            h.extra["source"] = f.text
            return True
        elif kind == "S" and f.text in ("stdout", "stderr"):
            h.extra["stream"] = f.text
        elif kind == "B":
            h.extra.setdefault("thread", f.text)
        i += 1
    return True


def parse_header(line: str, reference_ms: int | None = None) -> ParsedLine | None:
    """A line that starts with a generic header (see the module docstring), or None."""
    window = 0  # a header's time starts within its first four words
    for _ in range(4):
        window = line.find(" ", window) + 1
        if window == 0:
            window = len(line)
            break
    if _TIME_HINT.search(line, 0, window + 16) is None:
        return None
    h = _Header()
    if not _scan(_Fields(line, reference_ms), h) or h.end == 0:
        return None
    return ParsedLine(message=line[h.end :].lstrip(" \t"), format="generic", ts=h.ts,
                      host=h.host, program=h.program, pid=h.pid, severity=h.level,
                      extra=h.extra)
