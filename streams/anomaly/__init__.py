"""Streaming anomaly detection: one bounded, JSON-serialisable state per series.

    state = new_state(params)                    # once per series
    score = update(state, ts_ms, value, params)  # per sample: 0 (usual) .. 1 (very novel)

The score says how far the sample (or the recent level, or its deviation from the
series' daily or weekly profile) goes beyond the highest and lowest levels this series
reached in its recent history; 0.5 is the line the rules use. `unpack(state)` gives the
named view of a stored state (`DetectorState`). The method, its parameters and its NAB
figures are in docs/anomaly.md.
"""

from __future__ import annotations

from streams.anomaly.detector import update
from streams.anomaly.params import DEFAULT_PARAMS, AnomalyParams
from streams.anomaly.state import STATE_VERSION, DetectorState, new_state, pack, unpack

__all__ = ["DEFAULT_PARAMS", "STATE_VERSION", "AnomalyParams", "DetectorState", "new_state",
           "pack", "unpack", "update"]
