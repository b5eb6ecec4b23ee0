"""`rackwatch query`: run SQL against the store, wherever it is, and format the answer.

Routing: a server DSN is queried directly. An embedded store is queried through the
running sink's read-only endpoint when a sink owns it, else opened here (chDB admits
one process per directory). Every route runs the query on a `readonly=1` session. ClickHouse
formats CSV, JSON lines and Parquet itself; the terminal table is drawn from
JSONCompact, numbers right-aligned.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import orjson
from clickhouse_connect.driver.exceptions import ProgrammingError

from common.config import Config, mask_dsn
from sinks.remote import find_sink
from sinks.store import is_embedded, open_reader, open_store

__all__ = ["FORMATS", "StoreBusyError", "render_table", "run_query"]

log = logging.getLogger(__name__)

# --format choice -> ClickHouse output format
FORMATS = {"table": "JSONCompact", "csv": "CSVWithNames", "jsonl": "JSONEachRow",
           "parquet": "Parquet"}

_NUMERIC = re.compile(r"^(Nullable\()?(U?Int\d+|Float\d+|Decimal.*)\)?$")
_TRAILING = re.compile(r"[;\s]+$")


class StoreBusyError(RuntimeError):
    """The embedded store is held by another process that does not serve queries."""


def run_query(cfg: Config, sql: str, fmt: str = "table") -> bytes:
    """The result of `sql` in the ClickHouse format behind `fmt` (see FORMATS)."""
    ch_format = FORMATS[fmt]
    sql = _TRAILING.sub("", sql)
    if not is_embedded(cfg.clickhouse_dsn):
        with open_reader(cfg) as reader:
            return reader.raw(sql, ch_format)
    endpoint = find_sink(cfg)
    if endpoint is not None:
        log.debug("querying through the sink on %s:%d", endpoint.host, endpoint.port)
        return endpoint.query(sql, ch_format)
    store_dir = Path(cfg.clickhouse_dsn.removeprefix("chdb://"))
    if not store_dir.exists():
        log.warning("the store %s is new and empty: no rackwatch home was found here or in a "
                    "parent directory (set RACKWATCH_HOME to the demo's or the sink's home)",
                    mask_dsn(cfg.clickhouse_dsn))
    try:
        owner = open_store(cfg)  # creates the tables on a fresh store, so queries work
    except ProgrammingError as e:
        if "EmbeddedServer" in str(e) or "Unable to open the chdb engine" in str(e):
            raise StoreBusyError(
                f"the store {mask_dsn(cfg.clickhouse_dsn)} is held by another process that "
                "does not serve queries (is a sink running with another serve_port or "
                "token?)") from e
        raise
    with owner, owner.reader() as reader:
        return reader.raw(sql, ch_format)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return orjson.dumps(value).decode()


def render_table(payload: bytes, *, max_width: int = 60) -> str:
    """An aligned text table from a JSONCompact answer."""
    doc = orjson.loads(payload)
    names = [str(m["name"]) for m in doc["meta"]]
    numeric = [bool(_NUMERIC.match(str(m["type"]))) for m in doc["meta"]]
    cells = [[_cell(v) for v in row] for row in doc["data"]]
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row]
             for row in cells]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line(names), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    rows = int(doc.get("rows", len(cells)))
    out.append(f"({rows} row{'s' if rows != 1 else ''})")
    return "\n".join(out)
