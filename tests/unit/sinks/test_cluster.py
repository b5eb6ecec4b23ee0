"""The cluster variant in deploy/clickhouse is generated from the same DDL files."""

from __future__ import annotations

import re
from pathlib import Path

from sinks.cluster import cluster_ddl
from sinks.ddl import load_migrations, split_statements
from sinks.settings import TABLES, StoreSettings
from sinks.store import Store

DEPLOYED = Path(__file__).resolve().parents[3] / "deploy" / "clickhouse" / "cluster.sql"


class TestClusterDdl:
    def test_deployed_file_is_current(self) -> None:
        """deploy/clickhouse/cluster.sql equals what the generator makes of schemas/sql
        now (regenerate with `python -m sinks.cluster > deploy/clickhouse/cluster.sql`)."""
        assert DEPLOYED.read_text() == cluster_ddl()

    def test_every_table_is_replicated_and_distributed(self) -> None:
        """Each contract table has a Replicated*MergeTree _local table and a Distributed
        front with a sharding key; no statement escapes ON CLUSTER."""
        text = cluster_ddl()
        for table in (*TABLES, "schema_migrations"):
            local = re.search(rf"CREATE TABLE IF NOT EXISTS rackwatch\.{table}_local ON CLUSTER "
                              r"'rackwatch'\n.*?ENGINE = (Replicated\w*MergeTree)\(", text,
                              re.DOTALL)
            assert local, table
            assert re.search(rf"ENGINE = Distributed\('rackwatch', 'rackwatch', '{table}_local', "
                             r"[^)]+\)", text), table
        for stmt in split_statements(text):
            if stmt.lstrip("-\n ").startswith("CREATE") or "\nCREATE" in stmt:
                assert "ON CLUSTER 'rackwatch'" in stmt, stmt[:120]
        assert "non_replicated_deduplication_window" not in text

    def test_views_read_and_write_local_tables(self) -> None:
        """Materialized views run per shard: from metrics_local into the local rollups."""
        text = cluster_ddl()
        for grain in ("1m", "1h"):
            assert re.search(rf"metrics_{grain}_mv ON CLUSTER 'rackwatch' TO "
                             rf"rackwatch\.metrics_{grain}_local AS", text)
        assert "FROM rackwatch.metrics_local" in text
        assert "FROM rackwatch.metrics\n" not in text

    def test_metrics_and_rollups_share_the_host_sharding(self) -> None:
        """A host's samples and its rollups land on the same shard."""
        text = cluster_ddl()
        for table in ("metrics", "metrics_1m", "metrics_1h", "logs"):
            assert f"'{table}_local', cityHash64(host))" in text

    def test_additive_alter_reaches_local_and_distributed(self) -> None:
        """An ALTER of a contract table runs on every shard's _local table and on the
        Distributed front, so inserts through the front carry the new column."""
        text = cluster_ddl()
        for name in ("logs_local", "logs"):
            assert (f"ALTER TABLE rackwatch.{name} ON CLUSTER 'rackwatch' ADD COLUMN IF NOT "
                    "EXISTS fault_source") in text

    def test_projections_go_to_the_local_tables_only(self) -> None:
        """A projection is stored with the data: on every shard's metrics_local, never on
        the Distributed front (which holds no data and refuses one)."""
        text = cluster_ddl()
        assert ("ALTER TABLE rackwatch.metrics_local ON CLUSTER 'rackwatch' MATERIALIZE "
                "PROJECTION by_name") in text
        assert re.search(r"metrics_local ON CLUSTER 'rackwatch'\s+ADD PROJECTION IF NOT "
                         r"EXISTS by_name", text)
        assert not re.search(r"ALTER TABLE rackwatch\.metrics ON CLUSTER[^;]*PROJECTION", text)

    def test_records_every_migration(self) -> None:
        """The script records each version with its checksum, so the migrator is a no-op."""
        text = cluster_ddl()
        for mig in load_migrations():
            assert f"({mig.version}, '{mig.name}', '{mig.checksum}'" in text

    def test_other_names_are_substituted(self) -> None:
        """Database and cluster names come from the arguments."""
        text = cluster_ddl(StoreSettings(database="obs"), cluster="dc1")
        assert "ON CLUSTER 'dc1'" in text and "obs.metrics_local" in text
        assert not re.search(r"(TABLE|VIEW|TO|FROM|AS) (IF NOT EXISTS )?rackwatch\.", text)

    def test_every_statement_parses(self, base_store: Store) -> None:
        """ClickHouse's own parser accepts every statement (formatQuery)."""
        for stmt in split_statements(cluster_ddl()):
            out = base_store.scalar("SELECT formatQuery({q:String})", {"q": stmt})
            assert out
