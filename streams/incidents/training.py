"""Fitting and judging the fault model: L2-regularised logistic regression.

Newton's method (iteratively reweighted least squares) on standardised features:
with a few dozen features it converges in a handful of steps and needs no learning
rate. numpy is used when it is installed (it comes with chDB); otherwise the same
algorithm runs in pure Python, fast enough for tens of thousands of examples.

The intercept is not penalised. After fitting, the standardisation is folded back into
the coefficients so the saved model is the plain formula over raw features.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streams.incidents.model import FaultModel, sigmoid

__all__ = ["Evaluation", "TrainingError", "best_threshold", "evaluate", "train"]

log = logging.getLogger(__name__)

Example = tuple[dict[str, float], int]


class TrainingError(ValueError):
    """Examples a model cannot be fitted from (none, or only one class)."""


@dataclass(frozen=True)
class Evaluation:
    """Confusion counts at a threshold, and what operators read from them."""

    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    auc: float | None

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": round(self.threshold, 4), "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "auc": None if self.auc is None else round(self.auc, 4),
                "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}


def _auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """Area under the ROC curve by the rank-sum formula; ties count one half."""
    pos = sum(1 for y in labels if y)
    neg = len(labels) - pos
    if not pos or not neg:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        avg_rank = (i + j) / 2 + 1
        rank_sum += avg_rank * sum(1 for k in range(i, j + 1) if labels[order[k]])
        i = j + 1
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def evaluate(model: FaultModel, examples: Sequence[Example],
             threshold: float | None = None) -> Evaluation:
    """Precision, recall and AUC of a model on labelled examples."""
    t = model.threshold if threshold is None else threshold
    scores = [model.score(x) for x, _ in examples]
    labels = [1 if y else 0 for _, y in examples]
    tp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= t and y)
    fp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= t and not y)
    fn = sum(1 for s, y in zip(scores, labels, strict=True) if s < t and y)
    return Evaluation(t, tp, fp, fn, len(labels) - tp - fp - fn, _auc(scores, labels))


def best_threshold(scores: Sequence[float], labels: Sequence[int], lo: float = 0.01,
                   hi: float = 0.99) -> float:
    """The cut in [lo, hi] with the best F1 (the higher cut on ties).

    Candidates are the scores themselves, clipped into [lo, hi]: a model file must not
    say "flag everything" or "flag nothing".
    """
    pairs = sorted(zip(scores, labels, strict=True), key=lambda p: -p[0])
    pos = sum(1 for y in labels if y)
    candidates = sorted({min(hi, max(lo, sc)) for sc in scores}, reverse=True)
    best, best_f1 = 0.5, -1.0
    k = tp = 0
    for t in candidates:
        while k < len(pairs) and pairs[k][0] >= t:
            tp += 1 if pairs[k][1] else 0
            k += 1
        f1 = 2 * tp / (k + pos) if pos and k else 0.0
        if f1 > best_f1:
            best, best_f1 = t, f1
    return best


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the matrix is small and SPD)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        d = m[col][col]
        if abs(d) < 1e-300:
            raise TrainingError("singular system while fitting (is l2 zero?)")
        for r in range(col + 1, n):
            f = m[r][col] / d
            if f:
                row, prow = m[r], m[col]
                for c in range(col, n + 1):
                    row[c] -= f * prow[c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def _newton_python(rows: list[list[float]], y: list[int], l2: float, max_iter: int,
                   tol: float) -> list[float]:
    d = len(rows[0])
    w = [0.0] * d
    for _ in range(max_iter):
        g = [l2 * w[j] if j else 0.0 for j in range(d)]
        h = [[(l2 if i == j and i else 0.0) for j in range(d)] for i in range(d)]
        for x, t in zip(rows, y, strict=True):
            p = sigmoid(sum(wj * xj for wj, xj in zip(w, x, strict=True)))
            r = p - t
            q = p * (1.0 - p)
            for i in range(d):
                xi = x[i]
                g[i] += r * xi
                qi = q * xi
                hi = h[i]
                for j in range(i + 1):
                    hi[j] += qi * x[j]
        for i in range(d):
            for j in range(i):
                h[j][i] = h[i][j]
        step = _solve(h, g)
        w = [wj - sj for wj, sj in zip(w, step, strict=True)]
        if max(abs(s) for s in step) < tol:
            break
    return w


def _newton_numpy(rows: list[list[float]], y: list[int], l2: float, max_iter: int,
                  tol: float) -> list[float] | None:
    try:
        import numpy as np
    except ImportError:
        return None
    x = np.asarray(rows, dtype=float)
    t = np.asarray(y, dtype=float)
    d = x.shape[1]
    w = np.zeros(d)
    reg = np.full(d, l2)
    reg[0] = 0.0
    for _ in range(max_iter):
        z = x @ w
        p = np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))),
                     np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))
        g = x.T @ (p - t) + reg * w
        h = (x * (p * (1.0 - p))[:, None]).T @ x + np.diag(reg)
        step = np.linalg.solve(h, g)
        w = w - step
        if float(np.max(np.abs(step))) < tol:
            break
    return [float(v) for v in w]


def train(examples: Sequence[Example], *, features: Sequence[str] | None = None,
          l2: float = 1.0, max_iter: int = 50, tol: float = 1e-8,
          horizon_ms: int = 600_000, tune_threshold: bool = True,
          meta: dict[str, Any] | None = None, use_numpy: bool = True) -> FaultModel:
    """Fit P(fault) from (features, label) examples; labels are 0/1.

    `features` fixes the feature names (default: every name seen, sorted). The decision
    threshold is the F1-best cut on the training examples when `tune_threshold`, else 0.5:
    faults are rare, and 0.5 on a calibrated score would trade most of the recall away.
    """
    if not examples:
        raise TrainingError("no training examples")
    labels = [1 if y else 0 for _, y in examples]
    if all(labels) or not any(labels):
        raise TrainingError("training needs both faulty and healthy examples, "
                            f"got {sum(labels)} of {len(labels)} positive")
    if l2 < 0:
        raise TrainingError("l2 must not be negative")
    names = list(features) if features is not None else sorted({k for x, _ in examples
                                                                for k in x})
    cols = [[_clean(x.get(n, 0.0)) for n in names] for x, _ in examples]
    n = len(cols)
    means = [sum(c[j] for c in cols) / n for j in range(len(names))]
    stds = []
    for j, m in enumerate(means):
        var = sum((c[j] - m) ** 2 for c in cols) / n
        stds.append(math.sqrt(var) if var > 1e-12 else 1.0)
    rows = [[1.0] + [(c[j] - means[j]) / stds[j] for j in range(len(names))] for c in cols]
    w = _newton_numpy(rows, labels, l2, max_iter, tol) if use_numpy else None
    if w is None:
        w = _newton_python(rows, labels, l2, max_iter, tol)
    coef = {name: w[j + 1] / stds[j] for j, name in enumerate(names)}
    intercept = w[0] - sum(w[j + 1] * means[j] / stds[j] for j in range(len(names)))
    model = FaultModel(intercept=intercept, coefficients=coef, horizon_ms=horizon_ms,
                       meta=dict(meta or {}))
    threshold = 0.5
    if tune_threshold:
        threshold = best_threshold([model.score(x) for x, _ in examples], labels)
    trained = FaultModel(intercept=intercept, coefficients=coef, threshold=threshold,
                         horizon_ms=horizon_ms, meta=model.meta)
    ev = evaluate(trained, examples)
    trained.meta.setdefault("training", {}).update(
        {"examples": n, "positives": sum(labels), "l2": l2, **ev.to_dict()})
    log.info("fault model: %d examples, %d positive, train precision %.3f recall %.3f",
             n, sum(labels), ev.precision, ev.recall)
    return trained


def _clean(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return 0.0
    return float(x)
