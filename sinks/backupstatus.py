"""The backup's status file, and the Prometheus collector that makes it alertable.

Every `rackwatch backup` run (success or failure) records its outcome in a small JSON
file, by default `<home>/backup/status.json`. A backup run by a timer or a CronJob ends
before anything scrapes it, so the metrics come from whoever is always up and shares that
folder: the sink's endpoint registers `BackupStatusCollector`, which reads the file at
scrape time. A failed run keeps the last success, so "late" (no success for too long) and
"failed" (the last attempt failed) are two rules (deploy/prometheus/backup-rules.yaml).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["STATUS_FORMAT", "Attempt", "BackupStatusCollector", "default_status_path",
           "next_status", "read_status", "write_status"]

STATUS_FORMAT = "rackwatch-backup-status/v1"


def default_status_path(home: Path) -> Path:
    return home / "backup" / "status.json"


@dataclass(frozen=True)
class Attempt:
    """One run of `rackwatch backup`."""

    started_s: float
    finished_s: float
    ok: bool
    location: str  # no secrets
    name: str = ""
    kind: str = ""
    rows: int = 0
    kept: int = 0
    deleted: int = 0
    error: str = ""


def next_status(previous: dict[str, Any] | None, attempt: Attempt) -> dict[str, Any]:
    """The status after `attempt`: the attempt itself, and the last success (this one
    when it succeeded, else the one before)."""
    record = {"at": attempt.finished_s, "started": attempt.started_s, "ok": attempt.ok,
              "duration_s": round(attempt.finished_s - attempt.started_s, 3),
              "location": attempt.location, "name": attempt.name, "kind": attempt.kind,
              "rows": attempt.rows, "kept": attempt.kept, "deleted": attempt.deleted,
              "error": attempt.error}
    success = record if attempt.ok else (previous or {}).get("last_success")
    return {"format": STATUS_FORMAT, "last_attempt": record, "last_success": success}


def read_status(path: Path) -> dict[str, Any] | None:
    """The status, None when there is no file; ValueError when it is not readable."""
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as e:
        raise ValueError(f"{path}: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != STATUS_FORMAT:
        raise ValueError(f"{path}: not a backup status file")
    return doc


def write_status(path: Path, attempt: Attempt) -> dict[str, Any]:
    """Record `attempt` (atomically: a scrape never reads half a file)."""
    try:
        previous = read_status(path)
    except ValueError:
        previous = None
    status = next_status(previous, attempt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(status, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)
    return status


class BackupStatusCollector(Collector):
    """`rackwatch_backup_*` gauges from the status file, read at every scrape. No file:
    no backup metrics (backups are not set up here). An unreadable file:
    rackwatch_backup_status_readable 0, which is itself alertable."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            status = read_status(self.path)
        except ValueError:
            yield GaugeMetricFamily("rackwatch_backup_status_readable",
                                    "1 when the backup status file could be read", value=0)
            return
        if status is None:
            return
        yield GaugeMetricFamily("rackwatch_backup_status_readable",
                                "1 when the backup status file could be read", value=1)
        last = status.get("last_attempt") or {}
        success = status.get("last_success") or {}
        yield GaugeMetricFamily("rackwatch_backup_last_attempt_timestamp_seconds",
                                "when the last backup attempt ended (Unix time)",
                                value=float(last.get("at", 0)))
        yield GaugeMetricFamily("rackwatch_backup_last_attempt_success",
                                "1 when the last backup attempt succeeded, 0 when it failed",
                                value=1.0 if last.get("ok") else 0.0)
        yield GaugeMetricFamily("rackwatch_backup_last_success_timestamp_seconds",
                                "when the last successful backup ended (Unix time; 0: none)",
                                value=float(success.get("at", 0)))
        yield GaugeMetricFamily("rackwatch_backup_last_success_duration_seconds",
                                "how long the last successful backup took",
                                value=float(success.get("duration_s", 0)))
        yield GaugeMetricFamily("rackwatch_backup_last_success_rows",
                                "rows in the last successful backup",
                                value=float(success.get("rows", 0)))
        yield GaugeMetricFamily("rackwatch_backup_kept",
                                "backups kept in the series after the last successful run",
                                value=float(success.get("kept", 0)))
