"""The core benchmark runs and reports what `python -m benchmarks.run` reads."""

from __future__ import annotations

import orjson
import pytest

from benchmarks.core import main


class TestCoreBenchmark:
    def test_json_figures(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A tiny run prints the table and, last, one JSON line with every repeat."""
        assert main(["--hosts", "2", "--batches", "3", "--repeats", "2", "--json"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        figures = orjson.loads(lines[-1])
        assert len(figures["ratios"]) == len(figures["core_sps"]) == 2
        assert all(r > 0 for r in figures["ratios"])
        assert figures["samples"] > 0 and len(figures["state_bytes"]) == 2
        assert any(line.startswith("ratio (core / baseline)") for line in lines)
