"""`kind: threshold`: one metric, or a sum of metrics, against a fixed threshold.

Its parser's problems, then its conditions stepped through time explicitly.
"""

from __future__ import annotations

import math

import pytest

from tests.unit.rules.helpers import (
    Host,
    kind_problems,
    point,
    rules,
    states,
)

PROBLEMS = [
    ("kind: threshold\n        sum: [a]\n        above: 1", "at least two metrics"),
    ("kind: threshold\n        metric: a\n        join: [device]\n        above: 1",
     "join only applies to sum"),
]


class TestThresholdProblems:
    """What the threshold parser refuses, each problem naming what is wrong."""

    @pytest.mark.parametrize(("rule", "fragment"), PROBLEMS)
    def test_problems(self, rule: str, fragment: str) -> None:
        """A bad threshold rule is refused with the reason."""
        ps = kind_problems(rule)
        assert any(fragment in p for p in ps), ps


class TestThreshold:
    """One metric or a sum against a fixed threshold."""

    @pytest.mark.parametrize(("smoothing", "fires"), [("none", True), ("ewma", False),
                                                      ("wma", False)])
    def test_smoothing_picks_the_value(self, smoothing: str, fires: bool) -> None:
        """`smoothing` selects raw, EWMA or WMA values of the point."""
        host = Host(rules(f"      - alert: A\n        kind: threshold\n        metric: m\n"
                          f"        smoothing: {smoothing}\n        above: 10\n"))
        host.batch(0, point("m", 50, 0, ewma=3, wma=4))
        assert bool(host.sent) is fires

    @pytest.mark.parametrize(("op", "value", "fires"), [
        ("below", 4.9, True), ("below", 5, False), ("at_most", 5, True), ("at_least", 5, True),
        ("at_least", 4.9, False), ("above", 5, False),
    ])
    def test_operators(self, op: str, value: float, fires: bool) -> None:
        """above/below are strict, at_least/at_most inclusive."""
        host = Host(rules(f"      - alert: A\n        kind: threshold\n        metric: m\n"
                          f"        {op}: 5\n"))
        host.batch(0, point("m", value, 0))
        assert bool(host.sent) is fires

    def test_below_with_hysteresis(self) -> None:
        """A below rule clears only once the value rises past `clear`."""
        host = Host(rules("      - alert: A\n        kind: threshold\n        metric: m\n"
                          "        below: 5\n        clear: 8\n"))
        for t, v in [(0, 4), (10, 7), (20, 7.9), (30, 8)]:
            host.batch(t, point("m", v, t))
        assert states(host) == [("firing", 0), ("resolved", 30)]

    def test_nan_and_inf_are_no_data(self) -> None:
        """Non-finite values neither fire nor resolve."""
        host = Host(rules("      - alert: A\n        kind: threshold\n        metric: m\n"
                          "        above: 5\n"))
        host.batch(0, point("m", 9, 0))
        host.batch(10, point("m", math.nan, 10))
        host.batch(20, point("m", math.inf, 20))
        assert states(host) == [("firing", 0)]

    def test_glob_and_label_matchers(self) -> None:
        """Selectors match by name glob and label matchers, per series."""
        host = Host(rules("      - alert: A\n        kind: threshold\n"
                          "        metric: 'gpu.*{gpu!=\"7\"}'\n        above: 80\n"))
        host.batch(0, point("gpu.temperature", 90, 0, {"gpu": "0"}),
                   point("gpu.temperature", 90, 0, {"gpu": "7"}),
                   point("cpu.temperature", 90, 0))
        assert [m["labels"]["gpu"] for m in host.sent] == ["0"]
        assert host.sent[0]["labels"]["alertname"] == "A"
        assert host.sent[0]["labels"]["rack"] == "r1"

    def test_each_series_is_its_own_alert(self) -> None:
        """Two GPUs beyond the threshold are two alerts with distinct fingerprints."""
        host = Host(rules("      - alert: A\n        kind: threshold\n        metric: g\n"
                          "        above: 80\n"))
        host.batch(0, point("g", 90, 0, {"gpu": "0"}), point("g", 90, 0, {"gpu": "1"}))
        assert len({m["fingerprint"] for m in host.sent}) == 2

    def test_sum_of_metrics(self) -> None:
        """A sum operand adds the named metrics of one series before comparing."""
        host = Host(rules("      - alert: A\n        kind: threshold\n"
                          "        sum: [disk.read_bytes_per_s, disk.write_bytes_per_s]\n"
                          "        above: 100M\n        join: [device]\n"))
        dev = {"device": "sda"}
        host.batch(0, point("disk.read_bytes_per_s", 60e6, 0, dev),
                   point("disk.write_bytes_per_s", 50e6, 0, dev))
        host.batch(10, point("disk.read_bytes_per_s", 60e6, 10, dev))  # incomplete: no data
        host.batch(20, point("disk.read_bytes_per_s", 40e6, 20, dev),
                   point("disk.write_bytes_per_s", 50e6, 20, dev))
        assert states(host) == [("firing", 0), ("resolved", 20)]
        assert host.sent[0]["value"] == pytest.approx(110e6)
        assert host.sent[0]["labels"]["device"] == "sda"
