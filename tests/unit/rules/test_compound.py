"""`kind: all` (streams.rules.kinds.compound): several operands at once.

Its parser's problems, then its conditions stepped through time explicitly.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.rules.helpers import (
    Host,
    kind_problems,
    point,
    rules,
    states,
)

PROBLEMS = [
    ("kind: all\n        conditions: [{metric: a, above: 1}]", "at least two conditions"),
    ("kind: all\n        conditions: [{metric: a, above: 1}, {metric: b, sum: [c, d], "
     "below: 2}]", "exactly one of metric"),
    ("kind: all\n        conditions: [{metric: a, above: 1}, {metric: b, below: 2}]\n"
     "        report: zz", "no condition named 'zz'"),
    ("kind: all\n        conditions: [{name: x, metric: a, above: 1}, "
     "{name: x, metric: b, below: 2}]", "names repeat"),
    ("kind: all\n        conditions: [{metric: a, above: 1}, {metric: b, blow: 2}]",
     "unknown key 'blow'"),
]


class TestAllProblems:
    """What the `all` parser refuses, each problem naming what is wrong."""

    @pytest.mark.parametrize(("rule", "fragment"), PROBLEMS)
    def test_problems(self, rule: str, fragment: str) -> None:
        """A bad `all` rule is refused with the reason."""
        ps = kind_problems(rule)
        assert any(fragment in p for p in ps), ps


DISK_SLOW = """\
      - alert: DiskSlow
        kind: all
        conditions:
          - {name: busy, metric: disk.busy, above: 90%, clear: 80%}
          - {name: tput, sum: [disk.read_bytes_per_s, disk.write_bytes_per_s], below: 50M,
             clear: 60M}
        report: tput
        annotations:
          description: "busy {{ $values.busy | humanizePercentage }} at {{ $value | humanize }}B/s"
"""


def disk(t: float, busy: float, read: float, write: float, dev: str = "sda") -> list[Any]:
    labels = {"device": dev}
    return [point("disk.busy", busy, t, labels), point("disk.read_bytes_per_s", read, t, labels),
            point("disk.write_bytes_per_s", write, t, labels)]


class TestAll:
    """Every operand of a series at once, each with its hysteresis."""

    def test_slow_disk_needs_busy_and_low_throughput(self) -> None:
        """Fires only when the disk is busy AND moves little data; idle disks are fine."""
        host = Host(rules(DISK_SLOW))
        host.batch(0, *disk(0, 0.1, 1e6, 1e6))  # idle and slow: fine
        host.batch(10, *disk(10, 0.95, 60e6, 30e6))  # busy and fast: fine
        host.batch(20, *disk(20, 0.95, 20e6, 10e6))  # busy and slow: fires
        assert states(host) == [("firing", 20)]
        msg = host.sent[0]
        assert msg["value"] == pytest.approx(30e6)
        assert msg["threshold"] == pytest.approx(50e6)
        assert msg["annotations"]["description"] == "busy 95% at 30MB/s"
        assert msg["labels"]["device"] == "sda"

    def test_hysteresis_per_condition(self) -> None:
        """Firing holds while every condition stays within its clear threshold."""
        host = Host(rules(DISK_SLOW))
        host.batch(0, *disk(0, 0.95, 20e6, 10e6))
        host.batch(10, *disk(10, 0.85, 30e6, 25e6))  # both inside their bands
        host.batch(20, *disk(20, 0.85, 40e6, 25e6))  # throughput 65M > clear 60M
        assert states(host) == [("firing", 0), ("resolved", 20)]

    def test_missing_operand_is_no_data(self) -> None:
        """A batch without one of the metrics changes nothing."""
        host = Host(rules(DISK_SLOW))
        host.batch(0, *disk(0, 0.95, 20e6, 10e6))
        host.batch(10, point("disk.busy", 0.1, 10, {"device": "sda"}))
        assert states(host) == [("firing", 0)]

    def test_devices_are_separate(self) -> None:
        """Series are joined by their labels: each device is its own alert."""
        host = Host(rules(DISK_SLOW))
        host.batch(0, *disk(0, 0.95, 20e6, 10e6, "sda"), *disk(0, 0.95, 200e6, 10e6, "sdb"))
        assert [m["labels"]["device"] for m in host.sent] == ["sda"]
