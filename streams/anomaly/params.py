"""Tuning of the streaming anomaly detector, validated once when a rule is loaded.

Every time scale is counted in samples of the series, not in seconds: the detector
then behaves the same on a series sampled every 10 s and on one sampled hourly, and a
rule needs no per-metric timing. The one exception is the seasonal profile, which is
about the calendar (hour of the week) and so uses the event time.

The defaults were argued for, not searched for (docs/anomaly.md says why each is
what it is, and what the NAB benchmark says about them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["DEFAULT_PARAMS", "AnomalyParams"]

_INT_FIELDS = frozenset({"window", "block", "blocks", "min_blocks", "season_bins", "baseline",
                         "hold"})
_BOOL_FIELDS = frozenset({"seasonal"})


@dataclass(frozen=True, slots=True)
class AnomalyParams:
    """Parameters of `streams.anomaly.update` (all optional; see docs/anomaly.md).

    fast:        weight of the newest sample in the one-step predictor (an EWMA);
                 0.5 predicts "about the last two samples", so a spike is a jump
                 away from the immediate past.
    window:      the short "recent" window, in samples, whose EW mean is tested
                 against the long-run distribution of that mean (level shifts, drifts).
    block:       samples per block; the detector keeps the maximum of each block.
    blocks:      how many block maxima are kept. block * blocks (2048 by default)
                 is the long baseline every test is calibrated against.
    min_blocks:  complete blocks needed before a test is used (the warm-up is
                 about 2 * min_blocks * block samples: first the tests, then the
                 calibration of their combination).
    seasonal:    learn an hour-of-week profile and, when it explains the series
                 (see season_gain), test the level against it instead.
    season_bins: bins of the weekly profile (84: two hours each, linearly
                 interpolated between bin centres).
    season_rate: weight one week's visit of a bin has in the profile (an EW mean
                 across weeks: 0.25 is a memory of about four weeks).
    season_gain: the profile is used once its mean absolute deviation is below
                 season_gain times that of a flat baseline (it explains at least
                 half the deviation); it is dropped above 1.25 times that.
    baseline:    samples of memory of the long-run mean and deviations that decide
                 whether the profile is used.
    hold:        samples for which the score keeps its latest peak, so one event
                 reads as one episode rather than a flapping score.
    min_scale:   smallest deviation that can matter, in the metric's unit (0: any).
                 A series that has been perfectly flat otherwise makes any change,
                 however tiny, maximally surprising.
    """

    fast: float = 0.5
    window: int = 6
    block: int = 32
    blocks: int = 64
    min_blocks: int = 8
    seasonal: bool = True
    season_bins: int = 84
    season_rate: float = 0.25
    season_gain: float = 0.5
    baseline: int = 2048
    hold: int = 64
    min_scale: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _BOOL_FIELDS:
                if not isinstance(v, bool):
                    raise TypeError(f"{f.name}: expected true or false, got {v!r}")
            elif f.name in _INT_FIELDS:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise TypeError(f"{f.name}: expected an integer, got {v!r}")
            elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise TypeError(f"{f.name}: expected a finite number, got {v!r}")
        problems = []
        if not 0.0 < self.fast <= 1.0:
            problems.append("fast must be in (0, 1]")
        if self.window < 1:
            problems.append("window must be >= 1")
        if self.block < 1:
            problems.append("block must be >= 1")
        if not 4 <= self.min_blocks <= self.blocks:
            problems.append("min_blocks must be >= 4 and <= blocks")
        if not 2 <= self.season_bins <= 2016:
            problems.append("season_bins must be in [2, 2016]")
        if not 0.0 < self.season_rate <= 1.0:
            problems.append("season_rate must be in (0, 1]")
        if not 0.0 < self.season_gain <= 0.8:
            problems.append("season_gain must be in (0, 0.8]")
        if self.baseline < 1:
            problems.append("baseline must be >= 1")
        if self.hold < 0:
            problems.append("hold must be >= 0")
        if self.min_scale < 0.0:
            problems.append("min_scale must be >= 0")
        if problems:
            raise ValueError("; ".join(problems))


DEFAULT_PARAMS = AnomalyParams()
