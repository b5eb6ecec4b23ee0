"""The cluster variant of schemas/sql: ReplicatedMergeTree + Distributed, ON CLUSTER.

Generated from the very files the single-node store applies, so the two cannot drift:
each table T becomes T_local (Replicated*MergeTree, one replica set per shard) plus a
Distributed table T over it, sharded by the key its DDL file names in a
`-- rackwatch:shard_key` comment (by host for metrics and logs, so one host's rows and
rollups live on one shard); an additive `ALTER TABLE T` becomes the same ALTER on T_local
and on T. Materialized views run on each shard, from metrics_local
into the local rollup tables. The output ends with the migration records, so a sink
pointed at the cluster finds its schema current and applies nothing.

    python -m sinks.cluster [--database rackwatch] [--cluster rackwatch] > cluster.sql
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from sinks.ddl import Migration, bootstrap_migration, load_migrations, split_statements
from sinks.settings import StoreSettings

__all__ = ["cluster_ddl", "main"]

_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\S+)\.(\w+)\s*\n", re.MULTILINE)
_CREATE_MV = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\S+)\.(\w+) TO (\S+)\.(\w+) AS",
                        re.MULTILINE)
_ALTER_TABLE = re.compile(r"^ALTER TABLE (\S+)\.(\w+)\s", re.MULTILINE)
_MODIFY_ORDER = re.compile(r",\s*MODIFY ORDER BY \([^;]*?\)\s*$", re.DOTALL)
_PROJECTION = re.compile(r"\b(ADD|MATERIALIZE|DROP) PROJECTION\b")
_DROP_VIEW = re.compile(r"^DROP VIEW IF EXISTS (\S+)\.(\w+)\s*$", re.MULTILINE)
_ENGINE = re.compile(r"^ENGINE = (\w*MergeTree)\s*$", re.MULTILINE)
_SHARD = re.compile(r"^-- rackwatch:shard_key (.+)$", re.MULTILINE)
_NON_REPLICATED = re.compile(r",?\s*non_replicated_deduplication_window = \d+")


def _replicated(engine: str) -> str:
    return (f"Replicated{engine}('/clickhouse/tables/{{shard}}/{{database}}/{{table}}', "
            "'{replica}')")


def _table(stmt: str, db: str, cluster: str, shard_key: str) -> list[str]:
    m = _CREATE_TABLE.search(stmt)
    assert m is not None
    name = m.group(2)
    local = stmt.replace(m.group(0), f"CREATE TABLE IF NOT EXISTS {db}.{name}_local "
                                     f"ON CLUSTER '{cluster}'\n", 1)
    local = _ENGINE.sub(lambda e: f"ENGINE = {_replicated(e.group(1))}", local, count=1)
    # Replicated tables deduplicate through Keeper (replicated_deduplication_window).
    local = _NON_REPLICATED.sub("", local)
    front = (f"CREATE TABLE IF NOT EXISTS {db}.{name} ON CLUSTER '{cluster}'\n"
             f"AS {db}.{name}_local\n"
             f"ENGINE = Distributed('{cluster}', '{db}', '{name}_local', {shard_key})")
    return [local, front]


def _view(stmt: str, db: str, cluster: str, tables: set[str]) -> str:
    m = _CREATE_MV.search(stmt)
    assert m is not None
    out = stmt.replace(m.group(0), f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{m.group(2)} "
                                   f"ON CLUSTER '{cluster}' TO {db}.{m.group(4)}_local AS", 1)
    # the view reads the local shard of its source table
    return re.sub(rf"FROM {re.escape(db)}\.(\w+)",
                  lambda f: f"FROM {db}.{f.group(1)}_local" if f.group(1) in tables
                  else f.group(0), out)


def _statements(mig: Migration, values: dict[str, str], cluster: str,
                default_key: str) -> list[str]:
    db = values["database"]
    text = mig.render(values)
    out: list[str] = []
    tables: set[str] = set()
    for stmt in split_statements(text):
        if _CREATE_TABLE.search(stmt):
            key = _SHARD.search(stmt)
            tables.add(_CREATE_TABLE.search(stmt).group(2))  # type: ignore[union-attr]
            out.extend(_table(stmt, db, cluster, key.group(1).strip() if key else default_key))
        elif _CREATE_MV.search(stmt):
            all_tables = tables | _known_tables(values)
            out.append(_view(stmt, db, cluster, all_tables))
        elif (alter := _ALTER_TABLE.search(stmt)) and alter.group(2) in _known_tables(values):
            out.extend(_alter(stmt, alter, db, cluster))
        elif drop := _DROP_VIEW.search(stmt):
            out.append(f"{stmt[:drop.start()]}DROP VIEW IF EXISTS {db}.{drop.group(2)} "
                       f"ON CLUSTER '{cluster}'")
        else:
            raise ValueError(f"{mig.version:04d}_{mig.name}: no cluster form for: {stmt[:80]}")
    return out


def _alter(stmt: str, m: re.Match[str], db: str, cluster: str) -> list[str]:
    """An additive ALTER of table T: on every shard's T_local, then on the Distributed T
    (which must list a column for inserts through it to carry it). A projection is
    stored with the data: it goes to T_local only."""
    name = m.group(2)
    local = stmt.replace(m.group(0), f"ALTER TABLE {db}.{name}_local ON CLUSTER '{cluster}' ", 1)
    if _PROJECTION.search(stmt):
        return [local]
    # the Distributed table has no sorting key: it only needs the columns
    front = _MODIFY_ORDER.sub("", stmt[m.start():])
    return [local, front.replace(m.group(0), f"ALTER TABLE {db}.{name} ON CLUSTER '{cluster}' ", 1)]


def _known_tables(values: dict[str, str]) -> set[str]:
    names: set[str] = set()
    for mig in load_migrations():
        names.update(m.group(2) for m in _CREATE_TABLE.finditer(mig.render(values)))
    return names


def cluster_ddl(settings: StoreSettings | None = None, cluster: str = "rackwatch") -> str:
    """The whole cluster schema as one SQL script (statements end with `;`)."""
    settings = settings or StoreSettings()
    values = settings.template_values()
    db = settings.database
    migs = load_migrations()
    parts = [
        "-- Generated by `python -m sinks.cluster` from schemas/sql; do not edit by hand.",
        f"-- Cluster '{cluster}', database '{db}'. Needs the macros {{shard}} and {{replica}}",
        "-- on every node and a Keeper ensemble (see docs/storage.md).",
        "",
        f"CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER '{cluster}';",
    ]
    boot = _statements(bootstrap_migration(), values, cluster, "rand()")
    # the migration records are small: keep every copy on every shard's first replica set
    parts.extend(s + ";" for s in boot)
    for mig in migs:
        parts.append("")
        parts.append(f"-- {mig.version:04d}_{mig.name}.sql")
        parts.extend(s + ";" for s in _statements(mig, values, cluster, "rand()"))
    parts.append("")
    parts.append("-- Record the versions, so the sink's migrator finds the schema current.")
    records = ",\n".join(f"    ({m.version}, '{m.name}', '{m.checksum}', now64(3))" for m in migs)
    parts.append(f"INSERT INTO {db}.schema_migrations (version, name, checksum, applied_at) "
                 f"VALUES\n{records};")
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--database", default="rackwatch")
    p.add_argument("--cluster", default="rackwatch")
    args = p.parse_args(argv)
    sys.stdout.write(cluster_ddl(StoreSettings(database=args.database), args.cluster))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
