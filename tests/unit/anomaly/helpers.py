"""Synthetic series and small drivers shared by the anomaly tests."""

from __future__ import annotations

import math
import random
from typing import Any

from streams.anomaly import AnomalyParams, new_state, update

STEP_MS = 60_000  # one sample a minute
T0 = 1_700_000_000_000


def noise(n: int, seed: int, sd: float = 1.0, mean: float = 0.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, sd) for _ in range(n)]


def times(n: int, step: int = STEP_MS, start: int = T0) -> list[int]:
    return [start + i * step for i in range(n)]


def run(values: list[float], ts: list[int] | None = None,
        params: AnomalyParams | None = None) -> tuple[list[float], dict[str, Any]]:
    """Scores of a series, and the state it leaves."""
    ts = ts if ts is not None else times(len(values))
    state = new_state(params)
    return [update(state, t, x, params) for t, x in zip(ts, values, strict=True)], state


def episodes(scores: list[float], above: float = 0.5) -> list[int]:
    """Indexes where a rule with score_above=clear_below=`above` would start firing."""
    out, firing = [], False
    for i, s in enumerate(scores):
        if s >= above and not firing:
            out.append(i)
        firing = s >= above
    return out


def numbers_in(obj: object) -> int:
    """How many numbers a JSON-like value holds (None counts as one slot)."""
    if isinstance(obj, dict):
        return sum(numbers_in(v) for v in obj.values())
    if isinstance(obj, list):
        return sum(numbers_in(v) for v in obj)
    return 1


def only_json_types(obj: object) -> bool:
    """dict (str keys) / list / str / int / float (finite) / bool / None only."""
    if isinstance(obj, dict):
        return all(isinstance(k, str) and only_json_types(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(only_json_types(v) for v in obj)
    if isinstance(obj, float):
        return math.isfinite(obj)
    return obj is None or isinstance(obj, str | int | bool)
