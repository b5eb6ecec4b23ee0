"""The store: one clickhouse-connect client, whichever the target (chDB or a server).

Only the clickhouse-connect client API is used, so the embedded engine and a real server
go through the same code. The client is synchronous: callers on an event loop run these
methods in a thread. chDB allows one process per directory, so the embedded store is
owned by whoever opened it (normally the sink); others reach it through sinks.serve.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from clickhouse_connect.driver.query import QueryResult

from common.config import Config
from common.dsn import DsnError, mask_dsn
from sinks.connection import Connection
from sinks.errors import StoreUnreachable
from sinks.migrations import apply_migrations
from sinks.settings import StoreSettings

__all__ = ["READONLY_SETTINGS", "EmbeddedEngineMissing", "InsertHook", "Store", "is_embedded",
           "open_reader", "open_store", "require_embedded_engine"]


class InsertHook(Protocol):
    """Consulted around every insert: `check("before", table, columns)` before it is
    sent, `check("after", table)` once ClickHouse answered. Raising makes the insert
    fail there. Failure drills and tests plug in here (tests/support/insert_faults.py);
    nothing in the product sets one."""

    def check(self, when: Literal["before", "after"], table: str,
              columns: Sequence[Sequence[Any]] | None = None) -> None: ...

log = logging.getLogger(__name__)

_CHDB_CONFIG = "rackwatch-chdb.xml"

# Session settings of read-only connections. readonly comes last: once it is set, no
# setting may change on that connection (ClickHouse refuses SET and SETTINGS clauses).
READONLY_SETTINGS: dict[str, Any] = {"max_execution_time": 300, "readonly": 1}


def is_embedded(dsn: str) -> bool:
    return dsn.startswith("chdb:")


class EmbeddedEngineMissing(RuntimeError):
    """A chdb:// store was asked for and chDB is not installed (it is an optional extra,
    so that images of roles that talk to a ClickHouse server do not carry 180 MB)."""


def require_embedded_engine(dsn: str) -> None:
    """Raise EmbeddedEngineMissing, saying what to install, when `dsn` is embedded and
    chDB is absent; clickhouse-connect's own error would only say an import failed."""
    if is_embedded(dsn) and importlib.util.find_spec("chdb") is None:
        raise EmbeddedEngineMissing(
            "the embedded store (chdb://) needs chDB, which is not installed: "
            "pip install 'rackwatch[embedded]' (make setup does), or set "
            "RACKWATCH_CLICKHOUSE_DSN / [clickhouse] dsn to a ClickHouse server "
            "(http://host:8123)")


def _chdb_path(dsn: str) -> Path | None:
    parsed = urlparse(dsn)
    location = parsed.netloc or parsed.path
    if not location or location in ("memory", ":memory:"):
        return None
    return Path(parsed.path if not parsed.netloc else location).resolve()


def _chdb_options(path: Path) -> dict[str, str]:
    """Engine start options: BACKUP/RESTORE to and from any folder (File(...)). The
    engine runs in the caller's process with the caller's rights, so a narrower
    allowed_path would protect nothing; and an incremental backup names its base by
    path, which must stay readable wherever the series is kept."""
    conf = path / _CHDB_CONFIG
    text = ("<clickhouse>\n  <backups>\n"
            "    <allowed_path>/</allowed_path>\n"
            "  </backups>\n</clickhouse>\n")
    if not conf.is_file() or conf.read_text() != text:
        conf.write_text(text)
    return {"config-file": str(conf)}


class Store:
    """A thin, thread-safe wrapper that adds what the sink needs around one client."""

    def __init__(self, client: Client, dsn: str | Connection, settings: StoreSettings, *,
                 faults: InsertHook | None = None) -> None:
        self.client = client
        self.connection = Connection.of(dsn)
        self.dsn = self.connection.dsn
        self.settings = settings
        self.database = settings.database
        self.faults = faults
        self.path = _chdb_path(self.dsn) if is_embedded(self.dsn) else None
        self._lock = threading.RLock()
        self._types: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._distributed: bool | None = None

    @property
    def embedded(self) -> bool:
        return is_embedded(self.dsn)

    # --- reading ----------------------------------------------------------------------

    def query(self, sql: str, params: dict[str, Any] | None = None,
              settings: dict[str, Any] | None = None) -> QueryResult:
        with self._lock:
            return self.client.query(sql, parameters=params, settings=settings)

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        return self.query(sql, params).result_rows

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def raw(self, sql: str, fmt: str, params: dict[str, Any] | None = None,
            settings: dict[str, Any] | None = None) -> bytes:
        """The result as the server formats it (CSVWithNames, Parquet, JSONCompact...)."""
        with self._lock:
            return self.client.raw_query(sql, parameters=params, settings=settings, fmt=fmt)

    def command(self, sql: str, params: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self.client.command(sql, parameters=params, settings=settings)

    # --- writing ----------------------------------------------------------------------

    def _column_types(self, table: str, names: Sequence[str]) -> list[str]:
        key = (table, tuple(names))
        types = self._types.get(key)
        if types is None:
            described = {str(r[0]): str(r[1]) for r in
                         self.rows(f"DESCRIBE TABLE {self.database}.{table}")}
            types = [described[n] for n in names]
            self._types[key] = types
        return types

    def _is_distributed(self) -> bool:
        if self._distributed is None:
            engine = self.scalar("SELECT engine FROM system.tables WHERE database = {d:String} "
                                 "AND name = 'metrics'", {"d": self.database})
            self._distributed = engine == "Distributed"
        return self._distributed

    def insert_columns(self, table: str, columns: Sequence[Sequence[Any]],
                       names: Sequence[str], token: str | None) -> int:
        """Insert column-oriented data; `token` makes a repeat of this insert a no-op."""
        if not columns or not columns[0]:
            return 0
        settings: dict[str, Any] = {}
        if token is not None:
            settings["insert_deduplication_token"] = token
            settings["insert_deduplicate"] = 1
            settings["deduplicate_blocks_in_dependent_materialized_views"] = 1
        with self._lock:
            types = self._column_types(table, names)
            if self._is_distributed():
                # the token must travel with the rows to the shards, so insert synchronously
                settings["distributed_foreground_insert"] = 1
            if self.faults is not None:
                self.faults.check("before", table, columns)
            context = self.client.create_insert_context(
                f"{self.database}.{table}", list(names), column_type_names=types,
                column_oriented=True, data=columns, settings=settings)
            # One block, so one part per target table and one pass through each view:
            # the client would cut ~2 MiB blocks, each paying those fixed costs again
            # (a round of 400 metric blocks: 2.6 -> 1.5 us per stored row on chDB).
            context.block_row_count = len(columns[0])
            self.client.data_insert(context)
            if self.faults is not None:
                self.faults.check("after", table)
        return len(columns[0])

    def insert_rows(self, table: str, rows: Sequence[Sequence[Any]], names: Sequence[str],
                    token: str | None) -> int:
        if not rows:
            return 0
        return self.insert_columns(table, [list(c) for c in zip(*rows, strict=True)], names, token)

    # --- lifecycle --------------------------------------------------------------------

    def reader(self, *, readonly: bool = True) -> Store:
        """A second connection beside this one (for serving queries while the sink
        inserts); read-only unless asked otherwise, enforced by ClickHouse itself."""
        settings = READONLY_SETTINGS if readonly else None
        return Store(_client(self.connection, self.database, settings), self.connection,
                     self.settings)

    def close(self) -> None:
        with self._lock:
            self.client.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _client(conn: Connection, database: str | None,
            settings: dict[str, Any] | None = None) -> Client:
    dsn = conn.dsn
    require_embedded_engine(dsn)
    if is_embedded(dsn):
        path = _chdb_path(dsn)
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            return clickhouse_connect.get_client(dsn=f"chdb://{path}", database=database,
                                                 settings=settings,
                                                 chdb_options=_chdb_options(path))
        return clickhouse_connect.get_client(dsn=dsn, database=database, settings=settings)
    try:
        kwargs = conn.server_kwargs()
    except DsnError as e:
        raise StoreUnreachable(str(e)) from e
    try:
        return clickhouse_connect.get_client(database=database, settings=settings, **kwargs)
    except OperationalError as e:
        raise StoreUnreachable(
            f"cannot reach the store at {conn.shown}: {_reason(e)}; check that the server is "
            "up and the DSN's host and port ([clickhouse] dsn or RACKWATCH_CLICKHOUSE_DSN)"
        ) from e
    except DatabaseError as e:
        if "516" in str(e) or "AUTHENTICATION_FAILED" in str(e):
            raise StoreUnreachable(
                f"the store at {conn.shown} refused the login: check [clickhouse] user and "
                "password (or password_file)") from e
        raise


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+|Connection refused|timed out|Name or service "
                    r"not known|certificate verify failed[^'\")]*")


def _reason(e: Exception) -> str:
    """The specific part of a connection error ("[Errno 111] Connection refused")."""
    text = mask_dsn(str(e))
    m = _ERRNO.search(text)
    return m.group(0).strip() if m else text[:300]


def open_reader(cfg: Config, settings: StoreSettings | None = None) -> Store:
    """A read-only connection that changes nothing, not even the schema: for analysts
    on a server (whose user may well be read-only)."""
    settings = settings or StoreSettings.from_config(cfg)
    conn = Connection.of(cfg)
    return Store(_client(conn, settings.database, READONLY_SETTINGS), conn, settings)


def open_store(cfg: Config, *, migrate: bool = True, faults: InsertHook | None = None,
               settings: StoreSettings | None = None) -> Store:
    """Open the configured store; with `migrate`, create or upgrade its tables first.

    chDB: this process becomes the owner of the directory until close().
    """
    settings = settings or StoreSettings.from_config(cfg)
    dsn = Connection.of(cfg)
    if migrate:
        bootstrap = Store(_client(dsn, None), dsn, settings)
        try:
            applied = apply_migrations(bootstrap, settings)
        except BaseException:
            bootstrap.close()
            raise
        if applied:
            log.info("store %s: applied migrations %s", dsn.shown, applied)
        bootstrap.client.database = settings.database
        bootstrap.faults = faults
        return bootstrap
    return Store(_client(dsn, settings.database), dsn, settings, faults=faults)
