"""Apply schemas/sql to a store, idempotently, and keep retention in line with the config.

Each file is applied once and recorded in `schema_migrations` with the checksum of its
template; every statement is `IF NOT EXISTS` (or `IF EXISTS`, or a projection's
materialisation, which rebuilds the same one), so a file interrupted halfway is simply
applied again. Editing an applied file is refused (add a new version instead). Retention
is not a migration: it is reconciled at every start with ALTER TABLE ... MODIFY TTL, so
changing a retention setting needs no new file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol

from sinks.ddl import Migration, bootstrap_migration, load_migrations, ttl_clauses
from sinks.settings import StoreSettings

__all__ = ["MigrationError", "applied_versions", "apply_migrations", "reconcile_retention"]

log = logging.getLogger(__name__)


class MigrationError(RuntimeError):
    """An applied migration file was edited, or the store is ahead of this code."""


class _Commands(Protocol):
    def command(self, sql: str, params: dict[str, Any] | None = None) -> Any: ...

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]: ...


def applied_versions(db: _Commands, database: str) -> dict[int, str]:
    """Version -> checksum of what the store has recorded."""
    rows = db.rows(f"SELECT version, any(checksum) FROM {database}.schema_migrations "
                   "GROUP BY version")
    return {int(v): str(c) for v, c in rows}


def apply_migrations(db: _Commands, settings: StoreSettings,
                     migrations: list[Migration] | None = None) -> list[int]:
    """Bring the store up to date; return the versions applied now (empty when current)."""
    migrations = load_migrations() if migrations is None else migrations
    values = settings.template_values()
    db.command(f"CREATE DATABASE IF NOT EXISTS {settings.database}")
    for stmt in bootstrap_migration().statements(values):
        db.command(stmt)
    done = applied_versions(db, settings.database)
    known = {m.version for m in migrations}
    ahead = sorted(v for v in done if v not in known)
    if ahead:
        raise MigrationError(f"the store has schema versions {ahead} this rackwatch does not "
                             "know; upgrade rackwatch before using this store")
    applied: list[int] = []
    for mig in migrations:
        if mig.version in done:
            if done[mig.version] != mig.checksum:
                raise MigrationError(
                    f"schemas/sql/{mig.version:04d}_{mig.name}.sql changed after it was applied "
                    "(checksum differs); add a new migration file instead of editing it")
            continue
        for stmt in mig.statements(values):
            db.command(stmt)
        db.command(
            f"INSERT INTO {settings.database}.schema_migrations "
            "(version, name, checksum, applied_at) VALUES "
            "({v:UInt32}, {n:String}, {c:String}, now64(3))",
            {"v": mig.version, "n": mig.name, "c": mig.checksum})
        log.info("applied schema migration %04d_%s", mig.version, mig.name)
        applied.append(mig.version)
    reconcile_retention(db, settings, migrations)
    return applied


_WS = re.compile(r"\s+")


def _norm(expr: str) -> str:
    return _WS.sub("", expr)


def reconcile_retention(db: _Commands, settings: StoreSettings,
                        migrations: list[Migration] | None = None) -> list[str]:
    """ALTER the TTL of tables whose retention differs from the settings; return them."""
    migrations = load_migrations() if migrations is None else migrations
    wanted = ttl_clauses(migrations, settings.template_values())
    rows = db.rows("SELECT name, create_table_query FROM system.tables "
                   "WHERE database = {d:String}", {"d": settings.database})
    current = {str(n): str(q) for n, q in rows}
    changed: list[str] = []
    for table, expr in wanted.items():
        query = current.get(table)
        if query is None or "MergeTree" not in query:
            continue  # absent, or a Distributed front table on a cluster
        if _norm(expr) in _norm(query):
            continue
        db.command(f"ALTER TABLE {settings.database}.{table} MODIFY TTL {expr}")
        log.info("retention of %s set to: TTL %s", table, expr)
        changed.append(table)
    return changed
