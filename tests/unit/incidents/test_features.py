"""Features of a host for the fault model."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.incidents import FEATURES, features_from_context

from .builders import gpu_context, series


class TestFeatures:
    """The fault model's features of one host context."""

    def test_every_feature_is_present_and_zero_for_nothing(self) -> None:
        """An empty or missing context gives all features, all zero."""
        contexts: list[dict[str, Any] | None] = [None, {}, {"series": {}}]
        for ctx in contexts:
            f = features_from_context(ctx)
            assert list(f) == list(FEATURES)
            assert set(f.values()) == {0.0}

    def test_hot_gpu_versus_cool_gpu(self) -> None:
        """Heat, throttling and temperature rise show in the GPU features."""
        hot = features_from_context(gpu_context("0", hot=True))
        cool = features_from_context(gpu_context("0", hot=False))
        assert hot["gpu_hot_minutes"] == 0.5
        assert hot["gpu_thermal_throttle"] == 0.5
        assert cool["gpu_hot_minutes"] == 0.0
        assert hot["gpu_temp_peak"] == 104.0
        assert hot["gpu_temp_rise"] > 20 > cool["gpu_temp_rise"]
        assert hot["gpu_power_frac"] == pytest.approx(300 / 700)

    def test_counts_are_log_compressed_and_symptoms_ignored(self) -> None:
        """Recent faults: GPU and other counted apart, log1p; NCCL symptoms not at all."""
        f = features_from_context({"recent_faults": {"gpu_xid_79": 2, "nvlink_error": 1,
                                                     "oom_kill": 1, "nccl_timeout": 50,
                                                     "bad": "x"}})
        assert f["faults_gpu"] == pytest.approx(math.log1p(3))
        assert f["faults_other"] == pytest.approx(math.log1p(1))
        assert f["faults_generic"] == 0.0

    def test_generic_faults_have_their_own_feature(self) -> None:
        """generic_* classes count in faults_generic, never in faults_other or faults_gpu."""
        f = features_from_context({"recent_faults": {"generic_network": 3, "generic_error": 1,
                                                     "oom_kill": 2}})
        assert f["faults_generic"] == pytest.approx(math.log1p(4))
        assert f["faults_other"] == pytest.approx(math.log1p(2))
        assert f["faults_gpu"] == 0.0

    def test_host_series(self) -> None:
        """CPU, memory rise, iowait and network errors come from their series."""
        ctx = {"series": {
            "cpu.usage": {"ewma": 0.9, "last": 0.95},
            "mem.usage": series([(0.5, 0.5, 0.5), (0.7, 0.8, 0.75)]),
            "cpu.iowait": {"last": 0.2},
            "net.rx_errors_per_s{interface=eth0}": {"ewma": 1.0},
            "net.tx_drops_per_s{interface=eth0}": {"ewma": 0.5},
        }}
        f = features_from_context(ctx)
        assert f["cpu_usage"] == 0.9
        assert f["mem_rise"] == pytest.approx(0.25)
        assert f["cpu_iowait"] == 0.2
        assert f["net_errors"] == pytest.approx(math.log1p(90.0))

    @given(st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["series", "recent_faults", "minutes", "last",
                                           "ewma", "gpu.temperature{gpu=0}", "cpu.usage"]),
                          inner, max_size=4),
        max_leaves=20))
    def test_junk_context_never_raises_and_stays_finite(self, ctx: Any) -> None:
        """Whatever the context holds, the features are all there and finite."""
        f = features_from_context(ctx)
        assert list(f) == list(FEATURES)
        assert all(math.isfinite(v) for v in f.values())
