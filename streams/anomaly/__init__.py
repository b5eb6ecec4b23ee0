"""Streaming anomaly detection: one bounded, JSON-serialisable state per series.

    state = new_state(params)                  # once per series
    score = update(state, ts_ms, value, params)  # per sample: 0 (usual) .. 1 (very anomalous)

The score is a log-likelihood: -log10 of how rare the sample's surprise is for this
series, divided by 10, so 0.5 reads "one sample in 10^5 is this surprising here".
The method, its parameters and its NAB figures are in docs/anomaly.md.
"""

from __future__ import annotations

from streams.anomaly.detector import STATE_VERSION, new_state, update
from streams.anomaly.params import DEFAULT_PARAMS, AnomalyParams

__all__ = ["DEFAULT_PARAMS", "STATE_VERSION", "AnomalyParams", "new_state", "update"]
