"""`rackwatch rules check` and `rackwatch rules default`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from common.config import Config, WorkerConfig
from rackwatch.commands.rules import register
from streams.rules import parse_rules


def run(argv: list[str], cfg: Config | None = None) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    status: int = args.func(args, cfg or Config())
    return status


GOOD = "groups:\n  - name: g\n    rules:\n      - {alert: A, kind: absent, duration: 1m}\n"


class TestCheck:
    def test_valid_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A valid file exits 0 and says what it holds."""
        f = tmp_path / "ok.yaml"
        f.write_text(GOOD)
        assert run(["rules", "check", str(f)]) == 0
        assert f"{f}: OK: 1 group(s), 1 rule(s)" in capsys.readouterr().out

    def test_lists_every_problem_and_exits_1(self, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
        """An invalid file exits 1 and prints each problem as FILE:LINE."""
        good, bad = tmp_path / "ok.yaml", tmp_path / "bad.yaml"
        good.write_text(GOOD)
        bad.write_text(GOOD.replace("duration: 1m", "duration: 1m, colour: red, for: soon"))
        assert run(["rules", "check", str(bad), str(good)]) == 1
        captured = capsys.readouterr()
        err_lines = captured.err.splitlines()
        assert any(line.startswith(f"{bad}:4: ") and "unknown key 'colour'" in line
                   for line in err_lines)
        assert any(line.startswith(f"{bad}:4: ") and "for: expected a duration" in line
                   for line in err_lines)
        assert f"{bad}: INVALID: 2 problem(s)" in captured.err
        assert f"{good}: OK" in captured.out

    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An unreadable file is a problem, not a crash."""
        assert run(["rules", "check", str(tmp_path / "nope.yaml")]) == 1
        assert "cannot read" in capsys.readouterr().err

    def test_defaults_to_configured_rules(self, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
        """Without FILE it checks [worker].rules."""
        f = tmp_path / "configured.yaml"
        f.write_text(GOOD)
        assert run(["rules", "check"], Config(worker=WorkerConfig(rules=str(f)))) == 0
        assert str(f) in capsys.readouterr().out

    def test_defaults_to_shipped_rules(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without FILE or configuration it checks the shipped default rules."""
        assert run(["rules", "check"]) == 0
        assert "default_rules.yaml: OK" in capsys.readouterr().out


class TestDefault:
    def test_prints_the_shipped_rules(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`rules default` prints a file that parses to the default rule set."""
        assert run(["rules", "default"]) == 0
        assert len(parse_rules(capsys.readouterr().out)) >= 10


TYPO = ("groups:\n  - name: g\n    rules:\n      - {alert: FsFull, kind: threshold, "
        "metric: fs.usag, above: 0.9}\n      - {alert: Mine, kind: threshold, "
        "metric: app.queue_depth, above: 10}\n")


class TestUnknownMetrics:
    def test_warns_with_the_nearest_catalogued_names(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A metric no producer sends is a warning naming the nearest catalogued metric;
        a name far from any is a warning too, without a guess."""
        f = tmp_path / "typo.yaml"
        f.write_text(TYPO)
        assert run(["rules", "check", str(f)]) == 0
        err = capsys.readouterr().err
        assert f"warning: {f}:4: rule FsFull: metric 'fs.usag'" in err
        assert "did you mean fs.usage?" in err
        assert "metric 'app.queue_depth' is not in the metric catalogue (fine if" in err

    def test_strict_makes_them_errors(self, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
        """--strict: the same findings fail the check."""
        f = tmp_path / "typo.yaml"
        f.write_text(TYPO)
        assert run(["rules", "check", "--strict", str(f)]) == 1
        assert "INVALID (--strict): 2 unknown metric(s)" in capsys.readouterr().err

    def test_shipped_rules_name_only_catalogued_metrics(
            self, capsys: pytest.CaptureFixture[str]) -> None:
        """The default rule set passes --strict."""
        assert run(["rules", "check", "--strict"]) == 0
