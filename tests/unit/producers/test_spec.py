"""The fault spec syntax, scenario files and all-at-once error reporting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.simulator.spec import (
    KINDS,
    SCENARIOS,
    FaultSpecError,
    parse_duration_ms,
    parse_faults,
)


class TestDurations:
    @pytest.mark.parametrize(("text", "ms"), [("90", 90_000), ("90s", 90_000), ("1500ms", 1500),
                                              ("5m", 300_000), ("1h", 3_600_000),
                                              ("2.5s", 2500)])
    def test_units(self, text: str, ms: int) -> None:
        """Bare numbers are seconds; ms, s, m, h are understood."""
        assert parse_duration_ms(text) == ms

    @pytest.mark.parametrize("bad", ["", "5x", "-3s", "m", "1d"])
    def test_rejects(self, bad: str) -> None:
        """Anything else is an error, never a silent zero."""
        with pytest.raises(ValueError, match="duration"):
            parse_duration_ms(bad)

    @given(st.integers(0, 10**6), st.sampled_from(["ms", "s", "m", "h"]))
    def test_scaling(self, n: int, unit: str) -> None:
        """N<unit> is N times the unit."""
        scale = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[unit]
        assert parse_duration_ms(f"{n}{unit}") == n * scale


class TestSyntax:
    def test_compact_form(self) -> None:
        """KIND@START:DURATION, comma separated (the demo's form)."""
        specs = parse_faults("cpu_saturation@20s:60s,gpu_xid_79@30s,host_silent@40s:40s")
        assert [(s.kind, s.at_ms, s.for_ms) for s in specs] == [
            ("cpu_saturation", 20_000, 60_000), ("gpu_xid_79", 30_000, KINDS["gpu_xid_79"][0]),
            ("host_silent", 40_000, 40_000)]

    def test_parameters(self) -> None:
        """Parameters go in parentheses; commas inside them do not split faults."""
        (s,) = parse_faults("gpu_xid_48(host=r01-gpu03, gpu=2)@1m:5m")
        assert s.params == {"host": "r01-gpu03", "gpu": "2"}

    def test_at_and_for_inside_parentheses(self) -> None:
        """at= and for= are the long form of @START:DURATION."""
        (s,) = parse_faults("slow_disk(at=2m, for=90s, device=nvme1n1)")
        assert (s.at_ms, s.for_ms, s.params) == (120_000, 90_000, {"device": "nvme1n1"})

    def test_newlines_semicolons_and_comments(self) -> None:
        """Separators may be newlines or semicolons; # starts a comment."""
        specs = parse_faults("cpu_saturation@1m  # busy\nrack_power@2m:1m; host_silent@3m")
        assert [s.kind for s in specs] == ["cpu_saturation", "rack_power", "host_silent"]

    def test_nccl_default_duration_outlasts_the_timeout(self) -> None:
        """nccl_timeout runs until two minutes after its timeout by default."""
        (s,) = parse_faults("nccl_timeout(timeout=90s)@1m")
        assert s.for_ms == 90_000 + 120_000

    def test_long_one_line_spec_is_not_mistaken_for_a_path(self) -> None:
        """A spec longer than any file name still parses as a spec."""
        assert len(parse_faults(", ".join(["cpu_saturation@20s:60s"] * 40))) == 40

    def test_scenarios_parse(self) -> None:
        """Every built-in scenario is valid."""
        for name in SCENARIOS:
            parse_faults(name)

    def test_all_errors_at_once(self) -> None:
        """Unknown kinds, keys and bad values are reported together, each named."""
        with pytest.raises(FaultSpecError) as err:
            parse_faults("nope@1m, gpu_xid_79(hots=x)@1m, slow_disk@5q, "
                         "gpu_xid_48(gpu=two), nccl_timeout(timeout=5m)@1m:2m")
        problems = err.value.problems
        assert len(problems) == 5
        assert "unknown kind 'nope'" in problems[0]
        assert "unknown key 'hots'" in problems[1]
        assert "not a duration" in problems[2]
        assert "gpu must be a number" in problems[3]
        assert "longer than timeout" in problems[4]


class TestFiles:
    def test_json_list(self, tmp_path: Path) -> None:
        """A JSON file holds a list of fault objects with the same keys."""
        path = tmp_path / "faults.json"
        path.write_text(json.dumps([{"kind": "gpu_xid_79", "host": "r00-gpu01", "at": "30s",
                                     "for": "5m"}, {"kind": "rack_power", "at": 120}]))
        specs = parse_faults(str(path))
        assert [(s.kind, s.at_ms, s.for_ms) for s in specs] == [
            ("gpu_xid_79", 30_000, 300_000), ("rack_power", 120_000, KINDS["rack_power"][0])]
        assert specs[0].params == {"host": "r00-gpu01"}

    def test_yaml(self, tmp_path: Path) -> None:
        """A YAML file works the same, optionally under a `faults:` key."""
        path = tmp_path / "faults.yaml"
        path.write_text("faults:\n  - kind: memory_leak\n    at: 2m\n    process: trainer\n")
        (s,) = parse_faults(str(path))
        assert (s.kind, s.at_ms, s.params) == ("memory_leak", 120_000, {"process": "trainer"})

    def test_text_file(self, tmp_path: Path) -> None:
        """Any other file is spec text, one fault per line."""
        path = tmp_path / "faults.txt"
        path.write_text("# scenario\ncpu_saturation@1m\nhost_silent@2m:30s\n")
        assert [s.kind for s in parse_faults(str(path))] == ["cpu_saturation", "host_silent"]
