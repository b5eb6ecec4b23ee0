"""Errors a person can act on: each command's message, its exit status, no traceback."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from common.broker import fetch_jars
from common.config import BrokerConfig
from rackwatch.cli import main
from rackwatch.errors import EXIT_CONFIG, EXIT_FAILURE, explain

RULES_BAD = "groups:\n  - name: g\n    rules:\n      - alert: X\n        kind: threshold\n"


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home, no broker at the address the commands are given."""
    home = tmp_path / "home"
    monkeypatch.setenv("RACKWATCH_HOME", str(home))
    monkeypatch.setenv("RACKWATCH_KAFKA_BOOTSTRAP", f"127.0.0.1:{closed_port()}")
    monkeypatch.delenv("RACKWATCH_CONFIG", raising=False)
    monkeypatch.delenv("RACKWATCH_CLICKHOUSE_DSN", raising=False)
    monkeypatch.chdir(tmp_path)
    return home


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


class TestKafkaUnreachable:
    """A missing broker names the address and says what to do."""

    @pytest.mark.parametrize("argv", [["alerts"], ["sink"],
                                      ["forward", "--webhook", "http://127.0.0.1:1/x"]])
    def test_message_names_the_address(self, env: Path, capsys: pytest.CaptureFixture[str],
                                       argv: list[str]) -> None:
        """The address tried, and RACKWATCH_KAFKA_BOOTSTRAP to point elsewhere."""
        status, err = run(capsys, *argv)
        assert status == EXIT_FAILURE
        assert os.environ["RACKWATCH_KAFKA_BOOTSTRAP"] in err
        assert "no broker answered" in err and "RACKWATCH_KAFKA_BOOTSTRAP" in err

    def test_local_broker_suggests_starting_it(self, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
        """Without a configured cluster the hint is `rackwatch broker start`."""
        monkeypatch.setenv("RACKWATCH_HOME", str(tmp_path))
        monkeypatch.delenv("RACKWATCH_KAFKA_BOOTSTRAP", raising=False)
        (tmp_path / "rackwatch.toml").write_text(f"[broker]\nport = {closed_port()}\n")
        status, err = run(capsys, "alerts")
        assert status == EXIT_FAILURE and "rackwatch broker start" in err


class TestUserMistakes:
    """Wrong inputs: exit 2 and the path or the file's problems."""

    def test_missing_replay_input(self, env: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The path that is not there, named."""
        status, err = run(capsys, "replay", "no-such-events.jsonl")
        assert status == EXIT_CONFIG
        assert "cannot open no-such-events.jsonl: No such file or directory" in err

    @pytest.mark.parametrize("command", ["replay", "worker"])
    def test_bad_rules_file_lists_its_problems(self, env: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               command: str) -> None:
        """worker and replay print the same FILE:LINE problems as `rules check`."""
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULES_BAD)
        events = tmp_path / "e.jsonl"
        events.write_text("")
        argv = ["replay", "--rules", str(rules), str(events)] if command == "replay" else [
            "worker", "--rules", str(rules)]
        status, err = run(capsys, *argv)
        assert status == EXIT_CONFIG
        check_status, check_err = run(capsys, "rules", "check", str(rules))
        problems = [line for line in check_err.splitlines() if line.startswith(str(rules) + ":")
                    and "INVALID" not in line]
        assert check_status == 1 and problems
        for line in problems:
            assert line in err

    def test_forward_without_targets(self, env: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
        """No target configured or given: a configuration error saying how to give one."""
        status, err = run(capsys, "forward")
        assert status == EXIT_CONFIG and "--alertmanager URL" in err

    def test_config_problem_exits_2(self, env: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """A DSN typo stops every command before it starts, naming the value."""
        monkeypatch.setenv("RACKWATCH_CLICKHOUSE_DSN", "htp://ch:8123")
        status = main(["query", "SELECT 1"])
        err = capsys.readouterr().err
        assert status == EXIT_CONFIG and "unknown scheme 'htp'" in err

    def test_verbose_keeps_the_traceback(self, env: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
        """-v: the same message, and the traceback for developers."""
        assert main(["-v", "replay", "missing.jsonl"]) == EXIT_CONFIG
        err = capsys.readouterr().err
        assert "Traceback" in err and "cannot open missing.jsonl" in err


class TestStoreUnreachable:
    """An unreachable store names its DSN, masked."""

    def test_query_names_the_masked_dsn(self, env: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
        """The DSN with *** for the password, and what to check."""
        port = closed_port()
        monkeypatch.setenv("RACKWATCH_CLICKHOUSE_DSN", f"http://ops:Pw-x77@127.0.0.1:{port}")
        status, err = run(capsys, "query", "SELECT 1")
        assert status == EXIT_FAILURE
        assert f"http://ops:***@127.0.0.1:{port}" in err and "Connection refused" in err
        assert "Pw-x77" not in err


class TestExplain:
    """Which exceptions are a person's to act on."""

    def test_a_bug_is_not_explained(self) -> None:
        """An unknown exception keeps its traceback (explain says None)."""
        assert explain(KeyError("x")) is None

    def test_the_cause_is_found(self) -> None:
        """A known error raised from inside another is still explained."""
        from aiokafka.errors import KafkaConnectionError

        try:
            try:
                raise KafkaConnectionError("boom")
            except KafkaConnectionError as e:
                raise RuntimeError("wrapped") from e
        except RuntimeError as outer:
            found = explain(outer)
        assert found is not None and found[1] == EXIT_FAILURE


class TestJarProgress:
    """The first run's download says what it is doing."""

    def test_each_jar_is_reported(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Maven's 'Downloaded' lines become one progress line per jar."""
        fake = tmp_path / "bin" / "mvn"
        fake.parent.mkdir()
        fake.write_text("""#!/bin/sh
for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; esac; done
echo "Downloading from central: https://repo/org/apache/kafka/kafka_2.13-9.9.9.pom"
echo "Downloaded from central: https://r/org/kafka/kafka_2.13-9.9.9.jar (6.3 MB at 5 MB/s)"
echo "Downloaded from central: https://repo/org/slf4j/slf4j-api-1.7.36.jar (41 kB at 1 MB/s)"
mkdir -p "$out" && touch "$out/kafka_2.13-9.9.9.jar" "$out/slf4j-api-1.7.36.jar"
""")
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
        monkeypatch.setenv("RACKWATCH_KAFKA_CACHE", str(tmp_path / "cache"))
        lines: list[str] = []
        lib = fetch_jars(BrokerConfig(version="9.9.9"), lines.append)
        assert (lib / "kafka_2.13-9.9.9.jar").is_file()
        assert lines[0].startswith("fetching Apache Kafka 9.9.9 with Maven")
        assert lines[1:3] == ["  [ 1] kafka_2.13-9.9.9.jar (6.3 MB)",
                              "  [ 2] slf4j-api-1.7.36.jar (41 kB)"]
        assert lines[3].startswith("fetched 2 jars")
        lines.clear()
        fetch_jars(BrokerConfig(version="9.9.9"), lines.append)
        assert lines == []  # cached: nothing to say
