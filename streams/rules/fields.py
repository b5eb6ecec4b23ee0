"""Checking the fields of a rule file: the problem collector and the value converters.

Every parser of the rule language (the file, its groups, each condition kind) reports
through one `Ctx`, which records problems as "source:line: where: what" instead of
stopping at the first, so a file's author sees all of them at once. A converter takes
a raw YAML value and returns the checked one or raises ValueError with the reason;
`Ctx.get` turns that reason into a problem on the key's line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any, TypeVar

from streams.rules.matchers import Matcher, Selector, parse_matchers, parse_selector
from streams.rules.model import EWMA, RAW, WMA, Compare
from streams.rules.values import parse_duration_ms, parse_number
from streams.rules.yamlsafe import LocatedMap

__all__ = [
    "COMPARE_KEYS",
    "DEFAULTS",
    "IDENT",
    "SMOOTHING",
    "Ctx",
    "boolean",
    "choice",
    "compare",
    "default_forget_ms",
    "label_list",
    "matcher_list",
    "metric_and_compare",
    "metric_selector",
    "nonneg_duration",
    "nonneg_number",
    "pos_duration",
    "pos_number",
    "str_mapping",
    "string",
]

DEFAULTS = {
    "repeat_interval": "1h",  # re-send a firing alert at most this often
    "keep_resolved_for": "15m",  # keep (and re-send) a resolved alert this long
    "resend_resolved_every": "5m",
    "stale_after": "5m",  # a series with no sample for this long no longer holds its alert
    "forget_after": "6h",  # per-series detector / absence tracking is dropped after this
}

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
COMPARE_KEYS = frozenset({"above", "below", "at_least", "at_most", "clear"})
SMOOTHING = {"none": RAW, "raw": RAW, "ewma": EWMA, "wma": WMA}

T = TypeVar("T")
U = TypeVar("U")


class Ctx:
    """Collects problems as "source:line: where: what"."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[int, str]] = []

    def err(self, line: int, where: str, what: str) -> None:
        self.found.append((line, f"{self.source}:{line}: {where}: {what}"))

    @property
    def problems(self) -> list[str]:
        """In file order (stable for problems on one line)."""
        return [text for _, text in sorted(self.found, key=lambda p: p[0])]

    def closed_keys(self, m: LocatedMap, allowed: frozenset[str], where: str) -> None:
        for key in m:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else \
                    f" (allowed: {', '.join(sorted(allowed))})"
                self.err(m.line_of(key), where, f"unknown key {key!r}{extra}")

    def get(self, m: LocatedMap, key: str, where: str, conv: Callable[[Any], T],
            default: U) -> T | U:
        """m[key] converted, or `default` when absent; a bad value is a problem."""
        if key not in m:
            return default
        try:
            return conv(m[key])
        except ValueError as e:
            self.err(m.line_of(key), where, f"{key}: {e}")
            return default


def string(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {v!r}")
    return v


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def nonneg_duration(v: Any) -> int:
    return parse_duration_ms(v)


def pos_duration(v: Any) -> int:
    ms = parse_duration_ms(v)
    if ms <= 0:
        raise ValueError(f"must be longer than zero, got {v!r}")
    return ms


def default_forget_ms() -> int:
    """DEFAULTS["forget_after"] in ms: how long per-series history outlives its data."""
    return pos_duration(DEFAULTS["forget_after"])


def nonneg_number(v: Any) -> float:
    n = parse_number(v)
    if n < 0:
        raise ValueError(f"must not be negative, got {v!r}")
    return n


def pos_number(v: Any) -> float:
    n = parse_number(v)
    if n <= 0:
        raise ValueError(f"must be greater than zero, got {v!r}")
    return n


def label_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v:
        raise ValueError(f"expected a non-empty list of label names, got {v!r}")
    for name in v:
        if not isinstance(name, str) or not IDENT.fullmatch(name):
            raise ValueError(f"{name!r} is not a label name")
    if len(set(v)) != len(v):
        raise ValueError(f"repeated label name in {v!r}")
    return tuple(v)


def choice(options: tuple[str, ...] | dict[str, int]) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
        return v
    return conv


def metric_selector(v: Any) -> Selector:
    if not isinstance(v, str):
        raise ValueError("expected a metric selector string such as "
                         f"'disk.busy{{device=~\"sd.*\"}}', got {v!r}")
    return parse_selector(v)


def matcher_list(v: Any) -> tuple[Matcher, ...]:
    if isinstance(v, str):
        return parse_matchers(v)
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        return tuple(m for x in v for m in parse_matchers(x))
    raise ValueError(f"expected matcher strings such as 'alertname=\"HostSilent\"', got {v!r}")


def str_mapping(ctx: Ctx, v: Any, where: str, key: str) -> dict[str, str]:
    """A mapping of label names to string values (YAML numbers must be quoted)."""
    if not isinstance(v, LocatedMap):
        line = getattr(v, "line", 0)
        ctx.err(line, where, f"{key}: expected a mapping of names to strings, got {v!r}")
        return {}
    out: dict[str, str] = {}
    for name, value in v.items():
        line = v.line_of(name)
        if not isinstance(name, str) or not IDENT.fullmatch(name):
            ctx.err(line, where, f"{key}: {name!r} is not a valid name")
        elif not isinstance(value, str):
            ctx.err(line, where, f"{key}.{name}: expected a string (quote it), got {value!r}")
        else:
            out[name] = value
    return out


def compare(ctx: Ctx, m: LocatedMap, where: str, *, required: bool = True,
            upward_only: bool = False) -> Compare | None:
    """The threshold of a mapping (above/below/at_least/at_most, optional clear)."""
    ops = [k for k in ("above", "below", "at_least", "at_most") if k in m]
    if len(ops) > 1:
        ctx.err(m.line_of(ops[1]), where, f"use only one of above/below/at_least/at_most, "
                f"found {', '.join(ops)}")
        return None
    if not ops:
        if required:
            ctx.err(m.line, where, "missing the threshold: one of above, below, at_least, at_most")
        elif "clear" in m:
            ctx.err(m.line_of("clear"), where, "clear without a threshold")
        return None
    op = ops[0]
    if upward_only and op not in ("above", "at_least"):
        ctx.err(m.line_of(op), where, f"{op}: this kind only supports above or at_least")
        return None
    fire = ctx.get(m, op, where, parse_number, None)
    clear = ctx.get(m, "clear", where, parse_number, None)
    if fire is None:
        return None
    cmp = Compare.make(op, fire, clear)
    if cmp.upward and cmp.clear > cmp.fire:
        ctx.err(m.line_of("clear"), where,
                f"clear ({cmp.clear:g}) must not be above the {op} threshold ({fire:g})")
    if not cmp.upward and cmp.clear < cmp.fire:
        ctx.err(m.line_of("clear"), where,
                f"clear ({cmp.clear:g}) must not be below the {op} threshold ({fire:g})")
    return cmp


def metric_and_compare(ctx: Ctx, m: LocatedMap, where: str, *,
                       upward_only: bool) -> tuple[Selector | None, Compare | None]:
    """The one metric and the threshold of a single-series kind (rate, zscore, anomaly)."""
    if "metric" not in m:
        ctx.err(m.line, where, "missing metric")
    sel = ctx.get(m, "metric", where, metric_selector, None)
    cmp = compare(ctx, m, where, upward_only=upward_only)
    return sel, cmp
