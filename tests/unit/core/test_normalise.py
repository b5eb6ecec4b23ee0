"""Canonical names, units and labels; impossible values rejected."""

from __future__ import annotations

import pytest

from streams.core.deadletter import Rejected
from streams.core.normalise import canonical_labels, canonical_name, check_value


class TestNames:
    def test_percent_alias_becomes_fraction(self) -> None:
        """cpu.percent=85 is cpu.usage=0.85."""
        c = canonical_name("cpu.percent")
        assert c.name == "cpu.usage"
        assert check_value(c, 85.0) == pytest.approx(0.85)

    def test_canonical_name_passes_unchanged(self) -> None:
        """A catalogue name keeps its name and value."""
        c = canonical_name("disk.read_bytes_per_s")
        assert (c.name, check_value(c, 1234.0)) == ("disk.read_bytes_per_s", 1234.0)

    def test_uncatalogued_metric_passes_through(self) -> None:
        """Unknown metrics flow under their own name, any value allowed."""
        c = canonical_name("my.app.queue_depth")
        assert c.name == "my.app.queue_depth"
        assert check_value(c, -5.0) == -5.0


class TestImpossibleValues:
    @pytest.mark.parametrize(("name", "value"), [
        ("cpu.usage", 7.3), ("cpu.usage", -0.1), ("cpu.percent", 730.0),
        ("disk.read_bytes_per_s", -1.0), ("gpu.temperature", 400.0),
    ])
    def test_rejected_with_reason(self, name: str, value: float) -> None:
        """Values no machine can produce are rejected and the reason names the metric."""
        c = canonical_name(name)
        with pytest.raises(Rejected) as e:
            check_value(c, value)
        assert e.value.code == "impossible_value"
        assert c.name in e.value.reason

    def test_fraction_tolerates_rounding(self) -> None:
        """Counter arithmetic can overshoot 1.0 slightly; that is not an error."""
        assert check_value(canonical_name("cpu.usage"), 1.01) == 1.01


class TestLabels:
    def test_keys_lowercased_and_snake_cased(self) -> None:
        """'Rack ID' and 'rack_id' are one label."""
        assert canonical_labels({"Rack ID": " r1 ", "GPU": "3"}) == {"rack_id": "r1", "gpu": "3"}

    def test_empty_values_dropped(self) -> None:
        """An empty label is no label."""
        assert canonical_labels({"zone": "", "rack": "r1"}) == {"rack": "r1"}
