"""Fault-level recall, and reading training data from the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sinks.training import store_events, store_truth
from streams.incidents import FaultModel
from streams.incidents.dataset import Snapshot, Truth
from streams.incidents.fitting import fault_recall, report

MIN = 60_000


def snap(host: str, ts: int, x: float, label: int = 0, during: bool = False) -> Snapshot:
    return Snapshot(host, ts, {"x": x}, label, ("k",) if label else (), during)


MODEL = FaultModel(intercept=0.0, coefficients={"x": 1.0}, threshold=0.5)


class TestFaultRecall:
    """The fitted model catches the faults with a lead-up."""

    def test_caught_missed_and_lead(self) -> None:
        """A fault is caught by a high score on its host from horizon-before to its end."""
        truth = [Truth("a", ("h1",), 20 * MIN, 30 * MIN, hard_ms=25 * MIN),
                 Truth("b", ("h2",), 20 * MIN, 30 * MIN),
                 Truth("c", ("h3",), 20 * MIN, 30 * MIN)]
        snaps = [snap("h1", 12 * MIN, 5.0), snap("h1", 21 * MIN, 5.0),
                 snap("h2", 5 * MIN, 5.0),  # too early to count
                 snap("h2", 22 * MIN, -5.0)]  # h3 never reported: not counted at all
        r = fault_recall(MODEL, snaps, truth, horizon_ms=10 * MIN)
        assert (r["caught"], r["faults"]) == (1, 2)
        assert r["by_kind"] == {"a": "1/1", "b": "0/1"}
        assert r["median_lead_s"] == 8 * 60
        assert r["flagged_before_hard_failure"] == 1
        assert r["median_lead_before_hard_failure_s"] == 13 * 60

    def test_report_splits_recall_by_phase(self) -> None:
        """Recall is given for snapshots in a fault and ahead of one."""
        snaps = [snap("h", 0, 5.0, 1, True), snap("h", 1, -5.0, 1, True),
                 snap("h", 2, -5.0, 1, False), snap("h", 3, -5.0, 0)]
        r = report(MODEL, snaps, None, 10 * MIN)
        assert (r["recall_during"], r["recall_ahead"]) == (0.5, 0.0)
        assert r["precision"] == 1.0


class FakeStore:
    """Answers the two or three queries training makes, and records them."""

    database = "rw"

    def __init__(self) -> None:
        self.sql: list[str] = []

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        self.sql.append(sql)
        if "FROM rw.incidents" in sql:
            return [("inc-1", "host", ["h1"], 1000, 5000), ("inc-2", "rack", ["h2", "h3"],
                                                            2000, 2000)]
        if "FROM rw.metrics" in sql:
            t = datetime.fromtimestamp(1.0, UTC)
            return [("h1", t, "gpu.temperature", {"gpu": "0", "rack": "r1"}, 70.0),
                    ("h1", t, "cpu.usage", {"rack": "r1"}, 0.5),
                    ("h2", 1500, "cpu.usage", {"rack": "r1"}, 0.2)]
        if "FROM rw.logs" in sql:
            return [("h1", 1200, "gpu_xid_79")]
        raise AssertionError(sql)


class TestStore:
    """Training data read back from the store."""

    def test_truth_from_incidents(self) -> None:
        """Host and rack incidents become fault windows over their hosts."""
        store = FakeStore()
        truth = [Truth(*r) for r in store_truth(store, 0, 10_000)]
        assert truth == [Truth("host", ("h1",), 1000, 5000), Truth("rack", ("h2", "h3"),
                                                                   2000, 2001)]
        assert "scope IN ('host', 'rack')" in store.sql[0]

    def test_events_are_batches_and_records_in_time_order(self) -> None:
        """Metric rows group into per-host batches with series labels only; fault records
        are merged in by time."""
        store = FakeStore()
        events = list(store_events(store, 0, 3_000_000, names=["gpu.temperature",
                                                              "cpu.usage"]))
        assert [(e["schema"], e["host"], e["ts"]) for e in events] == [
            ("rackwatch.metrics/v1", "h1", 1000), ("rackwatch.log_record/v1", "h1", 1200),
            ("rackwatch.metrics/v1", "h2", 1500)]
        assert events[0]["samples"] == [
            {"name": "gpu.temperature", "value": 70.0, "labels": {"gpu": "0"}},
            {"name": "cpu.usage", "value": 0.5, "labels": {}}]
        assert "name IN ('cpu.usage', 'gpu.temperature')" in store.sql[0]

    def test_long_ranges_are_read_an_hour_at_a_time(self) -> None:
        """Three hours: three metric queries and three log queries."""
        store = FakeStore()
        list(store_events(store, 0, 3 * 3_600_000, names=["cpu.usage"]))
        assert sum("FROM rw.metrics" in q for q in store.sql) == 3
        assert sum("FROM rw.logs" in q for q in store.sql) == 3
