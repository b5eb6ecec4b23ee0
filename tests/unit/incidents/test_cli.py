"""`rackwatch train` on a small simulated run written to files."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from common.config import Config
from rackwatch.commands.incidents import register
from streams.incidents import FaultModel

sim = pytest.importorskip("producers.simulator.fleet")
options = pytest.importorskip("producers.simulator.options")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="command"))
    return p.parse_args(["train", *argv])


def write_run(tmp: Path, seed: int) -> tuple[Path, Path]:
    """A small fleet with two precursor-rich faults, as `simulate -o/--manifest` writes."""
    opts = options.SimOptions(hosts=6, interval_s=30.0, seed=seed, duration_s=40 * 60,
                              faults="gpu_xid_74(lead=5m)@12m:12m\nmemory_leak@14m:12m",
                              background_logs=False)
    fleet = sim.Fleet(opts)
    events = tmp / f"run{seed}.jsonl"
    manifest = tmp / f"run{seed}.manifest.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in fleet.events()))
    manifest.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in fleet.manifest()))
    return events, manifest


class TestTrainCommand:
    """`rackwatch train`: from a simulator run or the store to a model file."""

    def test_train_and_report_on_a_held_out_run(self, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
        """The command writes a loadable model and reports precision/recall on another run."""
        ev1, man1 = write_run(tmp_path, 1)
        ev2, man2 = write_run(tmp_path, 2)
        out = tmp_path / "model.json"
        args = parse(["--events", str(ev1), "--manifest", str(man1), "--eval-events",
                      str(ev2), "--eval-manifest", str(man2), "-o", str(out)])
        assert args.func(args, Config()) == 0
        model = FaultModel.load(out)
        assert model.meta["trained_on"]["source"] == "simulator"
        held = model.meta["held_out"]
        assert held["positives"] > 0
        assert 0.0 <= held["precision"] <= 1.0
        assert held["fault_level"]["faults"] == 2
        printed = orjson.loads(capsys.readouterr().out)
        assert printed["held_out"]["recall"] == held["recall"]

    @pytest.mark.parametrize("argv", [
        [], ["--events", "x.jsonl"], ["--from-clickhouse", "--events", "x", "--manifest", "y"],
        ["--events", "x", "--manifest", "y", "--eval-events", "z"],
    ])
    def test_argument_mistakes(self, argv: list[str], capsys: pytest.CaptureFixture[str]
                               ) -> None:
        """Sources that do not go together are refused with exit status 2."""
        args = parse(argv)
        assert args.func(args, Config()) == 2
        assert "train:" in capsys.readouterr().err

    def test_missing_file_is_an_input_error(self, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
        """A missing input is a usage error (exit status 2) that names the path."""
        args = parse(["--events", str(tmp_path / "none"), "--manifest",
                      str(tmp_path / "none2"), "-o", str(tmp_path / "m.json")])
        assert args.func(args, Config()) == 2
        assert f"cannot read {tmp_path / 'none2'}: No such file" in capsys.readouterr().err

    def test_run_without_faults_is_a_training_error(self, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
        """A run with no fault has nothing to learn from: exit 1, and why."""
        events = tmp_path / "e.jsonl"
        manifest = tmp_path / "m.jsonl"
        events.write_bytes(b"")
        manifest.write_bytes(b"")
        args = parse(["--events", str(events), "--manifest", str(manifest), "-o",
                      str(tmp_path / "m.json")])
        assert args.func(args, Config()) == 1
        assert "training error" in capsys.readouterr().err

    @pytest.mark.parametrize(("text", "ms"), [("90s", 90_000), ("10m", 600_000),
                                              ("7d", 604_800_000), ("1500ms", 1500),
                                              ("30", 30_000)])
    def test_durations(self, text: str, ms: int) -> None:
        """Durations take the usual units; a bare number is seconds."""
        assert parse(["--horizon", text]).horizon == ms
