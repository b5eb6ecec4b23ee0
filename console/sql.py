"""Parameter binding for the console's fixed queries: no SQL from a page reaches the store.

Every query the console runs is a constant in `console.queries`, written with
ClickHouse's own placeholder syntax (`{host:String}`). The store is reached through
`sinks.query.run_query`, which takes finished SQL text (the sink's read-only endpoint
has no parameter channel), so the values are bound here, as literals, by type:

- `String`: quoted, with backslash and quote escaped (ClickHouse's string-literal rules);
- `Int64`, `Float64`: Python ints and finite floats only, written back as numbers;
- `DateTime64`: epoch milliseconds (an int), as `fromUnixTimestamp64Milli(...)`;
- `Array(String)`: a list of strings, each quoted as above.

A placeholder without a value, a value of the wrong type, or a type not listed above
is an error, so a query can only ever be run with the shape it was written with. The
values were validated before (console.params); binding is the second line of defence,
and it holds on its own (a property test binds arbitrary text and reads it back).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

__all__ = ["BindError", "bind", "quote"]

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*):([A-Za-z0-9()]+)\}")


class BindError(ValueError):
    """A query and its values do not fit together (a bug in the caller, not bad input)."""


def quote(text: str) -> str:
    """`text` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(name: str, kind: str, value: object) -> str:
    if kind == "String":
        if not isinstance(value, str):
            raise BindError(f"{name}: String expects str, got {type(value).__name__}")
        return quote(value)
    if kind == "Int64":
        if not isinstance(value, int) or isinstance(value, bool):
            raise BindError(f"{name}: Int64 expects int, got {type(value).__name__}")
        return f"toInt64({value})"
    if kind == "Float64":
        if not isinstance(value, int | float) or isinstance(value, bool) \
                or not math.isfinite(value):
            raise BindError(f"{name}: Float64 expects a finite number, got {value!r}")
        return f"toFloat64({float(value)!r})"
    if kind == "DateTime64":
        if not isinstance(value, int) or isinstance(value, bool):
            raise BindError(f"{name}: DateTime64 expects epoch ms (int), got {value!r}")
        return f"fromUnixTimestamp64Milli(toInt64({value}), 'UTC')"
    if kind == "Array(String)":
        if isinstance(value, str) or not isinstance(value, Sequence) \
                or not all(isinstance(v, str) for v in value):
            raise BindError(f"{name}: Array(String) expects a list of str")
        return "CAST([" + ", ".join(quote(v) for v in value) + "] AS Array(String))"
    raise BindError(f"{name}: unsupported placeholder type {kind}")


def bind(sql: str, params: Mapping[str, object]) -> str:
    """`sql` with each `{name:Type}` replaced by the literal of `params[name]`."""
    used: set[str] = set()

    def sub(m: re.Match[str]) -> str:
        name, kind = m.group(1), m.group(2)
        if name not in params:
            raise BindError(f"no value for placeholder {name}")
        used.add(name)
        return _literal(name, kind, params[name])

    text = _PLACEHOLDER.sub(sub, sql)
    unused = set(params) - used
    if unused:
        raise BindError(f"values without a placeholder: {', '.join(sorted(unused))}")
    return text
