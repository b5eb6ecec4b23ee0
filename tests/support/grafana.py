"""A panel's SQL as Grafana's ClickHouse plugin (grafana-clickhouse-datasource v4) sends it.

Two steps, as in Grafana:
1. the plugin's frontend (`applyTemplateVariables`): `$__conditionalAll(cond, $var)`
   becomes `1=1` when the variable is at All, else `cond`; then template variables are
   replaced, a multi-value (or All) variable as `'a','b'` (the plugin's format
   function), a single value as it is (`$var`, `${var}`, `${var:raw}`, `[[var]]`);
2. the plugin's backend (pkg/macros/macros.go) expands its macros: `$__timeFilter(c)`
   -> `c >= toDateTime(from) AND c <= toDateTime(to)`, `$__timeFilter_ms(c)` (with
   fromUnixTimestamp64Milli), `$__timeInterval(c)` -> `toStartOfInterval(toDateTime(c),
   INTERVAL n second)`, `$__timeInterval_ms(c)`, `$__interval_s`, `$__fromTime`,
   `$__toTime`, `$__fromTime_ms`, `$__toTime_ms`, `$__dateFilter(c)`.
Grafana installs nothing here: its licence keeps it out of rackwatch's toolchain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TimeRange", "Value", "expand", "interpolate"]


@dataclass(frozen=True)
class Value:
    """A variable's current value: several (multi or All) or one."""

    values: tuple[str, ...]
    multi: bool = False
    all: bool = False


@dataclass(frozen=True)
class TimeRange:
    from_ms: int
    to_ms: int
    interval_ms: int


def _args(text: str, open_at: int) -> tuple[list[str], int]:
    """The comma-separated arguments of the call whose '(' is at `open_at`, and the index
    just past its ')' (nested parentheses and quotes respected)."""
    depth, quote, start, out = 0, "", open_at + 1, []
    for i in range(open_at, len(text)):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
            continue
        if c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                out.append(text[start:i])
                return [a.strip() for a in out], i + 1
        elif c == "," and depth == 1:
            out.append(text[start:i])
            start = i + 1
    raise ValueError(f"unbalanced call at {text[open_at:open_at + 40]!r}")


def _conditional_all(sql: str, variables: dict[str, Value]) -> str:
    macro = "$__conditionalAll("
    while (i := sql.rfind(macro)) >= 0:
        args, end = _args(sql, i + len(macro) - 1)
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll takes 2 arguments: {args}")
        m = re.search(r"\$\{?(\w+)", args[1])
        var = variables.get(m.group(1)) if m else None
        phrase = "1=1" if var is not None and var.all else args[0]
        sql = sql[:i] + phrase + sql[end:]
    return sql


def _format(v: Value) -> str:
    if v.multi or v.all:
        return "'" + "','".join(v.values) + "'"
    return v.values[0] if v.values else ""


def interpolate(sql: str, variables: dict[str, Value], tr: TimeRange) -> str:
    """Step 1: what the frontend sends (see the module docstring)."""
    sql = _conditional_all(sql, variables)
    builtin = {"__interval": f"{max(tr.interval_ms // 1000, 1)}s",
               "__interval_ms": str(tr.interval_ms), "__from": str(tr.from_ms),
               "__to": str(tr.to_ms)}

    def sub(m: re.Match[str]) -> str:
        name = m.group("a") or m.group("b") or m.group("c")
        if name in builtin:
            return builtin[name]
        if name in variables:
            return _format(variables[name])
        return m.group(0)  # a backend macro ($__timeFilter...) or not a variable

    pattern = r"\$\{(?P<a>\w+)(?::raw)?\}|\[\[(?P<b>\w+)\]\]|\$(?P<c>\w+)"
    return re.sub(pattern, sub, sql)


def _dt(ms: int) -> str:
    return f"toDateTime({ms // 1000})"


def _dt64(ms: int) -> str:
    return f"fromUnixTimestamp64Milli({ms})"


def expand(sql: str, tr: TimeRange) -> str:
    """Step 2: the backend's macros."""
    seconds = max(tr.interval_ms // 1000, 1)
    with_args = {
        "timeFilter": lambda c: f"{c} >= {_dt(tr.from_ms)} AND {c} <= {_dt(tr.to_ms)}",
        "timeFilter_ms": lambda c: f"{c} >= {_dt64(tr.from_ms)} AND {c} <= {_dt64(tr.to_ms)}",
        "dateFilter": lambda c: (f"{c} >= toDate(fromUnixTimestamp({tr.from_ms // 1000})) AND "
                                 f"{c} <= toDate(fromUnixTimestamp({tr.to_ms // 1000}))"),
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {seconds} second)",
        "timeInterval_ms": lambda c: (f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL "
                                      f"{max(tr.interval_ms, 1)} millisecond)"),
    }
    plain = {"interval_s": str(seconds), "fromTime": _dt(tr.from_ms), "toTime": _dt(tr.to_ms),
             "fromTime_ms": _dt64(tr.from_ms), "toTime_ms": _dt64(tr.to_ms)}
    out, i = [], 0
    for m in re.finditer(r"\$__(\w+)", sql):
        if m.start() < i:
            continue
        name = m.group(1)
        out.append(sql[i:m.start()])
        if name in with_args and m.end() < len(sql) and sql[m.end()] == "(":
            (arg,), end = _args(sql, m.end())
            out.append(with_args[name](arg))
            i = end
        elif name in plain:
            out.append(plain[name])
            i = m.end()
        else:
            raise ValueError(f"unknown macro $__{name}")
    out.append(sql[i:])
    return "".join(out)
