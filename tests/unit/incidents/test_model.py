"""The fault model: formula, model file round trip and validation, the shipped default."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.incidents import FEATURES, FaultModel, ModelError
from streams.incidents.model import sigmoid


class TestScore:
    """Scoring a host with the logistic model."""

    def test_score_is_the_logistic_of_the_linear_form(self) -> None:
        """P = 1 / (1 + exp(-(b0 + sum b_i x_i)))."""
        m = FaultModel(intercept=-1.5, coefficients={"a": 2.0, "b": -0.5})
        z = -1.5 + 2.0 * 0.7 - 0.5 * 3.0
        assert m.score({"a": 0.7, "b": 3.0}) == pytest.approx(1 / (1 + math.exp(-z)))

    def test_missing_and_unknown_features(self) -> None:
        """Missing features count as 0; features the model does not know are ignored."""
        m = FaultModel(intercept=0.3, coefficients={"a": 2.0})
        assert m.score({}) == pytest.approx(sigmoid(0.3))
        assert m.score({"zzz": 100.0}) == pytest.approx(sigmoid(0.3))

    def test_non_finite_inputs_are_ignored(self) -> None:
        """A NaN or infinite feature does not poison the score."""
        m = FaultModel(intercept=0.0, coefficients={"a": 1.0})
        assert m.score({"a": float("nan")}) == 0.5
        assert m.score({"a": float("inf")}) == 0.5

    @given(st.floats(-1e6, 1e6))
    def test_sigmoid_never_overflows(self, z: float) -> None:
        """The logistic stays within [0, 1] for any finite logit."""
        assert 0.0 <= sigmoid(z) <= 1.0

    def test_contributions_are_the_positive_terms(self) -> None:
        """Drivers: the b_i * x_i pushing the score up, largest first, at most `top`."""
        m = FaultModel(intercept=0.0, coefficients={"a": 1.0, "b": -5.0, "c": 3.0, "d": 0.1})
        assert m.contributions({"a": 2.0, "b": 1.0, "c": 1.0, "d": 1.0}, top=2) == {
            "c": 3.0, "a": 2.0}


class TestModelFile:
    """The model file: read, written, and checked."""

    def test_round_trip(self, tmp_path: Path) -> None:
        """save() then load() gives the same model."""
        m = FaultModel(intercept=-2.0, coefficients={"a": 1.25}, threshold=0.3,
                       horizon_ms=300_000, meta={"note": "x"})
        path = tmp_path / "m.json"
        m.save(path)
        assert FaultModel.load(path) == m

    @pytest.mark.parametrize(("data", "why"), [
        ({"schema": "other", "intercept": 0, "coefficients": {}}, "schema"),
        ({"schema": "rackwatch.fault_model/v1", "coefficients": {}}, "intercept"),
        ({"schema": "rackwatch.fault_model/v1", "intercept": 0, "coefficients": []},
         "coefficients"),
        ({"schema": "rackwatch.fault_model/v1", "intercept": 0, "coefficients": {"a": "1"}},
         "coefficient a"),
        ({"schema": "rackwatch.fault_model/v1", "intercept": 0, "coefficients": {},
          "threshold": 1.5}, "threshold"),
        ({"schema": "rackwatch.fault_model/v1", "intercept": 0, "coefficients": {},
          "horizon_ms": 0}, "horizon_ms"),
        ([1, 2], "object"),
    ])
    def test_bad_files_are_refused_with_the_reason(self, tmp_path: Path, data: object,
                                                   why: str) -> None:
        """A model file that cannot be used says which field is wrong."""
        path = tmp_path / "bad.json"
        path.write_bytes(orjson.dumps(data))
        with pytest.raises(ModelError, match=why):
            FaultModel.load(path)

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A missing or non-JSON file is a ModelError naming the path."""
        with pytest.raises(ModelError, match=r"nope\.json"):
            FaultModel.load(tmp_path / "nope.json")
        (tmp_path / "junk.json").write_text("{")
        with pytest.raises(ModelError, match=r"junk\.json"):
            FaultModel.load(tmp_path / "junk.json")

    def test_the_shipped_default_model_loads(self) -> None:
        """The default model covers the standard features and says how it was trained."""
        m = FaultModel.default()
        assert set(m.coefficients) == set(FEATURES)
        assert 0.0 < m.threshold < 1.0
        assert m.meta["trained_on"]["source"] == "simulator"
        assert "held_out" in m.meta
        assert m.score({}) < m.threshold  # a host showing nothing is not flagged
