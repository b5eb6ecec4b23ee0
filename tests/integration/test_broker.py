"""The local broker as operators use it: `rackwatch broker start|status|stop`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.broker import free_port

pytestmark = pytest.mark.integration


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = home / "rackwatch.toml"
    return subprocess.run([sys.executable, "-m", "rackwatch.cli", "-c", str(cfg), *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"RACKWATCH_HOME": str(home), "PATH": _path()})


def _path() -> str:
    import os

    return os.environ.get("PATH", "")


class TestBrokerCommand:
    def test_start_status_stop_leaves_nothing_running(self, tmp_path: Path) -> None:
        """start brings up a broker that answers, stop ends it, status tells both."""
        port, cport = free_port(), free_port()
        (tmp_path / "rackwatch.toml").write_text(
            f"[broker]\nport = {port}\ncontroller_port = {cport}\n")
        started = cli(tmp_path, "broker", "start")
        try:
            assert started.returncode == 0, started.stderr
            assert f"127.0.0.1:{port}" in started.stdout
            status = cli(tmp_path, "broker", "status")
            assert status.returncode == 0 and "running" in status.stdout
            again = cli(tmp_path, "broker", "start")  # idempotent
            assert again.returncode == 0
        finally:
            stopped = cli(tmp_path, "broker", "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        status = cli(tmp_path, "broker", "status")
        assert status.returncode == 3 and "stopped" in status.stdout
        pid_file = tmp_path / "kafka" / "broker.pid"
        assert not pid_file.exists()
