"""Uncatalogued metric names, found in every kind that reads metrics."""

from __future__ import annotations

import pytest

from streams.rules.lint import unknown_metrics
from tests.unit.rules.helpers import rules

KINDS = [
    ("kind: threshold\n        metric: fs.usag\n        above: 1", ["fs.usag"]),
    ("kind: threshold\n        sum: [disk.read_bytes_per_s, dsk.write]\n        above: 1",
     ["dsk.write"]),
    ("kind: rate\n        metric: gpu.retired_page\n        above: 0", ["gpu.retired_page"]),
    ("kind: zscore\n        metric: cpu.usag\n        above: 3", ["cpu.usag"]),
    ("kind: anomaly\n        metric: gpu.temprature\n        above: 0.5", ["gpu.temprature"]),
    ("kind: absent\n        metric: 'gpu.tmp*'\n        duration: 1m", ["gpu.tmp*"]),
    ("kind: absent\n        duration: 1m", []),
    ("kind: all\n        conditions:\n          - {metric: disk.busy, above: 1}\n"
     "          - {metric: disk.bsy, above: 1}", ["disk.bsy"]),
    ("kind: log_count\n        window: 1m\n        at_least: 1", []),
]


class TestUnknownMetricsPerKind:
    """Each kind's metric selectors are checked against the catalogue."""

    @pytest.mark.parametrize(("body", "names"), KINDS)
    def test_names_the_unknown_metrics(self, body: str, names: list[str]) -> None:
        """Only the uncatalogued names are reported, one line each, with the rule."""
        found = unknown_metrics(rules(f"      - alert: A\n        {body}\n"))
        assert len(found) == len(names)
        for line, name in zip(found, names, strict=True):
            assert f"rule A: metric {name!r} is not in the metric catalogue" in line
