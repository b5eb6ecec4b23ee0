"""`rackwatch backup` / `restore` of the embedded store: a full round trip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest

from common.config import Config
from sinks.backup import MANIFEST, BackupError, backup, backup_into, restore
from sinks.serve import QueryServer
from sinks.store import Store, open_store
from tests.support.samples import Fleet
from tests.unit.sinks.helpers import fill

CHECK = ("SELECT (SELECT count() FROM metrics), (SELECT sum(samples) FROM metrics_1m), "
         "(SELECT count() FROM alerts), (SELECT count() FROM logs), "
         "(SELECT count() FROM deadletter), (SELECT sum(cityHash64(host, ts, value)) FROM metrics)")


def _fingerprint(store: Store) -> tuple[int, ...]:
    return tuple(int(x) for x in store.rows(CHECK)[0])


class TestRoundTrip:
    def test_backup_then_restore_gives_back_every_row(self, fresh_cfg: Config, fleet: Fleet,
                                                      tmp_path: Path) -> None:
        """Rows, rollups and contents are identical after backup, damage and restore,
        and the materialized views keep working on the restored store."""
        with open_store(fresh_cfg) as store:
            fill(store, fleet)
            before = _fingerprint(store)
        dest = tmp_path / "bk"
        info = backup(fresh_cfg, str(dest))
        manifest = orjson.loads((dest / MANIFEST).read_bytes())
        assert manifest["tables"]["metrics"] == len(fleet.metrics) == info.tables["metrics"]
        with open_store(fresh_cfg) as store:
            store.command("TRUNCATE TABLE metrics")
            store.command("DROP TABLE alerts SYNC")
        restored = restore(fresh_cfg, str(dest), force=True)
        assert restored.tables["metrics"] == len(fleet.metrics)
        with open_store(fresh_cfg) as store:
            assert _fingerprint(store) == before
            store.insert_rows("metrics", [("h", 0 + fleet.now_ms, "x", {}, "", 1.0, 1.0, 1.0,
                                           1.0, False, 1)],
                              ("host", "ts", "name", "labels", "rack", "value", "raw", "ewma",
                               "wma", "outlier", "seq"), "after-restore")
            assert store.scalar("SELECT sum(samples) FROM metrics_1m") == before[1] + 1


class TestGuards:
    def test_restore_refuses_to_overwrite_data_without_force(
            self, fresh_cfg: Config, fleet: Fleet, tmp_path: Path) -> None:
        """Restoring over a database that holds rows needs --force."""
        with open_store(fresh_cfg) as store:
            fill(store, fleet)
        backup(fresh_cfg, str(tmp_path / "bk"))
        with pytest.raises(BackupError, match="--force"):
            restore(fresh_cfg, str(tmp_path / "bk"))

    def test_backup_refuses_a_non_empty_destination(self, fresh_cfg: Config,
                                                    tmp_path: Path) -> None:
        """An existing non-empty folder is never overwritten."""
        (tmp_path / "bk").mkdir()
        (tmp_path / "bk" / "keep.txt").write_text("mine")
        with pytest.raises(BackupError, match="not empty"):
            backup(fresh_cfg, str(tmp_path / "bk"))
        assert (tmp_path / "bk" / "keep.txt").read_text() == "mine"

    def test_restore_needs_a_rackwatch_backup(self, fresh_cfg: Config, tmp_path: Path) -> None:
        """A folder without the manifest is not taken for a backup."""
        with pytest.raises(BackupError, match="not a rackwatch backup"):
            restore(fresh_cfg, str(tmp_path))

    def test_server_destination_must_be_a_clickhouse_expression(self, fresh_cfg: Config) -> None:
        """With a server DSN, a plain path is refused with an example of what works."""
        server = dataclasses.replace(fresh_cfg, clickhouse=dataclasses.replace(
            fresh_cfg.clickhouse, dsn="http://127.0.0.1:1"))
        with pytest.raises(BackupError, match="Disk"):
            backup(server, "some/folder")


class TestWithRunningSink:
    def test_backup_goes_through_the_sink_and_restore_waits_for_it(
            self, fresh_cfg: Config, fleet: Fleet, tmp_path: Path) -> None:
        """While a sink serves the store, backup is made by it; restore is refused."""
        store = open_store(fresh_cfg)
        fill(store, fleet)
        server = QueryServer(store, port=0, backup=backup_into)
        server.start()
        try:
            cfg = dataclasses.replace(fresh_cfg, sink=dataclasses.replace(
                fresh_cfg.sink, serve_port=server.port))
            info = backup(cfg, str(tmp_path / "bk"))
            assert info.tables["metrics"] == len(fleet.metrics)
            with pytest.raises(BackupError, match="stop it"):
                restore(cfg, str(tmp_path / "bk"), force=True)
        finally:
            server.stop()
            store.close()
