"""Host contexts rebuilt from history, and labelled snapshots of a run."""

from __future__ import annotations

from typing import Any

import pytest

from streams.core.metrics import MetricsCore, host_context
from streams.incidents import features_from_context
from streams.incidents.context import ContextFolder
from streams.incidents.dataset import Truth, snapshots, truth_from_manifest
from streams.rules import RuleEngine
from streams.rules.model import RuleSet

from .builders import MIN

T0 = 1_700_000_040_000  # on a minute boundary, so windows are easy to count


def batch(host: str, ts: int, temp: float, *, extra: list[dict[str, Any]] | None = None
          ) -> dict[str, Any]:
    return {"schema": "rackwatch.metrics/v1", "host": host, "ts": ts, "seq": ts // 1000,
            "labels": {"rack": "r1"},
            "samples": [{"name": "gpu.temp", "value": temp, "labels": {"gpu": "0"}},
                        {"name": "disk.read_iops", "value": 5.0}, *(extra or [])]}


class TestContextFolder:
    """The context folder gives training the context the worker would send."""

    def test_context_is_the_workers_own(self) -> None:
        """The folded context is what the worker's metric core builds from the same batches
        (feature series only)."""
        folder = ContextFolder()
        core = MetricsCore(RuleEngine(RuleSet(rules=(), inhibit_rules=(), digest="",
                                              source="")))
        state = None
        for i, temp in enumerate([60.0, 62.0, 70.0, 90.0, 91.0]):
            b = batch("a", T0 + i * 30_000, temp)
            folder.add_batch(b)
            b["samples"] = b["samples"][:1]
            state, _ = core.process(state, b)  # type: ignore[arg-type]
        assert state is not None
        assert folder.context("a") == host_context(state)

    def test_only_feature_series_closed_minutes(self) -> None:
        """Aliases are normalised, other series dropped, only ended minutes reported."""
        f = ContextFolder()
        for i, temp in enumerate([60.0, 62.0, 70.0, 90.0]):
            f.add_batch(batch("a", T0 + i * 30_000, temp))
        ctx = f.context("a")
        assert set(ctx["series"]) == {"gpu.temperature{gpu=0}"}
        s = ctx["series"]["gpu.temperature{gpu=0}"]
        assert [m[:5] for m in s["minutes"]] == [[T0, 60.0, 62.0, 61.0, 2]]
        assert s["last"] == 90.0
        assert 60.0 < s["ewma"] < 90.0

    def test_history_is_bounded(self) -> None:
        """Only the last ten closed windows are kept."""
        f = ContextFolder()
        for i in range(20):
            f.add_batch(batch("a", T0 + i * MIN, 60.0 + i))
        mins = f.context("a")["series"]["gpu.temperature{gpu=0}"]["minutes"]
        assert len(mins) == 10
        assert mins[-1][0] == T0 + 17 * MIN  # the minute before is still within lateness

    def test_faults_are_counted(self) -> None:
        """Classified faults show in the recent fault counts."""
        f = ContextFolder()
        f.add_fault("a", T0, "gpu_xid_79")
        f.add_fault("a", T0 + 5 * MIN, "gpu_xid_79")
        f.add_fault("a", T0 + 5 * MIN, "mce")
        assert f.context("a")["recent_faults"] == {"gpu_xid_79": 2, "mce": 1}
        assert f.last_seen("a") is None  # faults are not metrics

    def test_fault_counts_at_a_moment(self) -> None:
        """With a moment given, only the faults of the window before it count."""
        f = ContextFolder(fault_window_ms=10 * MIN)
        f.add_fault("a", T0, "gpu_xid_79")
        f.add_fault("a", T0 + 5 * MIN, "gpu_xid_79")
        f.add_fault("a", T0 + 12 * MIN, "mce")
        assert f.context("a", T0 + 11 * MIN)["recent_faults"] == {"gpu_xid_79": 1}
        assert f.context("a", T0 + 12 * MIN)["recent_faults"] == {"gpu_xid_79": 1, "mce": 1}
        assert f.context("a", T0 + 60 * MIN)["recent_faults"] == {}

    def test_out_of_range_values_are_dropped(self) -> None:
        """Values no machine produces are not folded in (as the worker rejects them)."""
        f = ContextFolder()
        f.add_batch(batch("a", T0, 500.0))
        f.add_batch(batch("a", T0 + 2 * MIN, 500.0))
        assert f.context("a")["series"] == {}

    def test_unknown_host(self) -> None:
        """A host never seen has an empty context."""
        assert ContextFolder().context("x") == {"series": {}, "recent_faults": {}}


class TestSnapshots:
    """Labelled snapshots of host contexts for training."""

    def run(self) -> list[Any]:
        events: list[dict[str, Any]] = []
        for k in range(60):  # 30 minutes of 30 s batches, two hosts
            ts = T0 + k * 30_000
            events.append(batch("a", ts, 60.0))
            if k < 40:  # host b goes silent after 20 minutes
                events.append(batch("b", ts, 95.0 if k > 30 else 60.0))
        truth = [Truth("gpu_thermal_xid", ("b",), T0 + 18 * MIN, T0 + 25 * MIN)]
        return snapshots(events, truth, horizon_ms=5 * MIN, warmup_ms=10 * MIN)

    def test_warmup_and_silence(self) -> None:
        """No snapshot before the warm-up, none of a host that stopped reporting."""
        snaps = self.run()
        assert min(s.ts for s in snaps) == T0 + 10 * MIN
        assert max(s.ts for s in snaps if s.host == "b") <= T0 + 21 * MIN
        assert max(s.ts for s in snaps if s.host == "a") == T0 + 29 * MIN

    def test_labels_follow_the_horizon(self) -> None:
        """Positive from horizon-before-start until the end, only on the faulty host."""
        snaps = self.run()
        pos = sorted(s.ts for s in snaps if s.label)
        assert {s.host for s in snaps if s.label} == {"b"}
        assert pos[0] == T0 + 13 * MIN
        assert all(s.kinds == ("gpu_thermal_xid",) for s in snaps if s.label)
        assert [s.during for s in snaps if s.label and s.ts < T0 + 18 * MIN] == [False] * 5

    def test_features_are_those_of_the_time(self) -> None:
        """A snapshot sees only what was known at its moment."""
        snaps = {(s.host, s.ts): s for s in self.run()}
        before = snaps[("b", T0 + 15 * MIN)].features
        after = snaps[("b", T0 + 20 * MIN)].features
        assert before["gpu_temp_peak"] == 60.0
        assert after["gpu_temp_peak"] == 95.0
        assert after["gpu_hot_minutes"] > 0

    def test_log_events_become_fault_counts(self) -> None:
        """Log lines are classified by the pipeline's own log processor."""
        events: list[dict[str, Any]] = [batch("a", T0 + k * 30_000, 60.0) for k in range(30)]
        events.insert(25, {"schema": "rackwatch.logs/v1", "host": "a", "ts": T0 + 12 * MIN,
                           "seq": 1, "message": "NVRM: Xid (PCI:0000:3b:00): 79, pid=123, "
                                                "GPU has fallen off the bus.",
                           "source": "kmsg", "labels": {"rack": "r1"}})
        snaps = snapshots(events, [], warmup_ms=10 * MIN)
        by_ts = {s.ts: s for s in snaps}
        assert by_ts[T0 + 11 * MIN].features["faults_gpu"] == 0.0
        assert by_ts[T0 + 13 * MIN].features["faults_gpu"] > 0.0


class TestManifest:
    """The ground truth a simulator run writes."""

    def test_truth_from_manifest(self) -> None:
        """Manifest lines become fault windows; the hard moment comes from the details."""
        entries: list[dict[str, Any]] = [
            {"kind": "gpu_xid_79", "hosts": ["a"], "start_ms": 10, "end_ms": 100,
             "details": {"xid_ms": 40}},
            {"kind": "memory_leak", "hosts": ["b"], "start_ms": 10, "end_ms": 90,
             "details": {"oom_ms": 90}},
            {"kind": "rack_power", "hosts": ["c", "d"], "start_ms": 5, "end_ms": 5},
            {"kind": "broken"},
        ]
        truth = truth_from_manifest(entries)
        assert [(t.kind, t.hosts, t.hard_ms) for t in truth] == [
            ("gpu_xid_79", ("a",), 40), ("memory_leak", ("b",), 90),
            ("rack_power", ("c", "d"), None)]
        assert truth[2].end_ms == 6
        assert [t.kind for t in truth_from_manifest(entries, ["memory_leak"])] == [
            "memory_leak"]


def test_folded_context_feeds_the_same_features() -> None:
    """A folded context has the shape features_from_context reads."""
    f = ContextFolder()
    for i in range(12):
        f.add_batch(batch("a", T0 + i * MIN, 80.0 + i))
    feats = features_from_context(f.context("a"))
    # closed minutes are T0..T0+9 (the one after is open until 5 s past its end)
    assert feats["gpu_temp_peak"] == pytest.approx(89.0)
    assert feats["gpu_hot_minutes"] == pytest.approx(5 / 10)
