"""The agent and simulate subcommands: flags, all-at-once errors, files written."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from common.config import Config
from rackwatch.commands.producers import register


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="command"))
    return p.parse_args(argv)


def call(tmp_path: Path, *argv: str) -> int:
    args = parse(*argv)
    rc: int = args.func(args, Config(home=tmp_path))
    return rc


class TestAgentCommand:
    def test_flags(self) -> None:
        """Repeatable --label and --log, and the switches, parse as documented."""
        a = parse("agent", "--interval", "2", "--label", "rack=r1", "--label", "role=x",
                  "--log", "/var/log/*.log", "--kmsg", "--no-gpu", "--duration", "5", "--once")
        assert (a.interval, a.label, a.log, a.kmsg, a.no_gpu, a.duration, a.once) == (
            2.0, ["rack=r1", "role=x"], ["/var/log/*.log"], True, True, 5.0, True)

    def test_once_prints_a_batch(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--once prints one metric batch as JSON with the given labels."""
        assert call(tmp_path, "agent", "--once", "--no-gpu", "--interval", "0.2",
                    "--label", "rack=r7", "--host", "h1") == 0
        batch = orjson.loads(capsys.readouterr().out)
        assert (batch["schema"], batch["host"], batch["labels"]) == (
            "rackwatch.metrics/v1", "h1", {"rack": "r7"})

    def test_bad_flags_reported_together(self, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
        """Every bad value is listed before anything starts; exit code 2."""
        rc = call(tmp_path, "agent", "--interval", "0", "--label", "oops", "--duration", "-1")
        err = capsys.readouterr().err
        assert rc == 2
        assert "--label 'oops'" in err and "interval" in err and "--duration" in err


class TestSimulateCommand:
    def test_writes_events_and_manifest(self, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
        """--output and --manifest write JSON lines; metrics and logs interleave in time order."""
        out, man = tmp_path / "ev.jsonl", tmp_path / "m.jsonl"
        rc = call(tmp_path, "simulate", "--hosts", "20", "--interval", "5", "--batches", "30",
                  "--faults", "gpu_xid_79@30s:1m, host_silent@10s:30s", "--output", str(out),
                  "--manifest", str(man), "--seed", "4")
        assert rc == 0
        events = [orjson.loads(ln) for ln in out.read_bytes().splitlines()]
        assert {e["schema"] for e in events} == {"rackwatch.metrics/v1", "rackwatch.logs/v1"}
        assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
        kinds = [orjson.loads(ln)["kind"] for ln in man.read_bytes().splitlines()]
        assert kinds == ["host_silent", "gpu_xid_79"]
        assert "30 intervals" in capsys.readouterr().err

    def test_same_seed_same_file(self, tmp_path: Path) -> None:
        """Two fast runs with one seed write byte-identical files."""
        for name in ("a", "b"):
            assert call(tmp_path, "simulate", "--hosts", "10", "--batches", "20", "--faults",
                        "demo", "--output", str(tmp_path / f"{name}.jsonl")) == 0
        assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()

    def test_bad_options_and_faults_reported_together(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Option and fault-spec problems come out in one list; exit code 2."""
        rc = call(tmp_path, "simulate", "--hosts", "0", "--duration", "5", "--batches", "3",
                  "--faults", "bogus@1m")
        err = capsys.readouterr().err
        assert rc == 2
        assert "--hosts" in err and "exclusive" in err and "unknown kind 'bogus'" in err

    def test_unknown_target_reported(self, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
        """A fault aimed at a host that does not exist is a configuration error."""
        rc = call(tmp_path, "simulate", "--hosts", "5", "--faults", "host_silent(host=nope)")
        assert rc == 2 and "no host 'nope'" in capsys.readouterr().err
