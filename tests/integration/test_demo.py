"""`rackwatch demo`, twice in one home: the second run shows the fleet again.

The demo's simulator numbers its batches from 1 every time, and the worker's restored
dedup state remembers the first run's numbers: without producer epochs the second run's
fleet was dropped as duplicates, silently. The demo also prints its scorecard and what
to look at next. Short runs of a small fleet, on a broker of the test's own ports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from common.broker import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def demo(home: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACKWATCH_")}
    env["RACKWATCH_HOME"] = str(home)
    res = subprocess.run([sys.executable, "-m", "rackwatch.cli", "demo", "--duration", "40",
                          "--hosts", "6"], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout


def metric_rows(out: str) -> int:
    m = re.search(r"^\s+metrics\s+(\d+) rows", out, re.M)
    assert m, out[-2000:]
    return int(m.group(1))


def test_demo_twice_shows_the_fleet_both_times(tmp_path: Path) -> None:
    """Run 2 stores the simulated fleet again (rows grow by about run 1's), and both
    runs end with the scorecard and the next steps."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "rackwatch.toml").write_text(
        f"[broker]\nport = {free_port()}\ncontroller_port = {free_port()}\n"
        f"[sink]\nserve_port = {free_port()}\n[console]\nport = {free_port()}\n")
    first = demo(home)
    second = demo(home)
    one, two = metric_rows(first), metric_rows(second)
    assert one > 1000
    assert two - one > 0.6 * one  # the second run's fleet was stored, not dropped
    for out in (first, second):
        assert "scorecard: injected faults against what the pipeline raised" in out
        assert "what to look at next:" in out
        assert "dedup_dropped" in out
        assert re.search(r"the live console: http://127\.0\.0\.1:\d+", out)
