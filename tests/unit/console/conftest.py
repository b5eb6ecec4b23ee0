"""Fixtures of the console tests: a real chDB store holding the sample fleet, and a reader.

chDB runs one engine per process and directory, so the package shares one store (opened
once, filled once with tests.support.samples' fleet anchored a little before now) and closes it
at the end, as the sinks tests do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from common.config import ClickHouseConfig, Config, SinkConfig
from console.queries import Query
from sinks.store import Store, open_store
from tests.support.samples import Fleet, build_fleet
from tests.unit.sinks.helpers import fill


class StoreReader:
    """The console's Reader over an open store, as the sink's endpoint would answer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.names: list[str] = []

    async def rows(self, query: Query) -> list[dict[str, Any]]:
        self.names.append(query.name)
        payload = self.store.raw(query.sql, "JSONEachRow")
        return [orjson.loads(line) for line in payload.splitlines() if line.strip()]

    def close(self) -> None:
        pass


@pytest.fixture(scope="package")
def fleet() -> Fleet:
    """The deterministic sample fleet, anchored a little before now."""
    return build_fleet(int(time.time() * 1000) - 5_000)


@pytest.fixture(scope="package")
def store_cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The config of the package's store (no sink endpoint configured)."""
    path: Path = tmp_path_factory.mktemp("console-chdb") / "store"
    return Config(home=tmp_path_factory.mktemp("home"),
                  clickhouse=ClickHouseConfig(dsn=f"chdb://{path}"),
                  sink=SinkConfig(serve_port=0))


@pytest.fixture(scope="package")
def store(store_cfg: Config, fleet: Fleet) -> Iterator[Store]:
    """A migrated store holding the sample fleet in every table."""
    s = open_store(store_cfg)
    try:
        fill(s, fleet)
        yield s
    finally:
        s.close()


@pytest.fixture
def reader(store: Store) -> StoreReader:
    return StoreReader(store)
