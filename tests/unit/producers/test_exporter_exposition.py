"""Exposition bodies (Prometheus text, OpenMetrics) regrouped into families of series."""

from __future__ import annotations

import math

import pytest

from producers.exporters.exposition import ExpositionError, Histogram, Summary, parse

TEXT = """\
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason="stop",model_name="m"} 38.0
# TYPE vllm:request_success_created gauge
vllm:request_success_created{finished_reason="stop",model_name="m"} 1.7e+09
# TYPE lat histogram
lat_bucket{le="0.5",model_name="m"} 1.0
lat_bucket{le="+Inf",model_name="m"} 3.0
lat_count{model_name="m"} 3.0
lat_sum{model_name="m"} 2.5
# TYPE s summary
s{quantile="0.5"} 0.2
s{quantile="0.99"} NaN
s_sum 4.0
s_count 10.0
# TYPE DCGM_FI_DEV_ECC_SBE_VOL_TOTAL counter
DCGM_FI_DEV_ECC_SBE_VOL_TOTAL{gpu="0"} 3
http_requests_total{code="200"} 12
# TYPE jobs_created gauge
jobs_created 4
"""


class TestTextFormat:
    """The 0.0.4 text format as prometheus-client reads it."""

    def test_counter_with_its_created_time_folded_in(self) -> None:
        """prometheus-client exporters expose `X_created` as a gauge of its own."""
        fam = parse(TEXT)["vllm:request_success"]
        key = (("finished_reason", "stop"), ("model_name", "m"))
        assert (fam.kind, fam.series[key], fam.created[key]) == ("counter", 38.0, 1.7e9)
        assert "vllm:request_success_created" not in parse(TEXT)

    def test_histogram_buckets_count_sum(self) -> None:
        """Buckets are grouped per series, the `le` label taken out."""
        fam = parse(TEXT)["lat"]
        assert fam.series[(("model_name", "m"),)] == Histogram(((0.5, 1.0), (math.inf, 3.0)),
                                                              3.0, 2.5)

    def test_summary_keeps_nan_quantiles_for_the_converter(self) -> None:
        """The parser does not judge values; NaN stays NaN."""
        value = parse(TEXT)["s"].series[()]
        assert isinstance(value, Summary)
        assert (value.count, value.sum, value.quantiles[0]) == (10.0, 4.0, (0.5, 0.2))
        assert math.isnan(value.quantiles[1][1])

    def test_uppercase_total_counter_keeps_its_name(self) -> None:
        """DCGM's `..._VOL_TOTAL` counters are named as exposed."""
        fam = parse(TEXT)["DCGM_FI_DEV_ECC_SBE_VOL_TOTAL"]
        assert (fam.kind, fam.series[(("gpu", "0"),)]) == ("counter", 3.0)

    def test_untyped_total_is_a_counter(self) -> None:
        """A sample without TYPE that ends in `_total` counts, by convention."""
        fam = parse(TEXT)["http_requests"]
        assert (fam.kind, fam.series[(("code", "200"),)]) == ("counter", 12.0)

    def test_a_gauge_that_merely_ends_in_created_stays(self) -> None:
        """No family `jobs` exists, so `jobs_created` is a gauge of its own."""
        fam = parse(TEXT)["jobs_created"]
        assert (fam.kind, fam.series[()]) == ("gauge", 4.0)

    def test_malformed_body_is_an_error_that_says_so(self) -> None:
        """A broken line raises ExpositionError naming the format."""
        with pytest.raises(ExpositionError, match="Prometheus text"):
            parse('x{a="1" 1\n')


class TestOpenMetrics:
    """OpenMetrics 1.0, chosen by the response's content type."""

    BODY = """\
# TYPE a counter
a_total{x="1"} 3
a_created{x="1"} 1.7e9
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 2
h_count 2
h_sum 3
# TYPE i info
i_info{version="1.2"} 1
# EOF
"""

    def test_counter_and_histogram(self) -> None:
        """Counters lose `_total`, `_created` is kept, info families carry nothing."""
        fams = parse(self.BODY, "application/openmetrics-text; version=1.0.0; charset=utf-8")
        assert fams["a"].series == {(("x", "1"),): 3.0}
        assert fams["a"].created == {(("x", "1"),): 1.7e9}
        assert fams["h"].series[()] == Histogram(((1.0, 1.0), (math.inf, 2.0)), 2.0, 3.0)
        assert set(fams) == {"a", "h"}

    def test_missing_eof_is_an_error(self) -> None:
        """OpenMetrics requires its end marker; a cut-off body is refused."""
        with pytest.raises(ExpositionError, match="OpenMetrics"):
            parse(self.BODY.replace("# EOF\n", ""), "application/openmetrics-text")
