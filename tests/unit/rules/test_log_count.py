"""`kind: log_count`: matching log records in a sliding window.

Its parser's problems, then its conditions stepped through time explicitly.
"""

from __future__ import annotations

import pytest

from tests.unit.rules.helpers import (
    Host,
    kind_problems,
    log_record,
    rules,
    secs,
    states,
)

PROBLEMS = [
    ("kind: log_count\n        at_least: 3", "missing window"),
    ("kind: log_count\n        window: 5m\n        at_least: 3\n        match: "
     "{severity: loud}", "severity: expected one of"),
    ("kind: log_count\n        window: 5m\n        at_least: 3\n        match: {msg: x}",
     "unknown key 'msg'"),
    ("kind: log_count\n        window: 5m\n        at_least: 3\n        match: "
     "{fault_source: [catalog]}", "fault_source must be among"),
    ("kind: log_count\n        window: 5m\n        at_least: 1\n        stale_after: 1m",
     "stale_after does not apply"),
]


class TestLogCountProblems:
    """What the log_count parser refuses, each problem naming what is wrong."""

    @pytest.mark.parametrize(("rule", "fragment"), PROBLEMS)
    def test_problems(self, rule: str, fragment: str) -> None:
        """A bad log_count rule is refused with the reason."""
        ps = kind_problems(rule)
        assert any(fragment in p for p in ps), ps


class TestLogCount:
    """Matching records in a sliding window, per group."""

    RULE = ("      - alert: Faults\n        kind: log_count\n        match:\n"
            "          fault_class: 'gpu_xid_*'\n        by: [fault_class]\n        window: 60s\n"
            "        at_least: 3\n        clear: 1\n")

    def test_counts_in_window_per_group(self) -> None:
        """Three matching records within the window fire, grouped by fault class."""
        host = Host(rules(self.RULE))
        host.logs(0, [log_record(0, fault_class="gpu_xid_79"),
                      log_record(1, fault_class="gpu_xid_79"),
                      log_record(2, fault_class="gpu_xid_13"),
                      log_record(3, fault_class="disk_io_error"),
                      log_record(4, fault_class=None)])
        assert host.sent == []
        host.logs(5, [log_record(5, fault_class="gpu_xid_79")])
        assert [(m["status"], m["labels"]["fault_class"], m["value"]) for m in host.sent] == [
            ("firing", "gpu_xid_79", 3.0)]
        assert secs(host.sent[0]["starts_at"]) == 5

    def test_window_slides_and_resolves_on_tick(self) -> None:
        """With no new records, the alert resolves once the window has emptied."""
        host = Host(rules(self.RULE))
        host.logs(0, [log_record(t, fault_class="gpu_xid_79") for t in (0, 1, 2)])
        host.tick(30)
        assert states(host) == [("firing", 2)]
        host.tick(200)
        # 10 s slots: the records of slot 0 leave the window at the boundary t=60
        assert states(host) == [("firing", 2), ("resolved", 60)]

    def test_late_records_are_not_counted(self) -> None:
        """A record older than the window is dropped."""
        host = Host(rules(self.RULE))
        host.logs(100, [log_record(100, fault_class="gpu_xid_79")])
        host.logs(101, [log_record(t, fault_class="gpu_xid_79") for t in (1, 2, 3)])
        assert host.sent == []

    def test_severity_and_template_match(self) -> None:
        """`severity` means at least as severe; template_id matches exactly."""
        host = Host(rules("      - alert: E\n        kind: log_count\n        match:\n"
                          "          severity: error\n          template_id: [t9]\n"
                          "        window: 1m\n        at_least: 2\n"))
        host.logs(0, [log_record(0, severity="critical", template_id="t9"),
                      log_record(1, severity="warning", template_id="t9"),
                      log_record(2, severity="error", template_id="t1")])
        assert host.sent == []
        host.logs(3, [log_record(3, severity="error", template_id="t9")])
        assert states(host) == [("firing", 3)]

    def test_fault_source_match_and_group(self) -> None:
        """match.fault_source keeps the named layers; a fault without the field (an older
        worker's record) is the catalogue's; `by` may name fault_source."""
        host = Host(rules("      - alert: E\n        kind: log_count\n        match:\n"
                          "          fault_source: [generic, catalogue]\n"
                          "        by: [fault_source]\n        window: 1m\n        at_least: 1\n"))
        host.logs(0, [log_record(0, fault_class="generic_network", fault_source="novel"),
                      log_record(1, fault_class=None)])
        assert host.sent == []
        host.logs(2, [log_record(2, fault_class="generic_network", fault_source="generic"),
                      log_record(3, fault_class="gpu_xid_79")])
        assert sorted(m["labels"]["fault_source"] for m in host.sent) == ["catalogue",
                                                                         "generic"]

    def test_record_labels_match(self) -> None:
        """match.labels filters on the record's labels."""
        host = Host(rules("      - alert: E\n        kind: log_count\n        match:\n"
                          "          labels: 'gpu=\"3\"'\n        by: [gpu]\n"
                          "        window: 1m\n        at_least: 1\n"))
        host.logs(0, [log_record(0, labels={"gpu": "2"}), log_record(1, labels={"gpu": "3"})])
        assert [m["labels"]["gpu"] for m in host.sent] == ["3"]


class TestLogCadence:
    """Windows slide on event time, whatever the tick cadence."""

    RULE = TestLogCount.RULE

    def test_window_drops_on_time_without_ticks(self) -> None:
        """The next record, not only a tick, replays the slot boundaries it skipped."""
        ticked, bare = Host(rules(self.RULE)), Host(rules(self.RULE))
        first = [log_record(t, fault_class="gpu_xid_79") for t in (0, 1, 2)]
        later = [log_record(t, fault_class="gpu_xid_79") for t in (95, 96, 97)]
        for h in (ticked, bare):
            h.logs(0, first)
        for t in range(10, 95, 10):
            ticked.tick(t)
        for h in (ticked, bare):
            h.logs(95, later)
        assert states(bare) == states(ticked) == [("firing", 2), ("resolved", 60),
                                                  ("firing", 97)]
