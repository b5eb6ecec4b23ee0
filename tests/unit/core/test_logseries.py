"""A host's logs as metric series (lines, errors, new templates per second) on its batches."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.hoststate import HostState
from streams.core.logseries import LOG_SERIES, count_line, log_samples, reset_counts
from streams.replay import replay_lines
from streams.rules import parse_rules
from streams.runtime import Runtime

T0 = 1_700_000_040_000
MIN = 60_000

RULES = parse_rules("""
groups:
  - name: svc
    rules:
      - alert: ErrorLogs
        kind: threshold
        metric: log.errors_per_s
        above: 0.5
        labels: {severity: warning, signal: errors}
""")


def metrics(host: str, i: int) -> bytes:
    return orjson.dumps({"schema": "rackwatch.metrics/v1", "host": host, "ts": T0 + i * MIN,
                         "seq": i + 1, "labels": {}, "interval_ms": MIN,
                         "samples": [{"name": "cpu.usage", "value": 0.2}]})


def log(host: str, ts: int, seq: int, message: str) -> bytes:
    return orjson.dumps({"schema": "rackwatch.logs/v1", "host": host, "ts": ts, "seq": seq,
                         "message": message, "source": "app"})


def stream(errors_in_minute: dict[int, int], minutes: int = 8) -> list[bytes]:
    """A batch a minute; two INFO lines a minute, and ERROR lines in the given minutes."""
    out: list[bytes] = []
    seq = 0
    for i in range(minutes):
        out.append(metrics("svc", i))
        lines = ["INFO request served in 12 ms"] * 2 + \
            ["ERROR java.lang.IllegalStateException: cart is empty"] * errors_in_minute.get(i, 0)
        for k, text in enumerate(lines):
            seq += 1
            out.append(log("svc", T0 + i * MIN + 1_000 + k, seq, text))
    return out


def rows(out: list[bytes], name: str) -> list[float]:
    return [r["value"] for r in map(orjson.loads, out)
            if r.get("schema") == "rackwatch.metric_row/v1" and r["name"] == name]


class TestCounting:
    """Counts between batches become per-second rates on the next batch."""

    def test_rates_of_the_interval(self) -> None:
        """Six lines, two of them errors, one new template, over a minute."""
        st = HostState(event_ms=T0)
        for sev, new in (("info", True), ("error", False), ("critical", False),
                         ("info", False), ("debug", False), ("warning", False)):
            count_line(st, sev, new)
        got = {s["name"]: s["value"] for s in log_samples(st, T0 + MIN)}
        assert got == {"log.lines_per_s": 0.1, "log.errors_per_s": 2 / 60,
                       "log.new_templates_per_s": 1 / 60}
        reset_counts(st)
        assert [s["value"] for s in log_samples(st, T0 + 2 * MIN)] == [0.0, 0.0, 0.0]

    def test_nothing_before_logs_or_without_an_interval(self) -> None:
        """A host that never logged, or with no earlier batch, gets no log samples."""
        assert log_samples(HostState(event_ms=T0), T0 + MIN) == []
        st = HostState()
        count_line(st, "error", False)
        assert log_samples(st, T0) == []
        st.event_ms = T0
        assert log_samples(st, T0) == []  # a batch no later than the last one

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(["info", "error", "alert", "debug", "nonsense"]),
                              st.booleans()), max_size=40),
           st.integers(1, 600))
    def test_rates_times_interval_are_the_counts(
            self, lines: list[tuple[str, bool]], seconds: int) -> None:
        """rate x interval gives back each count; errors never exceed lines."""
        state = HostState(event_ms=T0)
        for sev, new in lines:
            count_line(state, sev, new)
        samples = log_samples(state, T0 + seconds * 1000) if lines else []
        if not lines:
            assert state.log_counts is None
            return
        n = [round(s["value"] * seconds) for s in samples]
        assert n[0] == len(lines)
        assert n[1] <= n[0] and n[2] == sum(1 for _, new in lines if new)


class TestThroughTheRuntime:
    """In replay (and so in the worker), as series of the host's metric batches."""

    def test_series_ride_on_batches_and_rules_judge_them(self) -> None:
        """An error burst in minute 4 shows in the next batch's rate and fires the rule;
        the series are judged, not stored (the metrics table holds what was sent)."""
        out = list(replay_lines(stream({4: 60}), RULES, emit={"alerts", "metrics"}))
        assert not any(rows(out, name) for name in LOG_SERIES)
        assert rows(out, "cpu.usage")  # the host's own samples are stored as ever
        firing = [a for a in map(orjson.loads, out)
                  if a.get("schema") == "rackwatch.alert/v1" and a["status"] == "firing"]
        assert [a["rule"] for a in firing] == ["ErrorLogs"]
        assert firing[0]["labels"]["signal"] == "errors"
        # the batch of minute 5 carries minute 4's 60 lines: 1 line/s
        assert firing[0]["value"] == 1.0
        assert firing[0]["starts_at"] == "2023-11-14T22:19:00.000Z"  # T0 + 5 min

    def test_hosts_that_never_log_get_no_log_series(self) -> None:
        """Metrics alone: no log.* rows."""
        out = list(replay_lines([metrics("quiet", i) for i in range(4)], RULES,
                                emit={"metrics"}))
        assert not any(rows(out, name) for name in LOG_SERIES)

    def test_replayed_twice_the_same(self) -> None:
        """Deterministic, as the worker and replay must be."""
        lines = stream({2: 5, 5: 30})
        first: list[Any] = list(replay_lines(lines, RULES, emit={"alerts", "metrics"}))
        assert first == list(replay_lines(lines, RULES, emit={"alerts", "metrics"}))


class TestFormats:
    """Errors are counted from the record's severity, whatever the log's format."""

    LINES = {
        "log4j": ("2023-11-15 10:00:00,123 ERROR [main] c.e.Payment - charge failed",
                  "2023-11-15 10:00:00,124 INFO  [main] c.e.Payment - charged"),
        "python": ("2023-11-15 10:00:00,123 - payment - ERROR - charge failed",
                   "2023-11-15 10:00:00,124 - payment - INFO - charged"),
        "go": ('time="2023-11-15T10:00:00Z" level=error msg="charge failed"',
               'time="2023-11-15T10:00:00Z" level=info msg="charged"'),
        "json": ('{"ts":"2023-11-15T10:00:00Z","level":"error","msg":"charge failed"}',
                 '{"ts":"2023-11-15T10:00:00Z","level":"info","msg":"charged"}'),
    }

    def test_one_error_one_not(self) -> None:
        """An error line and an info line of each format: one error counted per format."""
        for fmt, (error, info) in self.LINES.items():
            rt = Runtime(parse_rules("groups: []"), check_wall_clock=False)
            st: dict[str, HostState] = {}
            for i, text in enumerate((error, info)):
                out = rt.on_log(log("svc", T0 + i, i + 1, text), st.get, wall_ms=0)
                assert out.state is not None
                st["svc"] = out.state
            assert st["svc"].log_counts is not None
            assert st["svc"].log_counts[:2] == [2, 1], fmt
