"""`rackwatch backup` / `restore`: ClickHouse's own BACKUP and RESTORE of the database.

One-off: `backup DEST` writes a full backup to DEST, a new folder (embedded store) or a
destination a ClickHouse server understands ("Disk('backups', 'x')", "S3(...)"), with a
manifest of row counts and schema versions beside the data.

Scheduled: `backup --into TARGET` adds a backup to a series (sinks.backupset): incremental
on top of the latest (`SETTINGS base_backup = ...`) until the chain is `full_every` long,
then a full one; retention keeps the newest `keep` and what they are built on; the
outcome goes to the status file (sinks.backupstatus) whether it succeeded or not.

Embedded store: the engine belongs to one process, so while a sink holds it the backup
is made by the sink (its query endpoint, sinks.serve); BACKUP only reads. Restore needs
the sink stopped, and `force` when the current database holds data, which it replaces.
A restore reads the whole chain: an incremental backup names its base by location, so
the series must stay where it was written (or be copied to the same path).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import Config, mask_dsn
from sinks.backupset import (
    MANIFEST,
    Entry,
    Kind,
    ManifestError,
    backup_name,
    build_manifest,
    chain_of,
    parse_manifest,
    plan_next,
    to_delete,
)
from sinks.backupstatus import Attempt, default_status_path, write_status
from sinks.backuptarget import DirTarget, Target, TargetError, open_target, sql_string
from sinks.configbundle import RestoredConfig, bundle, restore_bundle
from sinks.migrations import apply_migrations
from sinks.remote import find_sink
from sinks.settings import TABLES
from sinks.store import Store, is_embedded, open_store

__all__ = ["MANIFEST", "BackupError", "BackupInfo", "SeriesResult", "backup", "backup_into",
           "backup_series", "backup_with_status", "restore", "restore_config", "table_counts"]

log = logging.getLogger(__name__)

ENGINE_DEST = re.compile(r"^[A-Za-z0-9]+\(.*\)$", re.DOTALL)


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class BackupInfo:
    location: str
    tables: dict[str, int]


@dataclass(frozen=True)
class SeriesResult:
    name: str
    kind: Kind
    base: str | None
    location: str
    tables: dict[str, int]
    kept: list[str]
    deleted: list[str]


def table_counts(store: Store) -> dict[str, int]:
    rows = store.rows("SELECT name, total_rows FROM system.tables WHERE database = {d:String} "
                      "AND total_rows IS NOT NULL", {"d": store.database})
    return {str(n): int(c) for n, c in rows if str(n) in TABLES}


def backup_into(store: Store, destination: str, base: str | None) -> dict[str, Any]:
    """BACKUP the database to `destination` (on top of `base`, a destination too).
    Counts are taken first: rows only arrive, so the backup holds at least these."""
    for what in (destination, base):
        if what is not None and not ENGINE_DEST.match(what):
            raise BackupError(f"not a ClickHouse backup destination: {mask_dsn(what)}")
    counts = table_counts(store)
    versions = [int(r[0]) for r in store.rows(
        f"SELECT DISTINCT version FROM {store.database}.schema_migrations ORDER BY version")]
    settings = f" SETTINGS base_backup = {base}" if base else ""
    store.command(f"BACKUP DATABASE {store.database} TO {destination}{settings}")
    return {"tables": counts, "schema_versions": versions}


def _run(cfg: Config, destination: str, base: str | None) -> dict[str, Any]:
    """backup_into, by the running sink when one holds the embedded store."""
    if is_embedded(cfg.clickhouse_dsn):
        endpoint = find_sink(cfg)
        if endpoint is not None:
            return endpoint.backup(destination, base)
    with open_store(cfg, migrate=is_embedded(cfg.clickhouse_dsn)) as store:
        return backup_into(store, destination, base)


def _now_rfc3339(now_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_s))


def _configuration(cfg: Config) -> dict[str, Any]:
    """The configuration in effect and the files it names (sinks.configbundle), read
    before the store is: a backup that cannot carry them is not made."""
    try:
        return bundle(cfg)
    except ValueError as e:
        raise BackupError(f"the configuration cannot be saved: {e}") from e


def backup(cfg: Config, dest: str) -> BackupInfo:
    """A one-off full backup to DEST (a new folder; or a ClickHouse destination)."""
    if not is_embedded(cfg.clickhouse_dsn):
        if not ENGINE_DEST.match(dest):
            raise BackupError("with a ClickHouse server, DEST is a backup destination it "
                              "understands, e.g. \"Disk('backups', 'rackwatch-1')\" (or use "
                              "--into FOLDER --disk backups, or --into s3://...)")
        return BackupInfo(mask_dsn(dest), _run(cfg, dest, None)["tables"])
    saved = _configuration(cfg)
    target = Path(dest).resolve()
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} exists and is not empty")
    if target.exists():
        target.rmdir()
    target.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    done = _run(cfg, f"File({sql_string(str(target))})", None)
    doc = build_manifest(name=target.name, kind="full", base=None, database=cfg.clickhouse.database,
                         created_at=_now_rfc3339(now), tables=done["tables"],
                         schema_versions=done["schema_versions"], chain=[target.name])
    doc["configuration"] = saved
    DirTarget(target.parent).write_manifest(target.name, doc)
    return BackupInfo(str(target), done["tables"])


def backup_series(cfg: Config, target: Target, *, keep: int, full_every: int,
                  now_s: float | None = None) -> SeriesResult:
    """Add a backup to the series at `target`, then apply retention."""
    if keep < 1 or full_every < 1:
        raise BackupError("--keep and --full-every must be at least 1")
    now = time.time() if now_s is None else now_s
    saved = _configuration(cfg)
    entries = target.entries()
    kind, base = plan_next(entries, full_every)
    name = backup_name(now, kind, (e.name for e in entries))
    if target.exists(name):
        raise BackupError(f"{target.location}: {name} already exists")
    chain = [e.name for e in chain_of(entries, base)] + [name] if base else [name]
    try:
        done = _run(cfg, target.destination(name),
                    target.destination(base) if base else None)
    except Exception:
        target.delete(name)  # what a failed BACKUP left is no backup
        raise
    doc = build_manifest(name=name, kind=kind, base=base, database=cfg.clickhouse.database,
                         created_at=_now_rfc3339(now), tables=done["tables"],
                         schema_versions=done["schema_versions"], chain=chain)
    doc["configuration"] = saved
    target.write_manifest(name, doc)
    entry = parse_manifest(doc, name)
    doomed = to_delete([*entries, entry], keep)
    for old in doomed:
        log.info("retention: deleting backup %s", old.name)
        target.delete(old.name)
    gone = {e.name for e in doomed}
    kept = [e.name for e in [*entries, entry] if e.name not in gone]
    return SeriesResult(name, kind, base, target.location, done["tables"], kept,
                        sorted(gone))


def backup_with_status(cfg: Config, target: Target, *, keep: int, full_every: int,
                       status_path: Path | None = None) -> SeriesResult:
    """backup_series, with its outcome (success or failure) in the status file."""
    path = status_path or default_status_path(cfg.home)
    started = time.time()
    try:
        result = backup_series(cfg, target, keep=keep, full_every=full_every, now_s=started)
    except Exception as e:
        write_status(path, Attempt(started, time.time(), False, target.location,
                                   error=mask_dsn(str(e))[:500]))
        raise
    write_status(path, Attempt(started, time.time(), True, target.location, result.name,
                               result.kind, sum(result.tables.values()), len(result.kept),
                               len(result.deleted)))
    return result


@dataclass(frozen=True)
class _Source:
    destination: str  # for ClickHouse
    where: str  # for people
    entry: Entry | None = None  # its manifest, when it has one
    database: str | None = None  # the database it holds, by the manifest
    configuration: Any = None  # the configuration saved with it (sinks.configbundle)


def _source(cfg: Config, src: str, disk: str, s3_endpoint: str) -> _Source:
    if ENGINE_DEST.match(src):
        if is_embedded(cfg.clickhouse_dsn):
            raise BackupError("with the embedded store, SRC is a folder written by "
                              "`rackwatch backup`")
        return _Source(src, mask_dsn(src))
    if src.startswith("s3://"):
        parent, _, name = src.rstrip("/").rpartition("/")
        target: Target = open_target(parent, s3_endpoint=s3_endpoint)
    else:
        if not is_embedded(cfg.clickhouse_dsn) and not disk:
            raise BackupError("with a ClickHouse server, SRC is a destination it understands "
                              "(\"Disk('backups', 'name')\"), s3://..., or a folder with "
                              "--disk")
        path = Path(src).resolve()
        target, name = open_target(str(path.parent), disk=disk), path.name
    try:
        doc = target.manifest(name)
        entry = parse_manifest(doc, name)
        if entry.base is not None:
            chain_of([*target.entries(), entry], name)  # every base is there
    except ManifestError as e:
        raise BackupError(str(e)) from e
    db = doc.get("database")
    return _Source(target.destination(name), f"{target.location.rstrip('/')}/{name}", entry,
                   db if isinstance(db, str) else None, doc.get("configuration"))


def restore_config(cfg: Config, src: str, *, force: bool = False, disk: str = "",
                   s3_endpoint: str = "") -> RestoredConfig:
    """Put the configuration saved with the backup at SRC into the home (`cfg.home`): the
    files it named under config/, rackwatch.toml pointing at them."""
    try:
        source = _source(cfg, src, disk, s3_endpoint)
        return restore_bundle(source.configuration, cfg.home, force=force)
    except (TargetError, ValueError) as e:
        raise BackupError(str(e)) from e


def restore(cfg: Config, src: str, *, force: bool = False, disk: str = "",
            s3_endpoint: str = "") -> BackupInfo:
    """Replace the store's database with the backup at SRC (and the chain it is on)."""
    try:
        source = _source(cfg, src, disk, s3_endpoint)
    except TargetError as e:
        raise BackupError(str(e)) from e
    if is_embedded(cfg.clickhouse_dsn) and find_sink(cfg) is not None:
        raise BackupError("a sink is running on this store; stop it before restoring")
    with open_store(cfg, migrate=is_embedded(cfg.clickhouse_dsn)) as store:
        src_db = source.database or store.database
        if src_db != store.database:
            log.warning("restoring database %s from a backup of %s", store.database, src_db)
        _replace(store, f"RESTORE DATABASE {src_db} AS {store.database} "
                        f"FROM {source.destination}", force)
        apply_migrations(store, store.settings)
        counts = table_counts(store)
    if source.entry is not None:
        short = {t: (n, counts.get(t, 0)) for t, n in source.entry.tables.items()
                 if counts.get(t, 0) < n}
        if short:
            raise BackupError(f"restore incomplete, rows (backup, now): {short}")
    return BackupInfo(source.where, counts)


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
