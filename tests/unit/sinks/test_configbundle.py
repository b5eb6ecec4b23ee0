"""Backups carry the configuration in effect; a restore into a new home gives the same
effective configuration (secrets excepted, and said so)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from common.config import Config, effective, load_config
from sinks.backup import BackupError, backup, restore_config
from sinks.backupset import MANIFEST
from sinks.configbundle import bundle, restore_bundle

RULES = "groups:\n  - name: g\n    rules:\n      - {alert: A, kind: absent, duration: 1m}\n"
ROUTES = "route:\n  assignee: ops\n  routes:\n    - match: {rack: r07}\n      assignee: hall-b\n"


def write_home(home: Path, extra: str = "") -> Path:
    """A home whose configuration sets keys of several kinds, a secret and two files that
    live outside it."""
    outside = home.parent / f"{home.name}-etc"
    outside.mkdir(parents=True)
    (outside / "rules.yaml").write_text(RULES)
    (outside / "routes.yaml").write_text(ROUTES)
    home.mkdir(parents=True)
    (home / "rackwatch.toml").write_text(f"""
[kafka]
partitions = 6
topic_prefix = "dc1."
[worker]
rules = "{outside / 'rules.yaml'}"
ewma_tau_s = 30.0
[routing]
file = "{outside / 'routes.yaml'}"
[identity]
user = "night-shift"
[forwarder]
webhook_urls = ["http://hooks.example/alerts"]
bearer_token = "s3cret"
[[agent.scrape]]
name = "vllm-0"
url = "http://127.0.0.1:8000/metrics"
labels = {{ model = "llama-8b", replica = "r-3" }}
{extra}""")
    return home


def load(home: Path) -> Config:
    return load_config(home / "rackwatch.toml", env={"RACKWATCH_HOME": str(home)})


def comparable(cfg: Config) -> dict[str, Any]:
    """The effective configuration without what a restore moves on purpose: the home,
    the files (compared by content) and the secret (never saved)."""
    shown = effective(cfg)
    shown.pop("")
    for section, key in (("worker", "rules"), ("routing", "file")):
        path = shown[section][key]
        shown[section][key] = Path(path).read_text() if path else ""
    shown["forwarder"]["bearer_token"] = "(secret)"
    return shown


class TestRestoredHome:
    """A saved configuration written into a new home loads as the same one."""

    def test_same_effective_configuration(self, tmp_path: Path) -> None:
        cfg = load(write_home(tmp_path / "a"))
        saved = orjson.loads(orjson.dumps(bundle(cfg)))  # as the manifest carries it
        assert "s3cret" not in orjson.dumps(saved).decode()
        done = restore_bundle(saved, tmp_path / "b")
        assert done.secrets_left_out == ["forwarder.bearer_token"]
        again = load(tmp_path / "b")
        assert comparable(again) == comparable(cfg)
        assert again.worker.rules.startswith(str((tmp_path / "b" / "config").resolve()))
        assert again.forwarder.bearer_token == "" and cfg.forwarder.bearer_token == "s3cret"
        assert again.agent.scrape[0].labels == {"model": "llama-8b", "replica": "r-3"}

    def test_defaults_stay_defaults(self, tmp_path: Path) -> None:
        """Only keys that differ from their defaults are written."""
        home = tmp_path / "plain"
        done = restore_bundle(bundle(Config(home=tmp_path)), home)
        assert done.files == [] and done.secrets_left_out == []
        assert effective(load(home))["worker"] == effective(Config())["worker"]
        assert "[worker]" not in done.config_file.read_text()

    def test_existing_files_need_force(self, tmp_path: Path) -> None:
        cfg = load(write_home(tmp_path / "a"))
        restore_bundle(bundle(cfg), tmp_path / "b")
        with pytest.raises(ValueError, match="--force"):
            restore_bundle(bundle(cfg), tmp_path / "b")
        restore_bundle(bundle(cfg), tmp_path / "b", force=True)

    def test_not_a_saved_configuration(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="no configuration"):
            restore_bundle({}, tmp_path)


class TestThroughBackup:
    """`rackwatch backup` saves it in the manifest; `restore --config` puts it back."""

    def test_backup_and_restore_config(self, fresh_cfg: Config, tmp_path: Path) -> None:
        mine = load(write_home(tmp_path / "site"))
        cfg = dataclasses.replace(mine, clickhouse=fresh_cfg.clickhouse, sink=fresh_cfg.sink)
        dest = tmp_path / "bk"
        backup(cfg, str(dest))
        manifest = orjson.loads((dest / MANIFEST).read_bytes())
        assert manifest["configuration"]["files"]["routing.file"]["text"] == ROUTES
        new_home = tmp_path / "new"
        restore_config(Config(home=new_home), str(dest))
        again = load(new_home)
        want, got = comparable(cfg), comparable(again)
        assert got.pop("clickhouse")["database"] == want.pop("clickhouse")["database"]
        assert got == want

    def test_the_command_puts_it_back(self, fresh_cfg: Config, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
        """`rackwatch restore DEST --config-only` into an empty home, then again only
        with --force."""
        from rackwatch.cli import main

        mine = load(write_home(tmp_path / "site"))
        dest = tmp_path / "bk"
        backup(dataclasses.replace(mine, clickhouse=fresh_cfg.clickhouse, sink=fresh_cfg.sink),
               str(dest))
        new_home = tmp_path / "new"
        monkeypatch.setenv("RACKWATCH_HOME", str(new_home))
        monkeypatch.delenv("RACKWATCH_CONFIG", raising=False)
        assert main(["restore", str(dest), "--config-only"]) == 0
        out = capsys.readouterr()
        assert "restored the configuration" in out.out
        assert "forwarder.bearer_token" in out.err
        assert load(new_home).routing.file.endswith("routes.yaml")
        assert main(["restore", str(dest), "--config-only"]) == 1
        assert main(["restore", str(dest), "--config-only", "--force"]) == 0

    def test_unreadable_rule_file_stops_the_backup(self, fresh_cfg: Config,
                                                   tmp_path: Path) -> None:
        cfg = dataclasses.replace(fresh_cfg, routing=dataclasses.replace(
            fresh_cfg.routing, file=str(tmp_path / "gone.yaml")))
        with pytest.raises(BackupError, match=r"gone\.yaml"):
            backup(cfg, str(tmp_path / "bk"))
