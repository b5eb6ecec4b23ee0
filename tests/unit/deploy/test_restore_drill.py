"""The restore drill: fill a store, back up, add rows, back up incrementally, restore
each backup into a new home with the real command, compare every table.

Backups come from this process (the store's engine, as `rackwatch backup` opens it
when no sink runs); restores and the reading back run as `rackwatch restore` and
`rackwatch query` in processes of their own, as an operator would run them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from common.config import Config
from sinks.backup import backup_series
from sinks.backuptarget import DirTarget, S3Target, Target, open_target
from sinks.settings import TABLES
from sinks.store import open_store
from tests.support.samples import build_fleet
from tests.unit.sinks.helpers import fill

pytestmark = pytest.mark.slow

# Rows and an order-free checksum of every row, per table.
SUMS = " UNION ALL ".join(
    f"SELECT '{t}' AS t, count() AS n, groupBitXor(cityHash64(toString(tuple(*)))) AS h "
    f"FROM rackwatch.{t}" for t in TABLES)


def _sums_here(cfg: Config) -> dict[str, list[int]]:
    with open_store(cfg) as store:
        return {str(t): [int(n), int(h)] for t, n, h in store.rows(SUMS)}


def _rackwatch(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    run = subprocess.run([sys.executable, "-m", "rackwatch.cli", *args], capture_output=True,
                         text=True, timeout=300,
                         env={**os.environ, "RACKWATCH_HOME": str(home), **(env or {})})
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _sums_restored(home: Path) -> dict[str, list[int]]:
    out = _rackwatch(home, "query", SUMS, "--format", "jsonl")
    rows = [orjson.loads(line) for line in out.splitlines() if line.strip()]
    return {r["t"]: [int(r["n"]), int(r["h"])] for r in rows}


def _add_rows(cfg: Config) -> None:
    """New rows after the first backup (shifted copies: other keys, other checksums)."""
    with open_store(cfg) as store:
        store.command("INSERT INTO rackwatch.metrics SELECT * REPLACE "
                      "(ts + toIntervalMinute(1) AS ts) FROM rackwatch.metrics LIMIT 500")
        store.command("INSERT INTO rackwatch.logs SELECT * REPLACE "
                      "(ts + toIntervalSecond(1) AS ts) FROM rackwatch.logs")


def _drill(tmp_path: Path, target: Target, restore_args: list[str],
           env: dict[str, str] | None = None) -> None:
    cfg = Config(home=tmp_path / "home")
    with open_store(cfg) as store:
        fill(store, build_fleet(int(time.time() * 1000) - 5_000))
    now = time.time()
    first = backup_series(cfg, target, keep=5, full_every=5, now_s=now)
    want_first = _sums_here(cfg)
    _add_rows(cfg)
    second = backup_series(cfg, target, keep=5, full_every=5, now_s=now + 3600)
    want_second = _sums_here(cfg)
    assert (first.kind, second.kind, second.base) == ("full", "incremental", first.name)
    assert want_second["metrics"][0] == want_first["metrics"][0] + 500
    assert want_second["metrics_1m"] != want_first["metrics_1m"]  # the views followed
    for backup, want in ((first, want_first), (second, want_second)):
        home = tmp_path / f"restored-{backup.kind}"
        where = restore_args[0].format(name=backup.name)
        _rackwatch(home, "restore", where, *restore_args[1:], env=env)
        assert _sums_restored(home) == want, backup.kind


class TestRestoreDrill:
    """Both backups of a chain restore, row for row, into a new home."""

    def test_folder_series(self, tmp_path: Path) -> None:
        root = tmp_path / "backups"
        _drill(tmp_path, DirTarget(root), [str(root / "{name}")])
        sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                 for p in root.iterdir()}
        full, incr = sorted(sizes)
        assert sizes[incr] < sizes[full] / 2  # the incremental holds only the new parts

    def test_s3_series(self, tmp_path: Path, s3_endpoint: str) -> None:
        env = {"AWS_ACCESS_KEY_ID": "drill", "AWS_SECRET_ACCESS_KEY": "drill-secret"}
        target = open_target("s3://rackwatch-drill/nightly", s3_endpoint=s3_endpoint, env=env)
        assert isinstance(target, S3Target)
        target.client.create_bucket()
        _drill(tmp_path, target, ["s3://rackwatch-drill/nightly/{name}", "--s3-endpoint",
                                  s3_endpoint], env=env)
