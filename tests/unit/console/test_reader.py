"""The console reaches an embedded store only through the sink that owns it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.broker import free_port
from common.config import ClickHouseConfig, Config, SinkConfig
from console.queries import HOST_INVENTORY, Query
from console.reader import RunQueryReader, StoreUnavailable
from sinks.serve import QueryServer
from sinks.store import Store
from tests.support.samples import Fleet


@pytest.fixture
def server(store: Store) -> Iterator[QueryServer]:
    srv = QueryServer(store, port=0)
    srv.start()
    yield srv
    srv.stop()


def inventory(fleet: Fleet) -> Query:
    return Query("host_inventory", HOST_INVENTORY, {"since": fleet.now_ms - 3_600_000,
                                                    "limit": 1000})


class TestEmbedded:
    """Through the running sink's endpoint, never by opening the directory."""

    def test_reads_through_the_sink(self, store_cfg: Config, server: QueryServer,
                                    fleet: Fleet) -> None:
        """With a sink serving the store, the console's queries go through it."""
        cfg = dataclasses.replace(store_cfg, sink=SinkConfig(serve_port=server.port))
        reader = RunQueryReader(cfg)
        try:
            rows = asyncio.run(reader.rows(inventory(fleet)))
        finally:
            reader.close()
        assert sorted(r["host"] for r in rows) == sorted(fleet.hosts)
        assert reader.queries == 1

    def test_no_sink_means_unavailable_and_untouched(self, tmp_path: Path,
                                                     fleet: Fleet) -> None:
        """No sink: a clear 503 reason, and the store directory is not even created."""
        path = tmp_path / "never-opened"
        cfg = Config(home=tmp_path, clickhouse=ClickHouseConfig(dsn=f"chdb://{path}"),
                     sink=SinkConfig(serve_port=free_port()))
        reader = RunQueryReader(cfg)
        try:
            with pytest.raises(StoreUnavailable, match="no sink is serving"):
                asyncio.run(reader.rows(inventory(fleet)))
        finally:
            reader.close()
        assert not path.exists()
        assert reader.failures == 1 and "--open-store" in reader.last_error
