"""Tuning of the streaming anomaly detector, validated once when a rule is loaded.

Every time scale is counted in samples of the series, not in seconds: the detector
then behaves the same on a series sampled every 10 s and on one sampled hourly, and a
rule needs no per-metric timing. The exception is the seasonal profiles, which are
about the calendar (time of day, time of week) and so use the event time.

Each default is argued in docs/anomaly.md, with what the NAB benchmark says about it
(per category, so that a choice visibly does not serve one kind of series).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["DEFAULT_PARAMS", "FIRST_BLOCK", "AnomalyParams"]

FIRST_BLOCK = 4  # samples per block while a series is young (blocks grow to `block`)

_INT_FIELDS = frozenset({"window", "block", "blocks", "min_blocks", "rank", "day_bins",
                         "season_bins", "season_periods", "baseline", "startup", "hold"})
_BOOL_FIELDS = frozenset({"seasonal"})


@dataclass(frozen=True, slots=True)
class AnomalyParams:
    """Parameters of `streams.anomaly.update` (all optional; see docs/anomaly.md).

    window:      samples in the level's EW mean (the second tested value beside the
                 sample itself): a shift that lasts is caught even when no single
                 sample stands out.
    block:       the largest block, in samples; an envelope keeps the maximum of each.
    blocks:      block maxima kept per envelope. block * blocks (4096) is the horizon:
                 what the series did longer ago than that no longer counts as seen.
    min_blocks:  closed blocks before a test answers (blocks start at 4 samples and
                 grow, so a new series is judged after min_blocks * 4 samples).
    rank:        which of the highest block maxima is the envelope's level: 2 (a level
                 the series reached twice counts as seen; one outlier does not hide
                 everything below it) or 1 (the plain record).
    margin:      how far beyond its second-highest (or -lowest) level of the horizon a
                 value must go to score 0.5, as a fraction of the range between the two
                 (with a full horizon; a shorter history asks for more, see `update`).
    step:        each further `step` of the range adds 0.1 to the score.
    seasonal:    learn a time-of-day and a time-of-week profile and, once one explains
                 the series (see season_gain), also test the deviation from it.
    day_bins:    bins of the daily profile (48: half-hours).
    season_bins: bins of the weekly profile (84: two hours each).
    season_rate: weight of one period's visit of a bin in a profile (an EW mean across
                 periods: 0.25 is a memory of about four days or weeks).
    season_gain: a profile is used while its residuals' mean absolute deviation is
                 below season_gain times that of a flat baseline.
    season_periods: whole periods (days, weeks) of history before a profile is used.
    baseline:    samples of memory of the long-run mean and deviations that decide
                 whether a profile explains the series.
    startup:     samples of the start-up period, during which a score also needs the
                 sample to be far from the series' mean (8 mean deviations at first,
                 fading linearly to none at `startup`), to go beyond the envelopes
                 extrapolated to the full horizon, and beyond the highest level reached
                 once: a young envelope knows too little to be trusted alone.
    hold:        samples for which the score keeps its latest peak, so one event
                 reads as one episode rather than a flapping score.
    min_scale:   smallest range that matters, in the metric's unit (0: any). A series
                 that has been perfectly flat otherwise makes any change, however
                 tiny, maximally novel.
    fast:        not used since state version 2 (the one-step predictor it weighted is
                 gone); still accepted so that rule files written before still load.
    """

    window: int = 16
    block: int = 128
    blocks: int = 32
    min_blocks: int = 12
    rank: int = 2
    margin: float = 0.065
    step: float = 0.0125
    seasonal: bool = True
    day_bins: int = 48
    season_bins: int = 84
    season_rate: float = 0.25
    season_gain: float = 0.5
    season_periods: int = 4
    baseline: int = 2048
    startup: int = 512
    hold: int = 32
    min_scale: float = 0.0
    fast: float = 0.5

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
        if self.window < 1:
            problems.append("window must be >= 1")
        if self.block < 1:
            problems.append("block must be >= 1")
        if not 4 <= self.min_blocks <= self.blocks:
            problems.append("min_blocks must be >= 4 and <= blocks")
        if self.rank not in (1, 2):
            problems.append("rank must be 1 or 2")
        if not 0.0 <= self.margin <= 1.0:
            problems.append("margin must be in [0, 1]")
        if not 0.0 < self.step <= 1.0:
            problems.append("step must be in (0, 1]")
        if not 2 <= self.day_bins <= 1440:
            problems.append("day_bins must be in [2, 1440]")
        if not 2 <= self.season_bins <= 2016:
            problems.append("season_bins must be in [2, 2016]")
        if not 0.0 < self.season_rate <= 1.0:
            problems.append("season_rate must be in (0, 1]")
        if not 0.0 < self.season_gain <= 0.8:
            problems.append("season_gain must be in (0, 0.8]")
        if self.season_periods < 1:
            problems.append("season_periods must be >= 1")
        if self.baseline < 1:
            problems.append("baseline must be >= 1")
        if self.startup < 0:
            problems.append("startup must be >= 0")
        if self.hold < 0:
            problems.append("hold must be >= 0")
        if self.min_scale < 0.0:
            problems.append("min_scale must be >= 0")
        if not 0.0 < self.fast <= 1.0:
            problems.append("fast must be in (0, 1]")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def horizon(self) -> int:
        """Samples an envelope remembers once its blocks are fully grown."""
        return self.block * self.blocks


DEFAULT_PARAMS = AnomalyParams()
