"""Validation of the API's query parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console import params
from console.params import ParamError

NOW = 1_800_000_000_000


class TestNames:
    """Names follow strict shapes; anything else is refused with the parameter named."""

    @pytest.mark.parametrize("host", ["r01-gpu05", "node.example.org", "h_1", "10.0.0.7",
                                      "edge0001"])
    def test_hosts_accepted(self, host: str) -> None:
        """Host names as agents send them pass unchanged."""
        assert params.host_name(host) == host

    @pytest.mark.parametrize("host", ["", "-r01", "r01 gpu", "r'1", "a/b", "x" * 254, "é"])
    def test_hosts_refused(self, host: str) -> None:
        """Spaces, quotes, slashes, a leading dash and over-long names are refused."""
        with pytest.raises(ParamError, match="host"):
            params.host_name(host)

    @pytest.mark.parametrize(("metric", "ok"), [
        ("gpu.temperature", True), ("disk.read_bytes_per_s", True), ("cpu", True),
        ("Gpu.temp", False), ("gpu..t", False), ("gpu.t'", False), (".x", False)])
    def test_metric(self, metric: str, ok: bool) -> None:
        """Dotted lower-case names only."""
        if ok:
            assert params.metric_name(metric) == metric
        else:
            with pytest.raises(ParamError):
                params.metric_name(metric)

    def test_template_id(self) -> None:
        """Template ids are opaque short names without quotes or spaces."""
        assert params.template_id("4e2ed65191104680") == "4e2ed65191104680"
        with pytest.raises(ParamError):
            params.template_id("4e2' OR 1")

    def test_choice_and_limit(self) -> None:
        """Choices come from their list, limits are bounded integers."""
        assert params.choice({}, "order", ("count", "novelty"), "count") == "count"
        assert params.choice({"order": "novelty"}, "order", ("count", "novelty")) == "novelty"
        with pytest.raises(ParamError, match="order"):
            params.choice({"order": "rand()"}, "order", ("count", "novelty"))
        assert params.limit({"limit": "20"}, 5, 100) == 20
        for bad in ("0", "101", "-1", "1e3", "x"):
            with pytest.raises(ParamError):
                params.limit({"limit": bad}, 5, 100)


class TestTimeRange:
    """Ranges are presets ending now or explicit epoch milliseconds, bounded in span."""

    def test_preset(self) -> None:
        """range=1h ends now and starts an hour before, in 5 s buckets (720 at most)."""
        r = params.time_range({"range": "1h"}, NOW)
        assert (r.from_ms, r.to_ms, r.step_ms) == (NOW - 3_600_000, NOW, 5_000)

    def test_explicit(self) -> None:
        """from/to are taken as given; to defaults to now."""
        r = params.time_range({"from": str(NOW - 60_000), "to": str(NOW - 1_000)}, NOW)
        assert (r.from_ms, r.to_ms, r.step_ms) == (NOW - 60_000, NOW - 1_000, 1_000)
        assert params.time_range({"from": str(NOW - 60_000)}, NOW).to_ms == NOW

    @pytest.mark.parametrize("q", [{"range": "2h"}, {"from": "abc"}, {"from": "5", "to": "4"},
                                   {"from": "0", "to": str(40 * 86_400_000)}])
    def test_refused(self, q: dict[str, str]) -> None:
        """Unknown presets, non-numbers, reversed and over-long spans are refused."""
        with pytest.raises(ParamError):
            params.time_range(q, NOW)

    @given(span=st.integers(1, params.MAX_SPAN_MS))
    def test_step_bounds_the_points(self, span: int) -> None:
        """Any span gives at most MAX_POINTS buckets of at least a second."""
        r = params.time_range({"from": str(NOW - span), "to": str(NOW)}, NOW)
        assert r.step_ms >= 1_000
        assert -(-span // r.step_ms) <= params.MAX_POINTS
