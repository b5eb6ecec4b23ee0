"""Fixtures of the store tests: one chDB engine directory for the whole package.

chDB runs one engine per process and per directory, so every test here shares one
directory (opened once) and gets clean tables, or a database of its own when it needs
a fresh schema. The package fixture closes everything, so tests elsewhere can use
another directory.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.config import ClickHouseConfig, Config, SinkConfig
from sinks.settings import TABLES
from sinks.store import Store, open_store
from tests.support.samples import Fleet, build_fleet


@pytest.fixture(scope="package")
def engine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's chDB directory."""
    return tmp_path_factory.mktemp("chdb") / "store"


def make_config(engine_dir: Path, home: Path, database: str = "rackwatch") -> Config:
    return Config(home=home, clickhouse=ClickHouseConfig(dsn=f"chdb://{engine_dir}",
                                                         database=database),
                  sink=SinkConfig(serve_port=0))


@pytest.fixture(scope="package")
def base_store(engine_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The migrated default database, open for the whole package."""
    store = open_store(make_config(engine_dir, tmp_path_factory.mktemp("home")))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def cfg(engine_dir: Path, tmp_path: Path, base_store: Store) -> Config:
    """A config pointing at the package's store (default database)."""
    return make_config(engine_dir, tmp_path)


@pytest.fixture
def store(base_store: Store) -> Store:
    """The default database with every table empty."""
    base_store.faults = None
    for table in TABLES:
        base_store.command(f"TRUNCATE TABLE IF EXISTS rackwatch.{table}")
    return base_store


@pytest.fixture
def fresh_cfg(engine_dir: Path, tmp_path: Path, base_store: Store) -> Iterator[Config]:
    """A config with a database of its own (dropped afterwards)."""
    db = f"t_{uuid.uuid4().hex[:12]}"
    yield make_config(engine_dir, tmp_path, db)
    base_store.command(f"DROP DATABASE IF EXISTS {db} SYNC")


@pytest.fixture(scope="package")
def fleet() -> Fleet:
    """The deterministic sample fleet, anchored a little before now."""
    return build_fleet(int(time.time() * 1000) - 5_000)
