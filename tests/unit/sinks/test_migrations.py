"""Migrations on chDB: idempotent, guarded against edits, retention reconciled."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from types import MappingProxyType

import pytest

from common.config import Config, ConfigError, load_config
from sinks.ddl import Migration, load_migrations
from sinks.migrations import MigrationError, apply_migrations, reconcile_retention
from sinks.settings import DEFAULT_RETENTION_DAYS, TABLES, StoreSettings
from sinks.store import Store


def _settings(cfg: Config, **days: int) -> StoreSettings:
    retention = dict(DEFAULT_RETENTION_DAYS, **days)
    return StoreSettings(database=cfg.clickhouse.database,
                         retention_days=MappingProxyType(retention))


def _tables(store: Store, db: str) -> list[tuple[str, str]]:
    return [(str(n), str(q)) for n, q in store.rows(
        "SELECT name, create_table_query FROM system.tables WHERE database = {d:String} "
        "ORDER BY name", {"d": db})]


class TestApply:
    def test_first_run_creates_everything_and_records_it(self, base_store: Store,
                                                         fresh_cfg: Config) -> None:
        """A new database gets every table and view, and each version is recorded."""
        settings = _settings(fresh_cfg)
        applied = apply_migrations(base_store, settings)
        assert applied == [m.version for m in load_migrations()]
        names = {n for n, _ in _tables(base_store, settings.database)}
        views = {"metrics_1m_series_mv", "metrics_1h_series_mv", "metric_blocks_parse_mv"}
        assert set(TABLES) | views | {"schema_migrations"} <= names

    def test_second_run_is_a_no_op(self, base_store: Store, fresh_cfg: Config) -> None:
        """Applying again changes nothing and records nothing twice."""
        settings = _settings(fresh_cfg)
        apply_migrations(base_store, settings)
        before = _tables(base_store, settings.database)
        assert apply_migrations(base_store, settings) == []
        assert _tables(base_store, settings.database) == before
        count = base_store.scalar(f"SELECT count() FROM {settings.database}.schema_migrations")
        assert count == len(load_migrations())

    def test_half_applied_file_is_completed(self, base_store: Store, fresh_cfg: Config) -> None:
        """A file whose statements ran but whose record is missing is simply re-run."""
        settings = _settings(fresh_cfg)
        apply_migrations(base_store, settings)
        base_store.command(f"DELETE FROM {settings.database}.schema_migrations "
                           "WHERE version = 13")
        base_store.command(f"DROP VIEW {settings.database}.metrics_1h_series_mv")
        assert apply_migrations(base_store, settings) == [13]
        assert base_store.scalar("SELECT count() FROM system.tables WHERE database = {d:String} "
                                 "AND name = 'metrics_1h_series_mv'", {"d": settings.database}) == 1

    def test_edited_applied_file_is_refused(self, base_store: Store, fresh_cfg: Config) -> None:
        """A changed checksum of an applied version stops the start with a clear error."""
        settings = _settings(fresh_cfg)
        migs = load_migrations()
        apply_migrations(base_store, settings, migs)
        edited = [dataclasses.replace(migs[0], template=migs[0].template + "\n-- edited")]
        with pytest.raises(MigrationError, match="changed after it was applied"):
            apply_migrations(base_store, settings, edited + migs[1:])

    def test_store_ahead_of_code_is_refused(self, base_store: Store, fresh_cfg: Config) -> None:
        """A store with versions this code does not know is not touched."""
        settings = _settings(fresh_cfg)
        migs = load_migrations()
        extra = Migration(len(migs) + 1, "future", "SELECT 1")
        apply_migrations(base_store, settings, [*migs, extra])
        with pytest.raises(MigrationError, match="does not know"):
            apply_migrations(base_store, settings, migs)


class TestSeriesRollupsUpgrade:
    """0013 upgrades a store in place: old rollup rows kept, new ones per series."""

    def test_a_store_at_version_12_is_upgraded_in_place(self, base_store: Store,
                                                        fresh_cfg: Config) -> None:
        settings = _settings(fresh_cfg)
        db = settings.database
        before = [m for m in load_migrations() if m.version <= 12]
        assert apply_migrations(base_store, settings, before)[-1] == 12
        base = (int(time.time()) // 3600 - 3) * 3_600_000  # an hour, within every retention
        rows = [("h1", base + i * 10_000, "gpu.temp", {"rack": "r1", "gpu": str(g)}, "r1",
                 50.0 + g, 50.0 + g, 0.0, 0.0, False, i) for i in range(6) for g in (0, 1)]
        cols = [list(c) for c in zip(*rows, strict=True)]
        names = ("host", "ts", "name", "labels", "rack", "value", "raw", "ewma", "wma",
                 "outlier", "seq")
        store = Store(base_store.client, base_store.dsn, settings)  # the fresh database
        store.insert_columns("metrics", cols, names, "old")
        old = base_store.rows(f"SELECT count(), sum(samples) FROM {db}.metrics_1m")
        assert [tuple(r) for r in old] == [(1, 12)]  # the two GPUs merged, as before
        upto13 = [m for m in load_migrations() if m.version <= 13]
        assert apply_migrations(base_store, settings, upto13) == [13]
        later = [(h, ts + 3_600_000, *rest) for h, ts, *rest in rows]
        store.insert_columns("metrics", [list(c) for c in zip(*later, strict=True)], names,
                             "new")
        store.insert_columns("metrics", [list(c) for c in zip(*later, strict=True)], names,
                             "new")  # a retried insert: counted once
        for table in ("metrics_1m", "metrics_1h"):
            got = sorted((tuple(sorted(lab.items())), int(n), lo, hi) for lab, n, lo, hi in
                         base_store.rows(f"SELECT labels, sum(samples), min(min_value), "
                                         f"max(max_value) FROM {db}.{table} "
                                         "GROUP BY labels, toStartOfHour(ts)"))
            assert got == [((), 12, 50.0, 51.0),
                           ((("gpu", "0"), ("rack", "r1")), 6, 50.0, 50.0),
                           ((("gpu", "1"), ("rack", "r1")), 6, 51.0, 51.0)], table


class TestMetricsByNameUpgrade:
    """0015 adds a projection ordered by (name, ts, host) to a store holding data."""

    def test_a_store_at_version_14_gets_the_projection_and_the_same_answers(
            self, base_store: Store, fresh_cfg: Config) -> None:
        settings = _settings(fresh_cfg)
        db = settings.database
        assert apply_migrations(base_store, settings,
                                [m for m in load_migrations() if m.version <= 14])[-1] == 14
        base = (int(time.time()) // 3600 - 3) * 3_600_000
        rows = [(f"h{h}", base + i * 10_000, name, {"rack": "r1"}, "r1", float(h * 100 + i),
                 0.0, 0.0, 0.0, False, i)
                for i in range(50) for h in range(4) for name in ("cpu.usage", "mem.used")]
        names = ("host", "ts", "name", "labels", "rack", "value", "raw", "ewma", "wma",
                 "outlier", "seq")
        store = Store(base_store.client, base_store.dsn, settings)
        store.insert_columns("metrics", [list(c) for c in zip(*rows, strict=True)], names, "a")
        fleet = (f"SELECT host, sum(value), count() FROM {db}.metrics WHERE name = 'mem.used' "
                 f"AND ts >= fromUnixTimestamp64Milli({base + 100_000}) GROUP BY host "
                 "ORDER BY host")
        want = [(f"h{h}", float(sum(h * 100 + i for i in range(10, 50))), 40)
                for h in range(4)]  # by hand
        assert [tuple(r) for r in base_store.rows(fleet)] == want
        assert apply_migrations(base_store, settings) == [15]
        base_store.command(f"ALTER TABLE {db}.metrics MATERIALIZE PROJECTION by_name "
                           "SETTINGS mutations_sync = 1")  # what the migration started
        parts = base_store.rows("SELECT name, parent_name FROM system.projection_parts WHERE "
                                "database = {d:String} AND table = 'metrics' AND active",
                                {"d": db})
        assert parts and {str(n) for n, _ in parts} == {"by_name"}
        assert [tuple(r) for r in base_store.rows(fleet)] == want
        # served from the projection alone (an error if it could not be), same answer
        forced = base_store.rows(f"{fleet} SETTINGS force_optimize_projection = 1, "
                                 "force_optimize_projection_name = 'by_name'")
        assert [tuple(r) for r in forced] == want
        with pytest.raises(Exception, match=r"(?i)projection"):  # raw is not in it
            base_store.rows(f"SELECT sum(raw) FROM {db}.metrics WHERE name = 'mem.used' "
                            "SETTINGS force_optimize_projection = 1")
        assert apply_migrations(base_store, settings) == []  # recorded: a no-op now


class TestRetention:
    def test_changed_retention_alters_ttl(self, base_store: Store, fresh_cfg: Config) -> None:
        """A new retention for one table becomes its TTL at the next start, alone."""
        apply_migrations(base_store, _settings(fresh_cfg))
        changed = reconcile_retention(base_store, _settings(fresh_cfg, logs=7))
        assert changed == ["logs"]
        query = dict(_tables(base_store, fresh_cfg.clickhouse.database))["logs"]
        assert "toIntervalDay(7)" in query
        assert reconcile_retention(base_store, _settings(fresh_cfg, logs=7)) == []

    def test_tables_use_ttl_only_drop_parts(self, base_store: Store, fresh_cfg: Config) -> None:
        """Every table with a TTL drops whole parts (cheap) rather than rewriting them."""
        apply_migrations(base_store, _settings(fresh_cfg))
        for name, query in _tables(base_store, fresh_cfg.clickhouse.database):
            if " TTL " in query:
                assert "ttl_only_drop_parts = 1" in query, name


class TestSettings:
    def test_retention_below_a_day_is_rejected(self, tmp_path: Path) -> None:
        """A zero retention cannot be expressed: the configuration refuses it at load."""
        f = tmp_path / "c.toml"
        f.write_text("[clickhouse]\nttl_days_metrics = 0\n")
        with pytest.raises(ConfigError, match="ttl_days_metrics must be at least 1"):
            load_config(f, env={})

    def test_config_fields_override_defaults(self, tmp_path: Path) -> None:
        """[clickhouse] database and ttl_days_<table> are what the store is laid out by."""
        f = tmp_path / "c.toml"
        f.write_text('[clickhouse]\ndatabase = "db1"\nttl_days_logs = 3\n')
        s = StoreSettings.from_config(load_config(f, env={}))
        assert s.database == "db1" and s.retention_days["logs"] == 3
        assert s.retention_days["metrics"] == DEFAULT_RETENTION_DAYS["metrics"]
