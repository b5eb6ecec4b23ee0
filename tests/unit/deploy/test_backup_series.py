"""sinks.backupset: what the next backup builds on, and what retention deletes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinks.backupset import (
    Entry,
    ManifestError,
    backup_name,
    build_manifest,
    chain_of,
    parse_manifest,
    plan_next,
    to_delete,
)


def _series(kinds: str) -> list[Entry]:
    """'FIIFI' -> a full, two incrementals, a full, an incremental, each on the last."""
    out: list[Entry] = []
    for i, k in enumerate(kinds):
        base = None if k == "F" else out[-1].name
        out.append(Entry(f"b{i:02d}", "full" if k == "F" else "incremental", base,
                         f"2026-01-{i + 1:02d}T00:00:00Z"))
    return out


class TestPlan:
    """Incremental on the latest until the chain is full_every long."""

    def test_first_backup_is_full(self) -> None:
        assert plan_next([], 7) == ("full", None)

    def test_incremental_on_the_latest_until_the_chain_is_long_enough(self) -> None:
        assert plan_next(_series("FII"), 4) == ("incremental", "b02")
        assert plan_next(_series("FIII"), 4) == ("full", None)

    def test_full_every_one_is_always_full(self) -> None:
        assert plan_next(_series("F"), 1) == ("full", None)

    def test_a_broken_chain_is_not_built_on(self) -> None:
        """The latest backup's base is gone: the next builds on the newest whole one."""
        entries = _series("FIFI")
        del entries[2]  # the second full: b03 now has no base
        assert plan_next(entries, 7) == ("incremental", "b01")


class TestRetention:
    """The newest `keep` are kept with everything they are built on."""

    def test_keeps_the_bases_of_what_it_keeps(self) -> None:
        entries = _series("FIIFII")
        assert [e.name for e in to_delete(entries, 2)] == ["b00", "b01", "b02"]
        assert [e.name for e in to_delete(entries, 4)] == []  # b02 needs b00 and b01

    def test_deletes_nothing_when_nothing_is_restorable(self) -> None:
        entries = [Entry("b01", "incremental", "gone", "2026-01-01T00:00:00Z")]
        assert to_delete(entries, 1) == []

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=30),
           st.integers(min_value=1, max_value=6), st.integers(min_value=1, max_value=6))
    def test_what_is_kept_is_always_restorable(self, fulls: list[int], keep: int,
                                               full_every: int) -> None:
        """Run the scheduler for a while: after every run, each kept backup's chain is
        whole, the newest `keep` are among them, and no more than needed are kept."""
        entries: list[Entry] = []
        for day in range(len(fulls) * 3):
            kind, base = plan_next(entries, full_every)
            entries.append(Entry(f"b{day:03d}", kind, base, f"t{day:03d}"))
            doomed = {e.name for e in to_delete(entries, keep)}
            entries = [e for e in entries if e.name not in doomed]
            for e in entries:
                chain_of(entries, e.name)  # raises if a base is missing
            assert len(entries) >= min(keep, day + 1)
            assert len(entries) <= keep + full_every - 1


class TestManifest:
    """Manifests are read back as written, and foreign ones are refused."""

    def test_round_trip(self) -> None:
        doc = build_manifest(name="n", kind="incremental", base="m", database="rackwatch",
                             created_at="2026-01-01T00:00:00Z", tables={"metrics": 5},
                             schema_versions=[1, 2], chain=["m", "n"])
        entry = parse_manifest(doc, "n")
        assert (entry.kind, entry.base, dict(entry.tables)) == ("incremental", "m",
                                                                {"metrics": 5})

    def test_v1_manifests_are_full_backups(self) -> None:
        entry = parse_manifest({"format": "rackwatch-backup/v1", "tables": {}}, "old")
        assert (entry.name, entry.kind, entry.base) == ("old", "full", None)

    @pytest.mark.parametrize("doc", [None, {"format": "x"},
                                     {"format": "rackwatch-backup/v2", "kind": "full",
                                      "base": "b"},
                                     {"format": "rackwatch-backup/v2", "kind": "incremental",
                                      "base": None}])
    def test_inconsistent_manifests_are_refused(self, doc: object) -> None:
        with pytest.raises(ManifestError):
            parse_manifest(doc, "x")

    def test_names_sort_by_time_and_never_repeat(self) -> None:
        first = backup_name(1_700_000_000, "full")
        again = backup_name(1_700_000_000, "full", [first])
        later = backup_name(1_700_000_001, "incremental")
        assert first != again and sorted([later, first]) == [first, later]
        assert first.endswith("-full") and later.endswith("-incr")
