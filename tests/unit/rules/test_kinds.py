"""Each condition kind, stepped through time explicitly."""

from __future__ import annotations

import math
from typing import Any

import pytest

from streams.rules import anomaly_bridge
from tests.unit.rules.helpers import Host, log_record, point, rules, secs, summary


def states(host: Host) -> list[tuple[str, float | None]]:
    return [(m["status"], secs(m["updated_at"])) for m in host.sent]


class TestThreshold:
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


class TestRate:
    RULE = ("      - alert: R\n        kind: rate\n        metric: c\n        above: 1\n"
            "        counter: {counter}\n")

    def test_rate_per_second(self) -> None:
        """The rate is (value - prev) / elapsed seconds of the point."""
        host = Host(rules(self.RULE.format(counter="false")))
        host.batch(10, point("c", 100, 10, prev=(0, 85)))  # 1.5/s
        assert host.sent[0]["value"] == pytest.approx(1.5)
        host.batch(20, point("c", 105, 20, prev=(10, 100)))  # 0.5/s
        assert states(host) == [("firing", 10), ("resolved", 20)]

    def test_counter_reset_is_no_data(self) -> None:
        """A counter that goes down was reset: no rate, no transition."""
        host = Host(rules(self.RULE.format(counter="true")))
        host.batch(10, point("c", 100, 10, prev=(0, 50)))
        host.batch(20, point("c", 3, 20, prev=(10, 100)))
        assert states(host) == [("firing", 10)]

    def test_negative_rate_without_counter(self) -> None:
        """Without `counter`, a decrease is a negative rate (fires a below rule)."""
        host = Host(rules(self.RULE.format(counter="false").replace("above: 1", "below: -1")))
        host.batch(20, point("c", 3, 20, prev=(10, 100)))
        assert host.sent[0]["value"] == pytest.approx(-9.7)

    def test_first_sample_has_no_rate(self) -> None:
        """Without a previous sample there is nothing to compare."""
        host = Host(rules(self.RULE.format(counter="false")))
        host.batch(0, point("c", 1e9, 0))
        assert host.sent == []


class TestZScore:
    RULE = ("      - alert: Z\n        kind: zscore\n        metric: m\n        above: 3\n"
            "        clear: 2\n        direction: {direction}\n        min_std: {min_std}\n")

    @pytest.mark.parametrize(("direction", "value", "fires"), [
        ("both", 14, True), ("both", 6, True), ("up", 6, False), ("down", 6, True),
        ("up", 14, True), ("both", 12, False),
    ])
    def test_direction(self, direction: str, value: float, fires: bool) -> None:
        """|value - ewma| / sqrt(ewvar) against N, one- or two-sided."""
        host = Host(rules(self.RULE.format(direction=direction, min_std=0)))
        host.batch(0, point("m", value, 0, ewma=10, ewvar=1.0))
        assert bool(host.sent) is fires

    def test_no_spread_is_no_data(self) -> None:
        """A series' first sample (ewvar 0) gives no score."""
        host = Host(rules(self.RULE.format(direction="both", min_std=0)))
        host.batch(0, point("m", 1e6, 0, ewma=10, ewvar=0.0))
        assert host.sent == []

    def test_min_std_floors_the_spread(self) -> None:
        """min_std keeps a flat series from turning noise into huge z-scores."""
        host = Host(rules(self.RULE.format(direction="both", min_std=5)))
        host.batch(0, point("m", 20, 0, ewma=10, ewvar=0.01))  # z = 2 with the floor
        assert host.sent == []

    def test_hysteresis_on_z(self) -> None:
        """A z-score alert clears below `clear`, not below the fire threshold."""
        host = Host(rules(self.RULE.format(direction="both", min_std=0)))
        for t, v in [(0, 14), (10, 12.5), (20, 11.9)]:
            host.batch(t, point("m", v, t, ewma=10, ewvar=1.0))
        assert states(host) == [("firing", 0), ("resolved", 20)]
        assert host.sent[0]["value"] == pytest.approx(4.0)


class _FakeAnomaly:
    """A stand-in for streams.anomaly: score = fraction of the last sample above 100."""

    class AnomalyParams:
        def __init__(self, scale: float = 100.0) -> None:
            self.scale = scale

    @staticmethod
    def new_state(params: _FakeAnomaly.AnomalyParams | None = None) -> dict[str, Any]:
        return {"n": 0}

    @staticmethod
    def update(state: dict[str, Any], ts_ms: int, value: float,
               params: _FakeAnomaly.AnomalyParams | None = None) -> float:
        state["n"] += 1
        scale = params.scale if params is not None else 100.0
        return min(1.0, max(0.0, value / scale))


class TestAnomaly:
    RULE = ("      - alert: X\n        kind: anomaly\n        metric: m\n        above: 0.9\n"
            "        clear: 0.5\n")

    def test_fallback_is_ew_zscore_on_the_detector_scale(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without streams.anomaly the score is -log10(normal tail of z) / 10."""
        monkeypatch.setattr(anomaly_bridge, "load", lambda: None)
        host = Host(rules(self.RULE.replace("0.9", "0.5").replace("clear: 0.5", "clear: 0.2")))
        host.batch(0, point("m", 16, 0, ewma=10, ewvar=1.0))  # z=6: tail 2e-9 -> 0.87
        assert host.sent[0]["value"] == pytest.approx(-math.log10(math.erfc(6 / math.sqrt(2)))
                                                      / 10)
        host.batch(10, point("m", 12, 10, ewma=10, ewvar=1.0))  # z=2: tail .046 -> 0.13
        assert states(host) == [("firing", 0), ("resolved", 10)]
        assert host.state["d"] == {}  # the fallback keeps no per-series state

    def test_detector_module_is_called_with_state_and_params(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With a detector, its per-series state lives in the host's rule state."""
        monkeypatch.setattr(anomaly_bridge, "load", lambda: _FakeAnomaly)
        host = Host(rules(self.RULE + "        params: {scale: 50}\n"))
        host.batch(0, point("m", 10, 0, {"gpu": "0"}), point("m", 10, 0, {"gpu": "1"}))
        host.batch(10, point("m", 48, 10, {"gpu": "0"}))
        assert states(host) == [("firing", 10)]
        assert host.sent[0]["value"] == pytest.approx(0.96)
        series = next(iter(host.state["d"].values()))["s"]
        assert series["gpu=0"]["d"] == {"n": 2}
        assert series["gpu=1"]["d"] == {"n": 1}

    def test_detector_state_expires(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A series unseen for forget_after loses its detector state."""
        monkeypatch.setattr(anomaly_bridge, "load", lambda: _FakeAnomaly)
        host = Host(rules(self.RULE + "        forget_after: 10m\n"))
        host.batch(0, point("m", 10, 0))
        host.tick(599)
        assert host.state["d"]
        host.tick(600)
        assert host.state["d"] == {}

    def test_bad_params_are_reported(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Parameters the detector refuses are a rule error naming the rule, at load
        time when the detector is installed, else when an engine takes the rules."""
        from streams.rules import RuleEngine, RuleError

        monkeypatch.setattr(anomaly_bridge, "load", lambda: _FakeAnomaly)
        with pytest.raises(RuleError, match="rule 'X': params"):
            rules(self.RULE + "        params: {nope: 1}\n")
        monkeypatch.setattr(anomaly_bridge, "load", lambda: None)
        bad = rules(self.RULE + "        params: {nope: 1}\n")  # not checkable here
        monkeypatch.setattr(anomaly_bridge, "load", lambda: _FakeAnomaly)
        with pytest.raises(RuleError, match="rule 'X': params"):
            RuleEngine(bad)
        engine = RuleEngine(rules(self.RULE))
        good = engine.rules
        with pytest.raises(RuleError):
            engine.replace_rules(bad)
        assert engine.rules is good


class TestAbsentHost:
    RULE = ("      - alert: Silent\n        kind: absent\n        duration: 1m\n"
            "        for: {for_}\n")

    def test_fires_duration_after_last_batch_and_resolves_on_data(self) -> None:
        """No evaluate() for `duration` fires at last-seen + duration; data resolves it."""
        host = Host(rules(self.RULE.format(for_="0s")))
        host.batch(0, point("m", 1, 0))
        host.tick(59)
        host.tick(95)
        host.tick(130)
        host.batch(140)
        assert summary(host.sent) == [("Silent", "firing", 60, 60),
                                      ("Silent", "resolved", 60, 140)]
        assert host.sent[0]["value"] == 60.0

    def test_for_adds_to_duration(self) -> None:
        """`for` on an absence rule delays firing further."""
        host = Host(rules(self.RULE.format(for_="30s")))
        host.batch(0)
        host.tick(80)
        assert host.sent == []
        host.tick(100)
        assert summary(host.sent) == [("Silent", "firing", 90, 90)]

    def test_unknown_host_is_not_silent(self) -> None:
        """A host never seen cannot be called silent."""
        host = Host(rules(self.RULE.format(for_="0s")))
        host.tick(10_000)
        assert host.sent == []


class TestAbsentSeries:
    RULE = ("      - alert: GpuGone\n        kind: absent\n        metric: gpu.temperature\n"
            "        duration: 1m\n        forget_after: 10m\n")

    def test_missing_series_fires_and_returns(self) -> None:
        """A series that stops while others go on fires; its return resolves it."""
        host = Host(rules(self.RULE))
        host.batch(0, point("gpu.temperature", 50, 0, {"gpu": "0"}),
                   point("gpu.temperature", 50, 0, {"gpu": "1"}))
        host.batch(50, point("gpu.temperature", 50, 50, {"gpu": "0"}))
        host.tick(70)
        host.batch(90, point("gpu.temperature", 50, 90, {"gpu": "1"}))
        assert [(m["status"], m["labels"]["gpu"], secs(m["updated_at"]))
                for m in host.sent] == [("firing", "1", 60), ("resolved", "1", 90)]

    def test_forgotten_series_resolves(self) -> None:
        """A series gone for forget_after is taken as removed: resolved, then forgotten."""
        host = Host(rules(self.RULE))
        host.batch(0, point("gpu.temperature", 50, 0, {"gpu": "0"}))
        host.tick(61)
        host.tick(1000)
        assert states(host)[:2] == [("firing", 60), ("resolved", 600)]
        assert [m["status"] for m in host.sent[2:]] == ["resolved"]  # re-sent at 1000
        host.tick(2000)
        assert host.state["d"] == {}


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


class TestLogCount:
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


class TestLogBurst:
    RULE = ("      - alert: Burst\n        kind: log_burst\n        match: {severity: error}\n"
            "        window: 60s\n        baseline: 10m\n        factor: 4\n        min_count: 5\n"
            "        warmup: 5m\n")

    def steady(self, host: Host, start: int, end: int, every: int) -> None:
        for t in range(start, end, every):
            host.logs(t, [log_record(t, severity="error")])
            host.tick(t)

    def test_burst_against_own_baseline(self) -> None:
        """Fires when the window count exceeds factor x the host's usual count."""
        host = Host(rules(self.RULE))
        self.steady(host, 0, 1200, 20)  # 3 per minute for 20 minutes
        assert host.sent == []
        base = next(iter(host.state["d"].values()))["s"][""]["b"]
        assert base == pytest.approx(3, abs=0.5)
        host.logs(1200, [log_record(1200 + i * 0.1, severity="error") for i in range(15)])
        base = next(iter(host.state["d"].values()))["s"][""]["b"]  # as of the burst's slot
        assert [m["status"] for m in host.sent] == ["firing"]
        assert host.sent[0]["threshold"] == pytest.approx(4 * base)
        assert 4 * base < host.sent[0]["value"] <= 4 * base + 1

    def test_noisy_host_needs_a_bigger_burst(self) -> None:
        """The same burst on a host that always logs that much is normal."""
        host = Host(rules(self.RULE))
        self.steady(host, 0, 1200, 3)  # 20 per minute
        host.logs(1200, [log_record(1200 + i * 0.1, severity="error") for i in range(15)])
        assert host.sent == []

    def test_warmup(self) -> None:
        """No burst alert before the host has been watched for `warmup`."""
        host = Host(rules(self.RULE))
        host.logs(0, [log_record(i * 0.1, severity="error") for i in range(50)])
        assert host.sent == []

    def test_resolves_when_burst_ends(self) -> None:
        """The alert resolves as the window empties again."""
        host = Host(rules(self.RULE))
        host.logs(0, [log_record(0, severity="info")])
        host.tick(400)
        host.logs(400, [log_record(400 + i * 0.1, severity="error") for i in range(20)])
        host.tick(600)
        assert [m["status"] for m in host.sent] == ["firing", "resolved"]
        assert secs(host.sent[1]["updated_at"]) == 460


class TestLogCadence:
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
