"""Logistic-regression training and evaluation."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.incidents import FaultModel, TrainingError, evaluate, train
from streams.incidents.training import _auc, best_threshold

Example = tuple[dict[str, float], int]


def synthetic(n: int, seed: int, b0: float = -1.0, b: tuple[float, float] = (2.0, -1.0),
              scale: float = 1.0) -> list[Example]:
    """Examples drawn from a known logistic model."""
    rng = random.Random(seed)
    out: list[Example] = []
    for _ in range(n):
        x1, x2 = rng.gauss(0, 1) * scale, rng.gauss(3, 2) * scale
        z = b0 + b[0] * x1 / scale + b[1] * (x2 / scale - 3.0)
        y = 1 if rng.random() < 1 / (1 + math.exp(-z)) else 0
        out.append(({"x1": x1, "x2": x2}, y))
    return out


class TestTrain:
    """Fitting a model on labelled snapshots."""

    def test_recovers_known_coefficients(self) -> None:
        """With plenty of data and a weak penalty the fitted b's are close to the truth."""
        m = train(synthetic(6000, 1), l2=0.01, tune_threshold=False)
        assert m.coefficients["x1"] == pytest.approx(2.0, abs=0.2)
        assert m.coefficients["x2"] == pytest.approx(-1.0, abs=0.1)
        assert m.intercept == pytest.approx(-1.0 + 3.0, abs=0.35)  # b0 - b2 * mean shift
        assert m.threshold == 0.5

    def test_coefficients_are_in_raw_units(self) -> None:
        """Scaling a feature by 100 scales its coefficient by 1/100 (standardisation folded)."""
        a = train(synthetic(3000, 2), l2=0.01, tune_threshold=False)
        b = train(synthetic(3000, 2, scale=100.0), l2=0.01, tune_threshold=False)
        assert b.coefficients["x1"] * 100 == pytest.approx(a.coefficients["x1"], rel=1e-4)

    def test_pure_python_matches_numpy(self) -> None:
        """The fallback without numpy fits the same model."""
        data = synthetic(800, 3)
        a = train(data, l2=1.0, use_numpy=True)
        b = train(data, l2=1.0, use_numpy=False)
        for k in a.coefficients:
            assert a.coefficients[k] == pytest.approx(b.coefficients[k], rel=1e-6, abs=1e-9)
        assert a.intercept == pytest.approx(b.intercept, rel=1e-6)

    def test_penalty_shrinks(self) -> None:
        """A strong L2 penalty pulls coefficients towards zero."""
        data = synthetic(1000, 4)
        weak = train(data, l2=0.01)
        strong = train(data, l2=1000.0)
        assert abs(strong.coefficients["x1"]) < abs(weak.coefficients["x1"]) / 2

    def test_separable_data_stays_finite(self) -> None:
        """Perfectly separable classes do not blow the coefficients up (L2)."""
        data = [({"x": float(i)}, 1 if i > 50 else 0) for i in range(100)]
        m = train(data, l2=1.0)
        assert math.isfinite(m.coefficients["x"])
        assert evaluate(m, data).f1 == 1.0

    def test_constant_feature_gets_no_weight(self) -> None:
        """A feature that never varies cannot explain anything."""
        data = [({"x": float(i % 7), "c": 5.0}, i % 2) for i in range(200)]
        m = train(data, l2=1.0)
        assert m.coefficients["c"] == pytest.approx(0.0, abs=1e-9)

    @pytest.mark.parametrize("labels", [[], [0, 0, 0], [1, 1]])
    def test_needs_both_classes(self, labels: list[int]) -> None:
        """Without both faulty and healthy examples there is nothing to learn."""
        with pytest.raises(TrainingError):
            train([({"x": 1.0}, y) for y in labels])

    def test_training_figures_are_recorded(self) -> None:
        """The model's meta says how many examples and how it did on them."""
        m = train(synthetic(500, 5), meta={"trained_on": "test"})
        assert m.meta["trained_on"] == "test"
        assert m.meta["training"]["examples"] == 500
        assert 0.0 <= m.meta["training"]["precision"] <= 1.0


class TestEvaluate:
    """Evaluating a model on held-out snapshots."""

    def test_confusion_counts(self) -> None:
        """Precision and recall from hand-countable cases."""
        m = FaultModel(intercept=0.0, coefficients={"x": 1.0}, threshold=0.5)
        data = [({"x": 2.0}, 1), ({"x": 1.0}, 0), ({"x": -1.0}, 1), ({"x": -2.0}, 0),
                ({"x": 3.0}, 1)]
        ev = evaluate(m, data)
        assert (ev.tp, ev.fp, ev.fn, ev.tn) == (2, 1, 1, 1)
        assert ev.precision == pytest.approx(2 / 3)
        assert ev.recall == pytest.approx(2 / 3)

    def test_auc_extremes_and_ties(self) -> None:
        """AUC is 1 for a perfect ranking, 0 for a reversed one, 0.5 for all ties."""
        assert _auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
        assert _auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
        assert _auc([0.5] * 4, [0, 1, 0, 1]) == 0.5
        assert _auc([0.5, 0.6], [1, 1]) is None

    @given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), min_size=2, max_size=40))
    def test_best_threshold_is_no_worse_than_any_observed_cut(
            self, pairs: list[tuple[float, int]]) -> None:
        """The chosen cut has an F1 at least that of any score used as a cut."""
        scores = [p[0] for p in pairs]
        labels = [p[1] for p in pairs]

        def f1(t: float) -> float:
            tp = sum(1 for s, y in pairs if s >= t and y)
            fp = sum(1 for s, y in pairs if s >= t and not y)
            fn = sum(1 for s, y in pairs if s < t and y)
            return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

        t = best_threshold(scores, labels)
        assert 0.01 <= t <= 0.99
        cuts = [min(0.99, max(0.01, s)) for s in scores]
        assert f1(t) >= max(f1(c) for c in cuts) - 1e-12
