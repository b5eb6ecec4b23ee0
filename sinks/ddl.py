"""The versioned DDL files of schemas/sql: loading, rendering and splitting them.

The files are templates (`${database}`, `${ttl_days_metrics}`, `${dedup_window}`) so one
set of definitions serves chDB, a single server and, through sinks.cluster, a cluster.
ClickHouse macros such as `{shard}` use single braces and pass through untouched.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from string import Template

__all__ = ["Migration", "bootstrap_migration", "load_migrations", "split_statements", "ttl_clauses"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One versioned DDL file; the checksum is of the template, so retention changes
    (which only change the rendered text) do not count as editing an applied file."""

    version: int
    name: str
    template: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.template.encode()).hexdigest()

    def render(self, values: dict[str, str]) -> str:
        return Template(self.template).substitute(values)

    def statements(self, values: dict[str, str]) -> list[str]:
        return split_statements(self.render(values))


def load_migrations() -> list[Migration]:
    """All files of schemas/sql in version order; a gap or duplicate version is an error."""
    root = resources.files("schemas") / "sql"
    found: list[Migration] = []
    for entry in root.iterdir():
        m = _NAME.match(entry.name)
        if m is None:
            continue
        found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"schemas/sql versions must be 1..n without gaps, got {versions}")
    return found


def bootstrap_migration() -> Migration:
    """The table that records applied versions; created before any version is read."""
    text = (resources.files("schemas") / "sql" / "schema_migrations.sql").read_text("utf-8")
    return Migration(0, "schema_migrations", text)


_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS \$\{database\}\.(\w+)")
_TTL = re.compile(r"^TTL (.+)$", re.MULTILINE)


def ttl_clauses(migrations: list[Migration], values: dict[str, str]) -> dict[str, str]:
    """The rendered TTL expression of every table that has one, by table name."""
    out: dict[str, str] = {}
    for mig in migrations:
        for stmt in split_statements(mig.template):
            create = _CREATE.search(stmt)
            ttl = _TTL.search(stmt)
            if create and ttl:
                out[create.group(1)] = Template(ttl.group(1).strip()).substitute(values)
    return out


def split_statements(sql: str) -> list[str]:
    """Split on top-level semicolons, ignoring those in quotes and `--` comments;
    comment-only pieces are dropped and the comments kept in the statements."""
    out: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if quote is not None:
            buf.append(ch)
            if ch == "\\" and i + 1 < n:
                buf.append(sql[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
            buf.append(ch)
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            buf.append(sql[i:end])
            i = end
            continue
        elif ch == ";":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf))
    return [s.strip() for s in out if _has_code(s)]


def _has_code(stmt: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in stmt.splitlines())
