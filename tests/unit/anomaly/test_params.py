"""AnomalyParams: defaults, and rejection of values a rule file could carry by mistake."""

from __future__ import annotations

import dataclasses

import pytest

from streams.anomaly import DEFAULT_PARAMS, AnomalyParams


class TestAnomalyParams:
    def test_defaults_are_valid_and_shared(self) -> None:
        """The defaults construct, and DEFAULT_PARAMS is the default instance."""
        assert AnomalyParams() == DEFAULT_PARAMS
        assert DEFAULT_PARAMS.horizon == DEFAULT_PARAMS.block * DEFAULT_PARAMS.blocks == 4096

    def test_frozen(self) -> None:
        """Parameters cannot be changed after construction (they are shared by series)."""
        with pytest.raises(dataclasses.FrozenInstanceError):
            DEFAULT_PARAMS.hold = 3  # type: ignore[misc]

    @pytest.mark.parametrize(("name", "value"), [
        ("window", 2.5), ("block", "32"), ("hold", True), ("seasonal", 1), ("fast", "0.5"),
        ("min_scale", float("nan")), ("fast", None), ("margin", "0.1"), ("startup", 1.5),
    ])
    def test_wrong_types_raise_type_error(self, name: str, value: object) -> None:
        """A wrongly typed value (as YAML might give) is a TypeError naming the field."""
        with pytest.raises(TypeError, match=name):
            AnomalyParams(**{name: value})  # type: ignore[arg-type]

    @pytest.mark.parametrize(("name", "value"), [
        ("fast", 0.0), ("fast", 1.5), ("window", 0), ("block", 0), ("min_blocks", 2),
        ("min_blocks", 100), ("season_bins", 1), ("season_rate", 0.0), ("season_gain", 0.9),
        ("baseline", 0), ("hold", -1), ("min_scale", -1.0), ("margin", -0.1), ("step", 0.0),
        ("day_bins", 1), ("season_periods", 0), ("startup", -1), ("rank", 3), ("rank", 0),
    ])
    def test_out_of_range_raise_value_error(self, name: str, value: object) -> None:
        """An impossible value is a ValueError that says which bound it breaks."""
        with pytest.raises(ValueError, match=name):
            AnomalyParams(**{name: value})  # type: ignore[arg-type]

    def test_ints_accepted_for_float_fields(self) -> None:
        """YAML `min_scale: 1` (an int) is a valid float parameter."""
        assert AnomalyParams(min_scale=1, fast=1).min_scale == 1
