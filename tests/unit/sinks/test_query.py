"""`rackwatch query`: routing, read-only enforcement, the endpoint, output formats."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from common.config import Config
from rackwatch.commands import store as cli
from sinks.query import render_table, run_query
from sinks.remote import RemoteError, SinkEndpoint, find_sink
from sinks.serve import QueryServer
from sinks.settings import TABLES
from sinks.store import Store
from tests.support.samples import HOT_CPU_HOST, Fleet
from tests.unit.sinks.helpers import fill


@pytest.fixture(scope="module")
def filled(base_store: Store, fleet: Fleet) -> Iterator[Store]:
    """The package store holding the sample fleet (this module only reads it)."""
    for table in TABLES:
        base_store.command(f"TRUNCATE TABLE rackwatch.{table}")
    fill(base_store, fleet)
    yield base_store
    for table in TABLES:
        base_store.command(f"TRUNCATE TABLE rackwatch.{table}")


def _serving(cfg: Config, server: QueryServer, token: str = "") -> Config:
    sink = dataclasses.replace(cfg.sink, serve_port=server.port, serve_token=token)
    return dataclasses.replace(cfg, sink=sink)


@pytest.fixture
def server(filled: Store) -> Iterator[QueryServer]:
    srv = QueryServer(filled, port=0, status=lambda: {"paused": False})
    srv.start()
    yield srv
    srv.stop()


class TestRenderTable:
    def test_aligns_columns_and_right_aligns_numbers(self) -> None:
        """Text columns are left-aligned, numeric ones right-aligned, NULL spelled out."""
        payload = orjson.dumps({"meta": [{"name": "host", "type": "String"},
                                         {"name": "n", "type": "UInt64"},
                                         {"name": "v", "type": "Nullable(Float64)"}],
                                "data": [["a", 5, 0.5], ["long-host", 1234, None]], "rows": 2})
        lines = render_table(payload).splitlines()
        assert lines[0] == "host          n     v"
        assert lines[2] == "a             5   0.5"
        assert lines[3] == "long-host  1234  NULL"
        assert lines[-1] == "(2 rows)"


class TestDirectQueries:
    def test_embedded_store_without_sink_is_opened_directly(self, cfg: Config,
                                                           filled: Store) -> None:
        """With no sink serving, the query opens the store itself and answers."""
        out = run_query(cfg, "SELECT count() AS n FROM metrics;", "jsonl")
        assert orjson.loads(out) == {"n": filled.scalar("SELECT count() FROM metrics")}

    def test_writes_are_refused(self, cfg: Config, filled: Store) -> None:
        """readonly=1: an INSERT or DDL through `query` fails and changes nothing."""
        with pytest.raises(Exception, match="readonly"):
            run_query(cfg, "INSERT INTO deadletter (reason) VALUES ('x')", "csv")
        with pytest.raises(Exception, match="readonly"):
            run_query(cfg, "DROP TABLE metrics", "csv")
        assert filled.scalar("SELECT count() FROM metrics") > 0

    def test_csv_and_parquet(self, cfg: Config, filled: Store) -> None:
        """CSV has a header row; Parquet reads back with the same rows."""
        sql = "SELECT host, count() AS n FROM metrics GROUP BY host ORDER BY host"
        csv = run_query(cfg, sql, "csv").decode().splitlines()
        assert csv[0] == '"host","n"'
        pq: Any = importlib.import_module("pyarrow.parquet")  # untyped; chdb depends on it
        table = pq.read_table(io.BytesIO(run_query(cfg, sql, "parquet")))
        assert table.num_rows == len(csv) - 1
        assert table.column("host").to_pylist()[0] == csv[1].split(",")[0].strip('"')


class TestEndpoint:
    def test_ping_names_the_store(self, server: QueryServer, filled: Store) -> None:
        """/ping says which store it serves, so a client never queries the wrong one."""
        info = SinkEndpoint("127.0.0.1", server.port).ping()
        assert info["service"] == "rackwatch-sink" and info["dsn"] == filled.dsn
        assert info["status"] == {"paused": False}

    def test_query_goes_through_the_running_sink(self, cfg: Config,
                                                 server: QueryServer) -> None:
        """When a sink serves this store, `query` uses it and gets the same answer."""
        served = _serving(cfg, server)
        assert find_sink(served) is not None
        out = run_query(served, f"SELECT host FROM metrics WHERE host = '{HOT_CPU_HOST}' "
                                "LIMIT 1", "jsonl")
        assert orjson.loads(out) == {"host": HOT_CPU_HOST}

    def test_endpoint_is_read_only(self, server: QueryServer, filled: Store) -> None:
        """Writes and setting changes are refused by ClickHouse's readonly=1."""
        ep = SinkEndpoint("127.0.0.1", server.port)
        with pytest.raises(RemoteError, match="readonly"):
            ep.query("TRUNCATE TABLE metrics", "CSV")
        with pytest.raises(RemoteError, match="readonly"):
            ep.query("SELECT 1 SETTINGS readonly = 0", "CSV")
        assert filled.scalar("SELECT count() FROM metrics") > 0

    def test_token_is_required_when_set(self, filled: Store, cfg: Config) -> None:
        """With a token configured, requests without it are refused; with it, served."""
        srv = QueryServer(filled, port=0, token="s3cret")
        srv.start()
        try:
            with pytest.raises(RemoteError, match="token"):
                SinkEndpoint("127.0.0.1", srv.port).query("SELECT 1", "CSV")
            assert SinkEndpoint("127.0.0.1", srv.port, "s3cret").query(
                "SELECT 1", "CSV") == b"1\n"
            with pytest.raises(RemoteError, match="refused"):
                find_sink(_serving(cfg, srv))  # it answers, but refuses: say so
        finally:
            srv.stop()

    def test_sink_of_another_store_is_not_used(self, cfg: Config,
                                               server: QueryServer) -> None:
        """A sink serving a different store on the port is ignored."""
        other = dataclasses.replace(
            cfg, clickhouse=dataclasses.replace(cfg.clickhouse, dsn="chdb:///elsewhere/store"))
        assert find_sink(_serving(other, server)) is None


class TestCommand:
    def _parse(self, *argv: str) -> argparse.Namespace:
        p = argparse.ArgumentParser()
        cli.register(p.add_subparsers(dest="command"))
        return p.parse_args(list(argv))

    def test_query_prints_a_table(self, cfg: Config, filled: Store,
                                  capsys: pytest.CaptureFixture[str]) -> None:
        """`rackwatch query SQL` prints an aligned table and exits 0."""
        args = self._parse("query", "SELECT count() AS rows FROM alerts")
        assert args.func(args, cfg) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].strip() == "rows"
        assert out[2].strip() == str(filled.scalar("SELECT count() FROM alerts"))

    def test_query_writes_jsonl_to_a_file(self, cfg: Config, filled: Store,
                                          tmp_path: object) -> None:
        """-o FILE --format jsonl writes one JSON object per row."""
        from pathlib import Path
        target = Path(str(tmp_path)) / "out.jsonl"
        args = self._parse("query", "--format", "jsonl", "-o", str(target),
                           "SELECT rule FROM alerts ORDER BY rule LIMIT 3")
        assert args.func(args, cfg) == 0
        lines = target.read_bytes().splitlines()
        assert len(lines) == 3 and all("rule" in orjson.loads(x) for x in lines)

    def test_bad_sql_exits_non_zero_with_the_reason(
            self, cfg: Config, filled: Store, capsys: pytest.CaptureFixture[str]) -> None:
        """A failing query reports ClickHouse's message and exits 1."""
        args = self._parse("query", "SELECT nope FROM metrics")
        assert args.func(args, cfg) == 1
        assert "nope" in capsys.readouterr().err
