"""Reading a host context (series keys, GPU history) and the hint sentences."""

from __future__ import annotations

from typing import Any

import pytest

from streams.incidents.hints import describe_fault, gpu_fault_hint, group_hint, rack_hint
from streams.incidents.history import (
    gpu_history,
    gpu_with_xid,
    likely_gpu,
    minute_rows,
    parse_series_key,
)

from .builders import T0, gpu_context, series


class TestSeriesKeys:
    """Series keys of a host context."""

    @pytest.mark.parametrize(("key", "name", "labels"), [
        ("cpu.usage", "cpu.usage", {}),
        ("gpu.temperature{gpu=3}", "gpu.temperature", {"gpu": "3"}),
        ("gpu.temperature{gpu=3,uuid=GPU-1}", "gpu.temperature", {"gpu": "3", "uuid": "GPU-1"}),
        ("odd{", "odd{", {}),
    ])
    def test_parse(self, key: str, name: str, labels: dict[str, str]) -> None:
        """`name{k=v,...}` splits into the name and its labels."""
        assert parse_series_key(key) == (name, labels)

    def test_minute_rows_skip_junk_and_sort(self) -> None:
        """Malformed windows are dropped, the rest come oldest first."""
        summary = {"minutes": [[T0 + 60_000, 1, 2, 1.5, 6], "x", [T0, 0, 1, 0.5, 6],
                               [T0, "a", 1, 1], [T0, float("nan"), 1, 1, 1], [T0]]}
        assert minute_rows(summary) == [(T0, 0.0, 1.0, 0.5), (T0 + 60_000, 1.0, 2.0, 1.5)]

    def test_young_series_uses_its_last_value(self) -> None:
        """A series with no closed minute yet still has a value to summarise."""
        assert minute_rows({"last": 71.0}) == [(0, 71.0, 71.0, 71.0)]
        assert minute_rows({}) == []


class TestGpuHistory:
    """A GPU's history before a fault, from its minute windows."""

    def test_hot_gpu_has_a_thermal_excursion(self) -> None:
        """Throttling and peaks at 85 °C or more are counted per minute."""
        h = gpu_history(gpu_context("3", hot=True), "3")
        assert h is not None
        assert h["thermal_excursion"] is True
        assert h["thermal_excursion_minutes"] == 5
        assert h["minutes"] == 10
        assert h["temperature_c"]["first_avg"] == 64.0

    def test_cool_gpu_has_none(self) -> None:
        """A steady GPU shows no excursion of either kind."""
        h = gpu_history(gpu_context("3", hot=False), "3")
        assert h is not None
        assert (h["thermal_excursion"], h["power_excursion"]) == (False, False)

    def test_other_gpu_or_empty_context_is_unknown(self) -> None:
        """No series for that GPU: None, not an empty 'fine' summary."""
        assert gpu_history(gpu_context("3", hot=True), "4") is None
        assert gpu_history(None, "3") is None
        assert gpu_history({"series": "junk"}, "3") is None

    def test_power_near_the_limit(self) -> None:
        """A minute peaking within 2 % of the power limit is a power excursion."""
        ctx: dict[str, Any] = {"series": {
            "gpu.power_watts{gpu=0}": series([(600, 650, 640), (680, 699, 690)]),
            "gpu.power_limit_watts{gpu=0}": series([(700, 700, 700), (700, 700, 700)]),
        }}
        h = gpu_history(ctx, "0")
        assert h is not None
        assert h["power_excursion_minutes"] == 1
        assert h["power_limit_w"] == 700

    def test_power_spike_without_a_known_limit(self) -> None:
        """Without the limit, a minute peaking 25 % over the usual draw counts."""
        ctx = {"series": {"gpu.power_watts{gpu=0}": series(
            [(290, 310, 300), (295, 305, 300), (290, 420, 330), (295, 305, 300)])}}
        h = gpu_history(ctx, "0")
        assert h is not None
        assert h["power_excursion_minutes"] == 1

    def test_ecc_delta_and_clock_drop(self) -> None:
        """New double-bit errors over the history and a fallen SM clock are reported."""
        ctx = {"series": {
            "gpu.ecc.dbe_volatile{gpu=1}": series([(0, 0, 0), (0, 2, 1)]),
            "gpu.sm_clock_mhz{gpu=1}": series([(1980, 1980, 1980), (900, 1400, 1100)]),
        }}
        h = gpu_history(ctx, "1")
        assert h is not None
        assert h["ecc_dbe_delta"] == 2
        assert h["clock_drop"] is True


class TestHints:
    """Root-cause hints read from the evidence."""

    @pytest.mark.parametrize(("cls", "text"), [
        ("gpu_xid_79", "XID 79 (GPU has fallen off the bus)"),
        ("gpu_xid_31", "XID 31 (GPU memory page fault)"),
        ("gpu_xid_999", "XID 999"),
        ("gpu_ecc_dbe", "a double-bit ECC error"),
        ("some_new_fault", "some new fault"),
        ("generic_timeout", "timeouts in its logs"),
        ("generic_odd_kind", "odd kind in its logs"),
    ])
    def test_describe_fault(self, cls: str, text: str) -> None:
        """Fault classes read as phrases; unknown ones still read."""
        assert describe_fault(cls) == text

    def test_gpu_hint_with_power_excursion_and_ecc(self) -> None:
        """The sentence names power excursions and new ECC errors when present."""
        h = {"minutes": 10, "thermal_excursion": False, "power_excursion": True,
             "power_excursion_minutes": 3, "power_w": {"max": 699.0}, "ecc_dbe_delta": 2.0}
        text = gpu_fault_hint("a1", "0", "gpu_xid_48", h)
        assert text == ("GPU 0 on host a1 reported XID 48 (double-bit ECC error) after "
                        "3 minutes of power excursion (peak 699 W); "
                        "2 new double-bit ECC errors.")

    def test_rack_hint_by_cause(self) -> None:
        """All silent: power or switch; mixed: names how many went silent."""
        assert "rack power" in rack_hint("r1", ["a", "b", "c"], ["a", "b", "c"], None, 9_000)
        assert "2 went silent" in rack_hint("r1", ["a", "b", "c"], ["a", "b"], 16, 9_000)
        assert "3 of 16 hosts" in rack_hint("r1", ["a", "b", "c"], [], 16, 9_000)

    def test_group_hint_singular(self) -> None:
        """One reporting host reads as one host."""
        assert group_hint("job", "j", ["a"], ["nccl_error"], None).startswith(
            "NCCL errors on 1 host of job j")


class TestWhichGpuFromMetrics:
    """The GPU of a fault named by its own precursor in the metrics."""

    def test_gpu_with_xid(self) -> None:
        """The GPU whose gpu.xid series shows the code; none when two or none do."""
        ctx = {"series": {"gpu.xid{gpu=2}": {"last": 79.0},
                          "gpu.xid{gpu=4}": series([(13.0, 13.0, 13.0)])}}
        assert gpu_with_xid(ctx, "79") == "2"
        assert gpu_with_xid(ctx, "13") == "4"
        assert gpu_with_xid(ctx, "48") is None
        ctx["series"]["gpu.xid{gpu=5}"] = {"recent": [1.0, 79.0]}
        assert gpu_with_xid(ctx, "79") is None

    def test_likely_gpu_follows_the_fault_class(self) -> None:
        """NVLink errors point at XID 74's GPU, new DBEs at XID 48's."""
        ctx = {"series": {
            "gpu.nvlink_errors_per_s{gpu=1}": series([(0, 9, 4)]),
            "gpu.nvlink_errors_per_s{gpu=2}": series([(0, 0, 0)]),
            "gpu.ecc.dbe_volatile{gpu=6}": series([(0, 0, 0), (0, 1, 0.5)]),
            "gpu.ecc.dbe_volatile{gpu=1}": series([(2, 2, 2), (2, 2, 2)]),
        }}
        assert likely_gpu(ctx, "gpu_xid_74") == ("1", "NVLink errors")
        assert likely_gpu(ctx, "gpu_xid_48") == ("6", "new double-bit ECC errors")
        assert likely_gpu(ctx, "gpu_xid_13") is None

    def test_likely_gpu_by_lone_warming(self) -> None:
        """One GPU warming while its peers cool (a stalled job) is singled out."""
        cooling = [(70.0, 72.0, 71.0), (40.0, 42.0, 41.0), (35.0, 36.0, 35.5)]
        warming = [(70.0, 72.0, 71.0), (35.0, 36.0, 35.5), (40.0, 42.0, 41.0)]
        ctx = {"series": {"gpu.temperature{gpu=0}": series(cooling),
                          "gpu.temperature{gpu=3}": series(warming)}}
        assert likely_gpu(ctx, "gpu_xid_79") == ("3", "its temperature rise")

    def test_power_spike_shared_by_peers_is_no_excursion(self) -> None:
        """All GPUs drawing more together (a job starting) is not one GPU's excursion."""
        busy = [(100, 110, 105)] * 3 + [(600, 660, 640)]
        ctx = {"series": {f"gpu.power_watts{{gpu={g}}}": series(busy) for g in "0123"}}
        h = gpu_history(ctx, "0")
        assert h is not None
        assert h["power_excursion"] is False
