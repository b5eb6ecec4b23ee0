"""`rackwatch backup --into`: retention and the status file, through the real command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from common.config import Config
from sinks.store import open_store
from tests.support.samples import build_fleet
from tests.unit.sinks.helpers import fill

pytestmark = pytest.mark.slow


def _backup(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rackwatch.cli", "backup", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RACKWATCH_HOME": str(home)})


class TestScheduledRuns:
    """What a timer sees run after run."""

    def test_retention_and_status_over_three_runs(self, tmp_path: Path) -> None:
        """keep 1, full every 2: full, incremental (its base kept), then a new full
        and the old chain deleted; each run recorded in the status file."""
        home, root = tmp_path / "home", tmp_path / "backups"
        with open_store(Config(home=home)) as store:
            fill(store, build_fleet(int(time.time() * 1000) - 5_000))
        kept = []
        for _ in range(3):
            run = _backup(home, "--into", str(root), "--keep", "1", "--full-every", "2")
            assert run.returncode == 0, run.stderr
            kept.append(sorted(p.name for p in root.iterdir()))
            time.sleep(1.1)  # names are per second
        assert [len(k) for k in kept] == [1, 2, 1]
        assert kept[0][0].endswith("-full") and kept[1][1].endswith("-incr")
        assert kept[2][0].endswith("-full") and kept[2][0] not in kept[1]
        status = orjson.loads((home / "backup" / "status.json").read_bytes())
        assert status["last_attempt"]["ok"] and status["last_attempt"]["deleted"] == 2
        assert status["last_success"]["kept"] == 1 and status["last_success"]["rows"] > 0

    def test_a_failed_run_is_recorded_and_exits_1(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the series should be")
        run = _backup(home, "--into", str(blocker), "--status-file",
                      str(tmp_path / "st.json"))
        assert run.returncode == 1 and "backup failed" in run.stderr
        status = orjson.loads((tmp_path / "st.json").read_bytes())
        assert status["last_attempt"]["ok"] is False and status["last_attempt"]["error"]
        assert status["last_success"] is None

    def test_dest_and_into_are_exclusive(self, tmp_path: Path) -> None:
        run = _backup(tmp_path, str(tmp_path / "one"), "--into", str(tmp_path / "s"))
        assert run.returncode == 2 and "either DEST" in run.stderr
