"""The link to the anomaly detector (streams.anomaly), imported lazily.

Anomaly rules call the detector when it is installed; otherwise they fall back to
the EW z-score of the point, put on the detector's scale so thresholds carry over:
score = -log10(two-sided normal tail of z) / 10, capped at 1 (0.5 at 4.4 SD, near where
the detector's own 0.5 falls on Gaussian noise).
"""

from __future__ import annotations

import importlib
import math
from types import ModuleType

__all__ = ["fallback_score", "load"]

_SQRT2 = math.sqrt(2.0)


def load() -> ModuleType | None:
    """streams.anomaly if importable and complete, else None."""
    try:
        module = importlib.import_module("streams.anomaly")
    except ImportError:
        return None
    if not all(hasattr(module, n) for n in ("new_state", "update", "AnomalyParams")):
        return None
    return module


def fallback_score(z: float) -> float:
    """|z| -> score in [0, 1] on the detector's log-likelihood scale."""
    tail = math.erfc(abs(z) / _SQRT2)
    if tail <= 0.0:
        return 1.0
    return min(1.0, -math.log10(tail) / 10.0)
