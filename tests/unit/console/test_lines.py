"""The threshold and clear lines a chart draws come from the worker's rules."""

from __future__ import annotations

import pytest

from console.lines import metric_lines, metrics_of_rule, rules_for_metric
from streams.rules import default_rules, parse_rules


class TestDefaultRules:
    """Read from the shipped rule set."""

    @pytest.mark.parametrize(("metric", "expected"), [
        ("gpu.temperature", [("GpuTooHot", "above", 85.0, 80.0, "ewma")]),
        ("cpu.usage", [("CpuHigh", "above", 0.8, 0.75, "ewma")]),
        ("disk.busy", [("DiskSlow", "above", 0.9, 0.8, "ewma")]),
        ("gpu.ecc.dbe_per_s", [("GpuEccUncorrectable", "above", 0.0, 0.0, "raw")]),
        ("disk.read_bytes_per_s", []),  # only summed with writes: no line of its own
        ("net.rx_bytes_per_s", []),
    ])
    def test_lines(self, metric: str, expected: list[tuple[object, ...]]) -> None:
        """Each rule comparing the metric itself gives its fire and clear levels."""
        got = [(x["rule"], x["op"], x["threshold"], x["clear"], x["smoothing"])
               for x in metric_lines(default_rules(), metric)]
        assert got == expected

    def test_rules_shading_a_chart(self) -> None:
        """Rules about the metric shade it, host silence shades every chart."""
        rules = rules_for_metric(default_rules(), "gpu.temperature")
        assert {"GpuTooHot", "GpuTemperatureAnomaly", "HostSilent"} <= set(rules)
        assert "CpuHigh" not in rules
        assert "DiskSlow" in rules_for_metric(default_rules(), "disk.read_bytes_per_s")

    def test_metrics_of_rule(self) -> None:
        """A rule's metrics, in order; a host-absence rule has none."""
        assert metrics_of_rule(default_rules(), "DiskSlow") == [
            "disk.busy", "disk.read_bytes_per_s", "disk.write_bytes_per_s"]
        assert metrics_of_rule(default_rules(), "HostSilent") == []


class TestOwnRules:
    """A rule file of one's own draws its own levels."""

    def test_below_rule(self) -> None:
        """A `below` rule with a clear level above it."""
        rules = parse_rules("""
groups:
  - name: g
    rules:
      - alert: ClockLow
        kind: threshold
        metric: gpu.sm_clock_mhz
        smoothing: wma
        below: 900
        clear: 1000
        labels: {severity: warning}
""")
        assert metric_lines(rules, "gpu.sm_clock_mhz") == [
            {"rule": "ClockLow", "severity": "warning", "op": "below", "threshold": 900.0,
             "clear": 1000.0, "smoothing": "wma"}]
