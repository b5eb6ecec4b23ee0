"""The DDL files: loading, rendering, statement splitting, TTL extraction."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from sinks.ddl import Migration, bootstrap_migration, load_migrations, split_statements, ttl_clauses
from sinks.settings import TABLES, StoreSettings


class TestSplitStatements:
    def test_splits_on_top_level_semicolons(self) -> None:
        """Two statements separated by ';' come back as two, trimmed."""
        assert split_statements("SELECT 1;\n SELECT 2 ;") == ["SELECT 1", "SELECT 2"]

    def test_ignores_semicolons_in_strings_and_comments(self) -> None:
        """A ';' inside quotes or a -- comment does not end the statement."""
        sql = "-- a; comment\nSELECT 'a;b', \"c;d\" -- trailing;\n;SELECT `x;y`"
        parts = split_statements(sql)
        assert len(parts) == 2
        assert "'a;b'" in parts[0] and "\"c;d\"" in parts[0]
        assert parts[1] == "SELECT `x;y`"

    def test_drops_comment_only_pieces(self) -> None:
        """Trailing comments after the last ';' are not a statement."""
        assert split_statements("SELECT 1;\n-- the end\n") == ["SELECT 1"]

    def test_escaped_quote_stays_inside_the_string(self) -> None:
        """A backslash-escaped quote does not close the string."""
        assert split_statements(r"SELECT 'it\'s;fine'; SELECT 2") == [
            r"SELECT 'it\'s;fine'", "SELECT 2"]

    @given(st.lists(st.text(alphabet="abc ,()'x=", min_size=0, max_size=12).filter(
        lambda t: "'" not in t), min_size=1, max_size=6))
    def test_round_trips_simple_statements(self, bodies: list[str]) -> None:
        """Joining quote-free statements with ';' and splitting gives them back."""
        stmts = [f"SELECT {b}".strip() for b in bodies]
        assert split_statements(";\n".join(stmts)) == stmts


class TestMigrations:
    def test_versions_are_contiguous_from_one(self) -> None:
        """Files are numbered 1..n, in order."""
        versions = [m.version for m in load_migrations()]
        assert versions == list(range(1, len(versions) + 1))

    def test_every_contract_table_is_created(self) -> None:
        """Each contract table appears in a CREATE TABLE of some file."""
        text = "\n".join(m.template for m in load_migrations())
        for table in TABLES:
            assert re.search(rf"CREATE TABLE IF NOT EXISTS \$\{{database\}}\.{table}\b", text)

    def test_rendering_leaves_no_placeholder(self) -> None:
        """All ${...} placeholders have values; ClickHouse {macros} are not touched."""
        values = StoreSettings().template_values()
        for mig in [bootstrap_migration(), *load_migrations()]:
            assert "${" not in mig.render(values)

    def test_every_statement_is_idempotent(self) -> None:
        """Every statement is IF NOT EXISTS (or IF EXISTS for a drop, or materialises a
        projection, which rebuilds the same one when re-run), so a half-applied file can
        be re-run."""
        values = StoreSettings().template_values()
        for mig in load_migrations():
            for stmt in mig.statements(values):
                code = "\n".join(x for x in stmt.splitlines() if not x.startswith("--"))
                assert ("IF NOT EXISTS" in code
                        or code.startswith(("DROP VIEW IF EXISTS", "DROP TABLE IF EXISTS"))
                        or re.search(r"^ALTER TABLE \S+ MATERIALIZE PROJECTION \w+", code)), \
                    stmt[:80]

    def test_checksum_is_of_the_template(self) -> None:
        """Changing retention does not change a migration's checksum; editing it does."""
        mig = load_migrations()[0]
        edited = Migration(mig.version, mig.name, mig.template + "\n-- edit")
        assert mig.checksum == Migration(mig.version, mig.name, mig.template).checksum
        assert edited.checksum != mig.checksum


class TestTtlClauses:
    def test_retention_days_reach_each_table(self) -> None:
        """Each table's TTL uses the retention configured for it."""
        settings = StoreSettings()
        clauses = ttl_clauses(load_migrations(), settings.template_values())
        assert set(clauses) == set(TABLES)
        for table, expr in clauses.items():
            assert f"toIntervalDay({settings.retention_days[table]})" in expr
