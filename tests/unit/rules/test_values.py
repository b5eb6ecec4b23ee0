"""Durations, numbers with units and RFC 3339 formatting."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.rules.values import format_rfc3339_ms, parse_duration_ms, parse_number


class TestDuration:
    @pytest.mark.parametrize(("text", "ms"), [
        ("250ms", 250), ("90s", 90_000), ("5m", 300_000), ("1h30m", 5_400_000),
        ("2d", 172_800_000), ("1w", 604_800_000), ("1.5s", 1500), (0, 0), ("0s", 0),
    ])
    def test_parses_prometheus_durations(self, text: object, ms: int) -> None:
        """Prometheus-style durations become milliseconds."""
        assert parse_duration_ms(text) == ms

    @pytest.mark.parametrize("bad", ["5", 5, "", "5 minutes", "m5", "5m 3s", True, None, "-5m"])
    def test_refuses_ambiguous_or_malformed(self, bad: object) -> None:
        """A duration needs a unit; anything else is an error, not a guess."""
        with pytest.raises(ValueError, match="duration"):
            parse_duration_ms(bad)


class TestNumber:
    @pytest.mark.parametrize(("text", "value"), [
        (0.8, 0.8), (85, 85.0), ("80%", 0.8), ("50M", 50e6), ("50e6", 50e6), ("1.5Gi", 1.5 * 2**30),
        ("2k", 2000.0), ("-3", -3.0), (".5", 0.5),
    ])
    def test_parses_units(self, text: object, value: float) -> None:
        """Percent, SI and IEC suffixes scale the number."""
        assert parse_number(text) == pytest.approx(value)

    @pytest.mark.parametrize("bad", [True, "80 percent", "fast", "inf", float("nan"), None, [1]])
    def test_refuses_non_numbers(self, bad: object) -> None:
        """Booleans, words, NaN and infinity are not thresholds."""
        with pytest.raises(ValueError, match="number"):
            parse_number(bad)


class TestRfc3339:
    def test_formats_with_milliseconds_and_z(self) -> None:
        """Alert times are UTC with exactly three fractional digits."""
        assert format_rfc3339_ms(1_704_067_205_000) == "2024-01-01T00:00:05.000Z"
        assert format_rfc3339_ms(1_704_067_205_042) == "2024-01-01T00:00:05.042Z"

    @given(st.integers(min_value=0, max_value=4_102_444_800_000))
    def test_round_trips_through_datetime(self, ms: int) -> None:
        """Parsing the text back gives the same millisecond."""
        text = format_rfc3339_ms(ms)
        t = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert calendar.timegm(t.timetuple()) * 1000 + t.microsecond // 1000 == ms
