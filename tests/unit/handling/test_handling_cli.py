"""`rackwatch ack | silence | resolve | reopen | assign`: named, checked, written."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rackwatch.cli import main
from streams.handling.actions import decode_action

FP = "0123456789abcdef"


def written(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RACKWATCH_HOME", str(tmp_path))
    monkeypatch.delenv("RACKWATCH_CONFIG", raising=False)
    return tmp_path


class TestIdentity:
    """No anonymous actions: --by, else [identity] user, else refused."""

    def test_refused_without_a_name(self, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
        out = tmp_path / "a.jsonl"
        assert main(["ack", FP, "-o", str(out)]) == 2
        assert "never anonymous" in capsys.readouterr().err
        assert not out.exists()

    def test_by_wins_over_the_configured_user(self, tmp_path: Path) -> None:
        out = tmp_path / "a.jsonl"
        assert main(["--set", "identity.user=carol", "ack", FP, "-o", str(out)]) == 0
        assert main(["--set", "identity.user=carol", "ack", FP, "--by", "alice", "--note",
                     "looking", "-o", str(out)]) == 0
        first, second = written(out)
        assert (first["by"], second["by"], second["note"]) == ("carol", "alice", "looking")


class TestCommands:
    """Each command writes the action it names, valid for the worker's book."""

    def test_each_command(self, tmp_path: Path) -> None:
        out = tmp_path / "a.jsonl"
        base = ["--by", "alice", "--at", "2026-12-04T10:00:00Z", "-o", str(out)]
        assert main(["resolve", FP, "--note", "replaced the PSU", *base]) == 0
        assert main(["reopen", FP, *base]) == 0
        assert main(["assign", FP, "--to", "gpu-oncall", "--priority", "P1", *base]) == 0
        assert main(["silence", 'rack="r07"', 'alertname=~"Gpu.*"', "--until", "2h",
                     *base]) == 0
        got = written(out)
        assert [a["action"] for a in got] == ["resolved", "reopened", "assigned", "silenced"]
        assert got[2]["assignee"] == "gpu-oncall" and got[2]["priority"] == "P1"
        assert got[3]["fingerprint"] is None
        assert got[3]["until"] == "2026-12-04T12:00:00.000Z"
        assert got[3]["matchers"] == ['rack="r07"', 'alertname=~"Gpu.*"']
        for a in got:
            decode_action(orjson.dumps(a))

    @pytest.mark.parametrize(("argv", "why"), [
        (["resolve", FP], "needs --note"),
        (["ack", "not-a-fingerprint"], "16 hex digits"),
        (["silence", "rack", "--until", "2h"], "expected =, !="),
        (["silence", 'rack="r1"', "--until", "soon"], "expected a time"),
        (["assign", FP, "--to", "x", "--priority", "P7"], "--priority"),
    ])
    def test_bad_arguments_exit_2(self, argv: list[str], why: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
        assert main([*argv, "--by", "alice", "-o", str(tmp_path / "a.jsonl")]) == 2
        assert why in capsys.readouterr().err


class TestTerminalLines:
    """What `rackwatch alerts` and the demo print about owners and actions."""

    def test_alert_line_names_its_owner(self) -> None:
        from rackwatch.follow import format_alert

        a = {"status": "firing", "severity": "warning", "rule": "ServingLatencyHigh",
             "host": "h", "updated_at": "2026-12-04T10:00:00.000Z", "assignee": "ml-serving",
             "priority": "P2", "silenced_until": "2026-12-04T11:00:00.000Z"}
        line = format_alert(orjson.dumps(a))
        assert "-> ml-serving P2" in line and "[silenced]" in line
        del a["assignee"], a["silenced_until"]
        assert "->" not in format_alert(orjson.dumps(a))

    def test_action_lines(self) -> None:
        from rackwatch.follow import format_action
        from streams.handling.actions import make_action

        assigned = make_action("assigned", FP, "rackwatch", 1_790_000_000_000, "",
                               assignee="ml-serving", priority="P2", rule="ServingLatencyHigh",
                               host="r02-gpu10", labels={"model": "llama", "rack": "r02"})
        assert "ASSIGNED ServingLatencyHigh on r02-gpu10 (model llama, rack r02) to " \
               "ml-serving, P2" in format_action(assigned)
        ack = make_action("acknowledged", FP, "alice", 1_790_000_000_000, "on it")
        assert f"ACKNOWLEDGED {FP} by alice  on it" in format_action(ack)
