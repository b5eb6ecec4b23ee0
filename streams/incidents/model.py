"""The fault-probability model: logistic regression over host features.

    P(fault) = 1 / (1 + exp(-(b0 + sum_i b_i * x_i)))

The coefficients are stored in raw feature units (training standardises, then folds
the scaling back in), so the model file reads as the formula and scoring is one dot
product. The model file is small JSON (schema "rackwatch.fault_model/v1"): intercept,
coefficients by feature name, the decision threshold chosen at training time, the
horizon its label used, and how it was trained and evaluated.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

__all__ = ["MODEL_SCHEMA", "FaultModel", "ModelError", "sigmoid"]

log = logging.getLogger(__name__)

MODEL_SCHEMA = "rackwatch.fault_model/v1"
_DEFAULT_FILE = "default_model.json"


class ModelError(ValueError):
    """A model file that cannot be used, and why."""


def sigmoid(z: float) -> float:
    """Logistic function without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _finite(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise ModelError(f"{what} must be a finite number, got {x!r}")
    return float(x)


@dataclass(frozen=True)
class FaultModel:
    """Coefficients over named features; unknown features in the input are ignored."""

    intercept: float
    coefficients: dict[str, float]
    threshold: float = 0.5
    horizon_ms: int = 600_000
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.coefficients)

    def logit(self, features: dict[str, float]) -> float:
        z = self.intercept
        for name, b in self.coefficients.items():
            x = features.get(name, 0.0)
            if math.isfinite(x):
                z += b * x
        return z

    def score(self, features: dict[str, float]) -> float:
        """P(fault within the horizon) for one host's features, in [0, 1]."""
        return sigmoid(self.logit(features))

    def contributions(self, features: dict[str, float], top: int = 3) -> dict[str, float]:
        """The features that pushed the score up most (b_i * x_i > 0), largest first."""
        parts = [(name, b * features.get(name, 0.0)) for name, b in self.coefficients.items()]
        parts = [(n, c) for n, c in parts if c > 0 and math.isfinite(c)]
        parts.sort(key=lambda nc: (-nc[1], nc[0]))
        return {n: round(c, 3) for n, c in parts[:top]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": MODEL_SCHEMA,
            "intercept": self.intercept,
            "coefficients": dict(self.coefficients),
            "threshold": self.threshold,
            "horizon_ms": self.horizon_ms,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Any) -> FaultModel:
        if not isinstance(data, dict):
            raise ModelError("a model file holds one JSON object")
        if data.get("schema") != MODEL_SCHEMA:
            raise ModelError(f"schema must be {MODEL_SCHEMA!r}, got {data.get('schema')!r}")
        coef = data.get("coefficients")
        if not isinstance(coef, dict) or not all(isinstance(k, str) for k in coef):
            raise ModelError("coefficients must be an object of feature name -> number")
        threshold = _finite(data.get("threshold", 0.5), "threshold")
        if not 0.0 < threshold < 1.0:
            raise ModelError(f"threshold must be in (0, 1), got {threshold}")
        horizon = data.get("horizon_ms", 600_000)
        if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon <= 0:
            raise ModelError(f"horizon_ms must be a positive integer, got {horizon!r}")
        meta = data.get("meta", {})
        return cls(
            intercept=_finite(data.get("intercept"), "intercept"),
            coefficients={k: _finite(v, f"coefficient {k}") for k, v in coef.items()},
            threshold=threshold,
            horizon_ms=horizon,
            meta=meta if isinstance(meta, dict) else {},
        )

    @classmethod
    def load(cls, path: str | Path) -> FaultModel:
        try:
            data = orjson.loads(Path(path).read_bytes())
        except (OSError, orjson.JSONDecodeError) as e:
            raise ModelError(f"{path}: {e}") from e
        try:
            return cls.from_dict(data)
        except ModelError as e:
            raise ModelError(f"{path}: {e}") from e

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")

    @classmethod
    def default(cls) -> FaultModel:
        """The model shipped with rackwatch (trained on a simulated fleet)."""
        raw = resources.files("streams.incidents").joinpath(_DEFAULT_FILE).read_bytes()
        return cls.from_dict(orjson.loads(raw))
