"""`rackwatch rules routes`, and the routing tree checked by `rules check` and `config check`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from common.config import Config, RoutingConfig
from rackwatch.cli import main
from rackwatch.commands.rules import register

TREE = ("route:\n  assignee: ops\n  routes:\n    - match: {rack: r07}\n"
        "      assignee: hall-b\n      priority: P2\n")
BAD = "route:\n  assignee: ops\n  routes:\n    - match: {rack: 7}\n      priority: P0\n"


def run(argv: list[str], cfg: Config | None = None) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    status: int = args.func(args, cfg or Config())
    return status


class TestRoutesCommand:
    """Validate, print and test a tree from the command line."""

    def test_test_labels_name_the_owner(self, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
        f = tmp_path / "routes.yaml"
        f.write_text(TREE)
        assert run(["rules", "routes", str(f), "--test", 'rack="r07",severity=critical']) == 0
        assert "hall-b P2 (route root/0" in capsys.readouterr().out
        assert run(["rules", "routes", str(f), "--test", "rack=r08"]) == 0
        assert "ops P3 (route root" in capsys.readouterr().out

    def test_bad_tree_exits_1_with_every_problem(self, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
        f = tmp_path / "routes.yaml"
        f.write_text(BAD)
        assert run(["rules", "routes", str(f)]) == 1
        err = capsys.readouterr().err
        assert f"{f}:4: root/0: match.rack" in err and f"{f}:5: root/0: priority" in err

    def test_rules_check_covers_the_configured_tree(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        f = tmp_path / "routes.yaml"
        f.write_text(BAD)
        cfg = Config(routing=RoutingConfig(file=str(f)))
        assert run(["rules", "check"], cfg) == 1
        f.write_text(TREE)
        assert run(["rules", "check"], cfg) == 0
        assert f"{f}: OK: routing tree of 2 route(s)" in capsys.readouterr().out


class TestConfigCheck:
    """A configuration naming a bad (or missing) tree does not pass `config check`."""

    def test_bad_tree_exits_2(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RACKWATCH_HOME", str(tmp_path))
        f = tmp_path / "routes.yaml"
        f.write_text(BAD)
        assert main(["--set", f"routing.file={f}", "config", "check"]) == 2
        assert "match.rack" in capsys.readouterr().err
        f.write_text(TREE)
        assert main(["--set", f"routing.file={f}", "config", "check"]) == 0
        assert main(["--set", f"routing.file={tmp_path / 'nope.yaml'}", "config",
                     "check"]) == 2
        assert "[routing].file: no such file" in capsys.readouterr().err
