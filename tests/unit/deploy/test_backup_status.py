"""The backup status file and the collector the sink's endpoint serves it with."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sinks.backupstatus import (
    Attempt,
    BackupStatusCollector,
    default_status_path,
    read_status,
    write_status,
)


def _scrape(path: Path) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(BackupStatusCollector(path))
    text = generate_latest(registry).decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


class TestStatusFile:
    """A failure is recorded without forgetting the last success."""

    def test_failure_keeps_the_last_success(self, tmp_path: Path) -> None:
        path = default_status_path(tmp_path)
        write_status(path, Attempt(100.0, 160.0, True, "/b", "n1", "full", 42, 1, 0))
        write_status(path, Attempt(200.0, 201.0, False, "/b", error="disk full"))
        status = read_status(path)
        assert status is not None
        assert status["last_attempt"]["ok"] is False
        assert status["last_attempt"]["error"] == "disk full"
        assert status["last_success"]["name"] == "n1" and status["last_success"]["at"] == 160

    def test_a_corrupt_file_is_replaced_by_the_next_run(self, tmp_path: Path) -> None:
        path = default_status_path(tmp_path)
        path.parent.mkdir(parents=True)
        path.write_text("{not json")
        write_status(path, Attempt(1.0, 2.0, True, "/b", "n", "full"))
        assert read_status(path) is not None


class TestCollector:
    """What Prometheus sees, read at scrape time."""

    def test_no_file_no_metrics(self, tmp_path: Path) -> None:
        assert _scrape(tmp_path / "none.json") == {}

    def test_success_then_failure(self, tmp_path: Path) -> None:
        path = tmp_path / "status.json"
        write_status(path, Attempt(100.0, 160.0, True, "/b", "n1", "full", 42, 3, 1))
        seen = _scrape(path)
        assert seen["rackwatch_backup_last_attempt_success"] == 1
        assert seen["rackwatch_backup_last_success_timestamp_seconds"] == 160
        assert seen["rackwatch_backup_last_success_duration_seconds"] == 60
        assert seen["rackwatch_backup_last_success_rows"] == 42
        assert seen["rackwatch_backup_kept"] == 3
        write_status(path, Attempt(200.0, 205.0, False, "/b", error="x"))
        seen = _scrape(path)  # the same collector object would read the new file too
        assert seen["rackwatch_backup_last_attempt_success"] == 0
        assert seen["rackwatch_backup_last_attempt_timestamp_seconds"] == 205
        assert seen["rackwatch_backup_last_success_timestamp_seconds"] == 160

    def test_unreadable_file_is_itself_a_metric(self, tmp_path: Path) -> None:
        path = tmp_path / "status.json"
        path.write_text("[]")
        assert _scrape(path) == {"rackwatch_backup_status_readable": 0}

    def test_the_rules_use_the_collectors_names(self) -> None:
        """Every rackwatch_backup_* name in the alert rules is one the collector serves."""
        import re

        from tests.unit.deploy.helpers import REPO

        rules = (REPO / "deploy/prometheus/backup-rules.yaml").read_text()
        served = set((Path(__file__).parents[3] / "sinks/backupstatus.py").read_text()
                     .split('"')) & set(re.findall(r"rackwatch_backup_[a-z_]+", rules))
        assert served == set(re.findall(r"rackwatch_backup_[a-z_]+", rules))
