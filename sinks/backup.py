"""`rackwatch backup` / `restore`: ClickHouse's own BACKUP and RESTORE of the database.

Embedded store: chDB supports BACKUP ... TO File() into a path its configuration allows,
which is the store's own staging folder (sinks.store). A backup is made there (by the
running sink when there is one, since BACKUP only reads) and then moved to DEST, with a
manifest of row counts and schema versions beside the data. Restore copies it back into
staging and runs RESTORE DATABASE; it needs the sink stopped, and `force` when the
current database holds data, which it replaces.

Server store: DEST / SRC is a backup destination ClickHouse understands, passed as is,
e.g. "Disk('backups', 'rackwatch-2024-06-01')" or "S3('https://...', 'key', 'secret')".
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from common.config import Config
from sinks.migrations import apply_migrations
from sinks.remote import find_sink
from sinks.settings import TABLES
from sinks.store import Store, backup_staging_dir, is_embedded, open_store

__all__ = ["MANIFEST", "BackupError", "BackupInfo", "backup", "backup_to_staging", "restore"]

log = logging.getLogger(__name__)

MANIFEST = "rackwatch-backup.json"
_ENGINE_DEST = re.compile(r"^[A-Za-z0-9]+\(.*\)$", re.DOTALL)


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class BackupInfo:
    location: str
    tables: dict[str, int]


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def table_counts(store: Store) -> dict[str, int]:
    rows = store.rows("SELECT name, total_rows FROM system.tables WHERE database = {d:String} "
                      "AND total_rows IS NOT NULL", {"d": store.database})
    return {str(n): int(c) for n, c in rows if str(n) in TABLES}


def backup_to_staging(store: Store, name: str) -> Path:
    """BACKUP the database into the store's staging folder; return the backup path."""
    if store.path is None:
        raise BackupError("staging backups exist only for an on-disk embedded store")
    target = backup_staging_dir(store.path) / name
    if target.exists():
        raise BackupError(f"{target} already exists")
    store.command(f"BACKUP DATABASE {store.database} TO File({_sql_string(str(target))})")
    counts = table_counts(store)
    versions = [int(r[0]) for r in store.rows(
        f"SELECT DISTINCT version FROM {store.database}.schema_migrations ORDER BY version")]
    manifest = {"format": "rackwatch-backup/v1", "database": store.database,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "tables": counts, "schema_versions": versions}
    (target / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return target


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        doc = orjson.loads((path / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise BackupError(f"{path} is not a rackwatch backup ({MANIFEST}: {e})") from e
    if not isinstance(doc, dict):
        raise BackupError(f"{path / MANIFEST} is not a manifest")
    return doc


def backup(cfg: Config, dest: str) -> BackupInfo:
    """Back up the store to DEST (a new folder; or a ClickHouse destination for a server)."""
    if not is_embedded(cfg.clickhouse_dsn):
        if not _ENGINE_DEST.match(dest):
            raise BackupError("with a ClickHouse server, DEST is a backup destination it "
                              "understands, e.g. \"Disk('backups', 'rackwatch-1')\"")
        with open_store(cfg, migrate=False) as store:
            store.command(f"BACKUP DATABASE {store.database} TO {dest}")
            return BackupInfo(dest, table_counts(store))
    target = Path(dest).resolve()
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} exists and is not empty")
    name = f"backup-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
    endpoint = find_sink(cfg)
    if endpoint is not None:
        staged = endpoint.backup(name)
    else:
        with open_store(cfg) as store:
            staged = backup_to_staging(store, name)
    if target.exists():
        target.rmdir()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staged), str(target))
    manifest = _read_manifest(target)
    return BackupInfo(str(target), {str(k): int(v) for k, v in manifest["tables"].items()})


def restore(cfg: Config, src: str, *, force: bool = False) -> BackupInfo:
    """Replace the store's database with the backup at SRC."""
    if not is_embedded(cfg.clickhouse_dsn):
        if not _ENGINE_DEST.match(src):
            raise BackupError("with a ClickHouse server, SRC is a backup destination it "
                              "understands, e.g. \"Disk('backups', 'rackwatch-1')\"")
        with open_store(cfg, migrate=False) as store:
            _replace(store, f"RESTORE DATABASE {store.database} FROM {src}", force)
            apply_migrations(store, store.settings)
            return BackupInfo(src, table_counts(store))
    source = Path(src).resolve()
    manifest = _read_manifest(source)
    if find_sink(cfg) is not None:
        raise BackupError("a sink is running on this store; stop it before restoring")
    with open_store(cfg) as store:
        if manifest.get("database") != store.database:
            log.warning("restoring database %s from a backup of %s", store.database,
                        manifest.get("database"))
        assert store.path is not None
        staged = backup_staging_dir(store.path) / f"restore-{os.getpid()}-{time.time_ns()}"
        shutil.copytree(source, staged)
        try:
            src_db = str(manifest.get("database", store.database))
            _replace(store, f"RESTORE DATABASE {src_db} AS {store.database} "
                            f"FROM File({_sql_string(str(staged))})", force)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        apply_migrations(store, store.settings)
        counts = table_counts(store)
    want = {str(k): int(v) for k, v in manifest["tables"].items()}
    short = {t: (n, counts.get(t, 0)) for t, n in want.items() if counts.get(t, 0) < n}
    if short:
        raise BackupError(f"restore incomplete, rows (backup, now): {short}")
    return BackupInfo(str(source), counts)


def _replace(store: Store, restore_sql: str, force: bool) -> None:
    exists = store.scalar("SELECT count() FROM system.databases WHERE name = {d:String}",
                          {"d": store.database})
    if exists:
        counts = table_counts(store)
        if any(counts.values()) and not force:
            raise BackupError(f"database {store.database} holds data ({counts}); "
                              "use --force to replace it")
        store.command(f"DROP DATABASE {store.database} SYNC")
    store.command(restore_sql)
