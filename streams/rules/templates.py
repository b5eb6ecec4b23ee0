"""A tiny, safe substitution language for alert annotations.

Annotations read like Prometheus ones -- `{{ $labels.device }}`, `{{ $value }}`,
`{{ $threshold | humanize }}`, and the rule's own durations `{{ $for | humanizeDuration }}`,
`$keep_firing_for`, `$duration` (absence) and `$window` (log rules), in seconds -- but
nothing is evaluated: a template is parsed at
load time into literal text and a few variable references with a fixed set of
formatting filters, and rendering only looks values up and formats numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Template", "compile_template", "format_value"]

_EXPR = re.compile(r"\{\{(.*?)\}\}", re.S)
_VAR = re.compile(r"\$(labels|values)\.([A-Za-z_][A-Za-z0-9_]*)"
                  r"|\$(value|threshold|for|keep_firing_for|duration|window)\b")
# The rule's own durations, in seconds, so a text never disagrees with the rule it is
# written for ("stayed above 80 % for 5 minutes" with `for: 20s`).
DURATIONS = ("for", "keep_firing_for", "duration", "window")
_PRINTF = re.compile(r'printf\s+"(%[-+ 0#]?\d{0,3}(?:\.\d{1,3})?[dfeEgGs%])"')

_SI_BIG = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
_SI_SMALL = [(1e-3, "m"), (1e-6, "u"), (1e-9, "n")]
_IEC = [(2.0**60, "Ei"), (2.0**50, "Pi"), (2.0**40, "Ti"), (2.0**30, "Gi"), (2.0**20, "Mi"),
        (2.0**10, "Ki")]


def format_value(v: float | None) -> str:
    """Plain rendering: integers without a decimal point, others with 6 significant digits."""
    if v is None or math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def _humanize(v: float) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return format_value(v)
    a = abs(v)
    if a >= 1:
        for scale, prefix in _SI_BIG:
            if a >= scale:
                return f"{v / scale:.4g}{prefix}"
        return f"{v:.4g}"
    for scale, prefix in _SI_SMALL:
        if a >= scale:
            return f"{v / scale:.4g}{prefix}"
    return f"{v:.4g}"


def _humanize1024(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return format_value(v)
    for scale, prefix in _IEC:
        if abs(v) >= scale:
            return f"{v / scale:.4g}{prefix}"
    return f"{v:.4g}"


def _humanize_percentage(v: float) -> str:
    return f"{v * 100:.4g}%"


def _humanize_duration(v: float) -> str:
    """Seconds -> "1d 2h 3m 4s" (or "250ms" below a second), like Prometheus."""
    if math.isnan(v) or math.isinf(v):
        return format_value(v)
    sign, v = ("-", -v) if v < 0 else ("", v)
    if v < 1:
        return f"{sign}{v * 1000:.4g}ms"
    total = int(v)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    parts.append(f"{seconds + (v - total):.4g}s" if seconds or v != total else "0s")
    if parts[-1] == "0s" and len(parts) > 1:
        parts.pop()
    return sign + " ".join(parts)


_FILTERS: dict[str, Callable[[float], str]] = {
    "humanize": _humanize,
    "humanize1024": _humanize1024,
    "humanizePercentage": _humanize_percentage,
    "humanizeDuration": _humanize_duration,
}


@dataclass(frozen=True, slots=True)
class _Ref:
    kind: str  # "labels" | "values" | "value" | "threshold" | one of DURATIONS
    name: str
    fmt: Callable[[float], str] | None
    printf: str | None


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed annotation: literal strings and variable references, in order."""

    text: str
    parts: tuple[str | _Ref, ...]

    def render(self, labels: Mapping[str, str], value: float | None,
               threshold: float | None, values: Mapping[str, float] | None = None,
               durations: Mapping[str, float] | None = None) -> str:
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            if part.kind == "labels":
                out.append(labels.get(part.name, ""))
                continue
            if part.kind == "value":
                num = value
            elif part.kind == "threshold":
                num = threshold
            elif part.kind == "values":
                num = (values or {}).get(part.name)
            else:
                num = (durations or {}).get(part.kind)
            if num is None:
                out.append("")
            elif part.printf is not None:
                out.append(part.printf % num)
            elif part.fmt is not None:
                out.append(part.fmt(num))
            else:
                out.append(format_value(num))
        return "".join(out)


def _parse_ref(expr: str, value_names: frozenset[str]) -> _Ref:
    pieces = [p.strip() for p in expr.split("|")]
    m = _VAR.fullmatch(pieces[0])
    if m is None:
        raise ValueError(f"unknown template expression {{{{{expr}}}}}: use $labels.NAME, "
                         "$value, $threshold, $values.NAME or a duration of the rule ("
                         + ", ".join("$" + d for d in DURATIONS) + ")")
    if m.group(1):
        kind, name = m.group(1), m.group(2)
    else:
        kind, name = m.group(3), ""
    if kind == "values" and name not in value_names:
        known = ", ".join(sorted(value_names)) or "none: the rule has no named conditions"
        raise ValueError(f"$values.{name} is not a condition of this rule (known: {known})")
    fmt: Callable[[float], str] | None = None
    printf: str | None = None
    for flt in pieces[1:]:
        if fmt is not None or printf is not None:
            raise ValueError(f"only one filter is allowed in {{{{{expr}}}}}")
        if kind == "labels":
            raise ValueError(f"filters apply to numbers, not to $labels: {{{{{expr}}}}}")
        pm = _PRINTF.fullmatch(flt)
        if pm is not None:
            printf = pm.group(1)
            if printf.endswith("%") and printf != "%%":
                raise ValueError(f"bad printf format {printf!r}")
        elif flt in _FILTERS:
            fmt = _FILTERS[flt]
        else:
            raise ValueError(f"unknown filter {flt!r} (known: {', '.join(sorted(_FILTERS))}, "
                             'printf "%.2f")')
    return _Ref(kind, name, fmt, printf)


def compile_template(text: str, value_names: frozenset[str] = frozenset()) -> Template:
    """Parse once; ValueError names the offending expression."""
    parts: list[str | _Ref] = []
    pos = 0
    for m in _EXPR.finditer(text):
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        parts.append(_parse_ref(m.group(1).strip(), value_names))
        pos = m.end()
    rest = text[pos:]
    if "{{" in rest or "}}" in rest:
        raise ValueError(f"unbalanced '{{{{' or '}}}}' in {text!r}")
    if rest or not parts:
        parts.append(rest)
    return Template(text, tuple(parts))
