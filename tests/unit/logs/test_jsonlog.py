"""JSON application logs in the dialects real loggers write."""

from __future__ import annotations

import calendar

import orjson
import pytest

from streams.logs import parse_line

T = calendar.timegm((2024, 6, 10, 12, 34, 56, 0, 0, 0)) * 1000


def line(obj: object) -> str:
    return orjson.dumps(obj).decode()


class TestDialects:
    def test_structlog(self) -> None:
        """structlog: 'event' is the message, ISO 'timestamp', 'level'."""
        p = parse_line(line({"event": "checkpoint saved", "level": "info",
                             "timestamp": "2024-06-10T12:34:56Z", "step": 100}))
        assert (p.format, p.message, p.severity, p.ts) == ("json", "checkpoint saved", "info", T)
        assert p.extra == {"step": "100"}

    def test_pino(self) -> None:
        """pino: numeric level 50 is error, 'time' in epoch ms, hostname and pid."""
        p = parse_line(line({"level": 50, "time": T, "pid": 42, "hostname": "n1",
                             "msg": "request failed"}))
        assert (p.severity, p.ts, p.pid, p.host, p.message) == ("error", T, 42, "n1",
                                                                "request failed")

    def test_python_json_logger(self) -> None:
        """python-json-logger: 'levelname', 'name' as the program, 'message'."""
        p = parse_line(line({"asctime": "2024-06-10 12:34:56,000", "name": "trainer",
                             "levelname": "WARNING", "message": "loss is nan"}))
        assert (p.severity, p.program, p.message, p.ts) == ("warning", "trainer", "loss is nan",
                                                            T)

    def test_ecs_nested(self) -> None:
        """Elastic Common Schema: nested 'log.level' and 'host.name'."""
        p = parse_line(line({"@timestamp": "2024-06-10T12:34:56.000Z", "log": {"level": "error"},
                             "host": {"name": "gpu07"}, "message": "NCCL error"}))
        assert (p.severity, p.host, p.message, p.ts) == ("error", "gpu07", "NCCL error", T)

    def test_journald(self) -> None:
        """journalctl -o json: PRIORITY string, identifiers, microsecond realtime."""
        p = parse_line(line({"MESSAGE": "Started Session 5 of user root.", "PRIORITY": "6",
                             "_HOSTNAME": "n2", "SYSLOG_IDENTIFIER": "systemd", "_PID": "1",
                             "__REALTIME_TIMESTAMP": str(T * 1000 + 123)}))
        assert (p.message, p.severity, p.host, p.program, p.pid, p.ts) == (
            "Started Session 5 of user root.", "info", "n2", "systemd", 1, T)

    def test_docker_json_file(self) -> None:
        """Docker json-file: 'log' with its trailing newline removed, 'stream' kept."""
        p = parse_line(line({"log": "Traceback (most recent call last):\n", "stream": "stderr",
                             "time": "2024-06-10T12:34:56.123456789Z"}))
        assert (p.message, p.ts, p.extra["stream"]) == ("Traceback (most recent call last):",
                                                         T + 123, "stderr")

    @pytest.mark.parametrize(("value", "expected"), [
        (T / 1000, T), (T, T), (T * 1000, T), (T * 1_000_000, T), (str(T), T),
    ])
    def test_epoch_units_by_magnitude(self, value: object, expected: int) -> None:
        """Epoch seconds, ms, µs and ns are told apart by their size."""
        assert parse_line(line({"msg": "x", "ts": value})).ts == expected

    def test_json_body_under_syslog_header(self) -> None:
        """A JSON body after a syslog tag: the app's level wins over the (absent) PRI."""
        p = parse_line('Jun 10 12:34:56 n1 trainer[77]: {"level":"warn","message":"slow step",'
                       '"step":12}', reference_ms=T)
        assert (p.format, p.host, p.program, p.pid) == ("rfc3164", "n1", "trainer", 77)
        assert (p.message, p.severity, p.extra["step"]) == ("slow step", "warning", "12")
        assert p.ts == T


class TestNotJson:
    @pytest.mark.parametrize("text", ["{not json", "[1, 2, 3]", '{"a": 1', "{}x"])
    def test_kept_as_plain(self, text: str) -> None:
        """Broken or non-object JSON is kept whole as a plain message."""
        p = parse_line(text)
        assert (p.format, p.message) == ("plain", text)

    def test_object_without_message(self) -> None:
        """A JSON object with no message key still parses; the message is empty."""
        p = parse_line('{"level":"error","code":7}')
        assert (p.format, p.message, p.severity, p.extra["code"]) == ("json", "", "error", "7")
