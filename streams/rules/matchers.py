"""Label matchers and metric selectors, compiled once when rules are loaded.

Syntax follows Prometheus and Alertmanager so nobody has to learn a new one:
`disk.busy{device=~"nvme.*", mount!="/boot"}` selects series by a metric-name glob
and label matchers; an inhibit rule's matchers are the same `label op "value"` forms.
A missing label reads as the empty string, as in Prometheus. Regular expressions
are anchored at both ends. Nothing here is evaluated as code.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Matcher", "Selector", "parse_matchers", "parse_selector"]

_NAME = re.compile(r"[A-Za-z0-9_.:*?\[\]-]+")
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OP = re.compile(r"=~|!~|!=|=")
_BARE_VALUE = re.compile(r"[^\s,{}\"']+")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Matcher:
    """One `label op value` test; `op` is one of =, !=, =~, !~."""

    label: str
    op: str
    value: str
    regex: re.Pattern[str] | None = None

    def test(self, actual: str) -> bool:
        """Does the label's value (empty when absent) satisfy this matcher?"""
        op = self.op
        if op == "=":
            return actual == self.value
        if op == "!=":
            return actual != self.value
        assert self.regex is not None
        hit = self.regex.fullmatch(actual) is not None
        return hit if op == "=~" else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.label}{self.op}"{escaped}"'


def matches_all(matchers: tuple[Matcher, ...], get: Callable[[str], str]) -> bool:
    """True when every matcher accepts the value `get(label)` returns."""
    return all(m.test(get(m.label)) for m in matchers)


@dataclass(frozen=True, slots=True)
class Selector:
    """A metric-name glob plus label matchers; `exact` is set when the name has no glob."""

    text: str
    name: str
    exact: str | None
    name_regex: re.Pattern[str] | None
    matchers: tuple[Matcher, ...]

    def name_matches(self, name: str) -> bool:
        if self.exact is not None:
            return name == self.exact
        assert self.name_regex is not None
        return self.name_regex.fullmatch(name) is not None

    def labels_match(self, series: Mapping[str, str], host: str,
                     host_labels: Mapping[str, str]) -> bool:
        """Label matchers see the series labels, then `host`, then the host's topology labels."""
        for m in self.matchers:
            label = m.label
            actual = series.get(label)
            if actual is None:
                actual = host if label == "host" else host_labels.get(label, "")
            if not m.test(actual):
                return False
        return True


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def take(self, pattern: re.Pattern[str]) -> str | None:
        self.skip_space()
        m = pattern.match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        return m.group(0)

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.peek() == ""

    def quoted(self) -> str | None:
        quote = self.peek()
        if quote not in ('"', "'"):
            return None
        out: list[str] = []
        i = self.pos + 1
        while i < len(self.text):
            ch = self.text[i]
            if ch == "\\" and i + 1 < len(self.text):
                out.append(self.text[i + 1])
                i += 2
                continue
            if ch == quote:
                self.pos = i + 1
                return "".join(out)
            out.append(ch)
            i += 1
        raise ValueError(f"unterminated quoted value in {self.text!r}")


def _matcher(s: _Scanner) -> Matcher:
    label = s.take(_LABEL)
    if label is None:
        raise ValueError(f"expected a label name at position {s.pos} of {s.text!r}")
    op = s.take(_OP)
    if op is None:
        raise ValueError(f"expected =, !=, =~ or !~ after {label!r} in {s.text!r}")
    value = s.quoted()
    if value is None:
        value = s.take(_BARE_VALUE)
        if value is None:
            value = ""
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(value)
        except re.error as e:
            raise ValueError(f"bad regular expression {value!r} for {label}: {e}") from None
    return Matcher(label, op, value, regex)


def _matcher_list(s: _Scanner, closing: str) -> tuple[Matcher, ...]:
    out: list[Matcher] = []
    while s.peek() not in (closing, ""):
        out.append(_matcher(s))
        if s.peek() == ",":
            s.pos += 1
        elif s.peek() not in (closing, ""):
            raise ValueError(f"expected ',' or {closing!r} at position {s.pos} of {s.text!r}")
    return tuple(out)


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """`severity=~"warning|critical", rack="r1"` (braces optional) -> matchers."""
    s = _Scanner(text)
    braced = s.peek() == "{"
    if braced:
        s.pos += 1
    found = _matcher_list(s, "}" if braced else "")
    if braced:
        if s.peek() != "}":
            raise ValueError(f"missing '}}' in {text!r}")
        s.pos += 1
    if not s.at_end():
        raise ValueError(f"unexpected text after matchers in {text!r}")
    if not found:
        raise ValueError(f"no matcher in {text!r}")
    return found


def parse_selector(text: str) -> Selector:
    """`gpu.*{gpu!="7"}` -> Selector. The name is a glob (* ? [..]) over dotted metric names."""
    s = _Scanner(text)
    name = s.take(_NAME)
    if name is None:
        raise ValueError(f"expected a metric name or glob at the start of {text!r}")
    matchers: tuple[Matcher, ...] = ()
    if s.peek() == "{":
        s.pos += 1
        matchers = _matcher_list(s, "}")
        if s.peek() != "}":
            raise ValueError(f"missing '}}' in {text!r}")
        s.pos += 1
    if not s.at_end():
        raise ValueError(f"unexpected text {s.text[s.pos:]!r} in selector {text!r}")
    if _GLOB_CHARS.isdisjoint(name):
        return Selector(text, name, name, None, matchers)
    try:
        name_regex = re.compile(fnmatch.translate(name))
    except re.error as e:
        raise ValueError(f"bad glob {name!r}: {e}") from None
    return Selector(text, name, None, name_regex, matchers)
