"""The detector's per-series state: its named fields, and its compact stored form.

`DetectorState` names every field and says what it is; it is the one definition of the
state. What the host state holds (and the worker writes to its changelog after every
batch) is its compact form, `{"v": 2, "d": [...]}`: the fields' values in the order
below, without their names, because the host state must stay plain JSON data and
small (155 series per GPU host). `pack` and `unpack` convert between the two;
`streams.anomaly.detector.update` works on the stored form directly (it runs for every
sample, so it binds the scalar fields to local names in this order, and a unit test
holds that order to this class).

A profile and the envelopes are plain lists in either form (`ProfileState.to_list`,
`streams.anomaly.envelope`).

Version 1 (the first detector: Gumbel tails of a one-step predictor's error, a dict with
short keys "n", "t0", "prof", "ep", ...) is recognised by `upgrade`: its weekly profile
and clock are kept (weeks of learning that still apply), its tails are not (they
measured another statistic), so the tests start again as for a new series (they
answer after 32 samples, and are cautious until `startup`). Anything else that is not
a version-2 state is replaced by a new one. Neither raises.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, cast

from streams.anomaly.envelope import Envelope, new_envelope
from streams.anomaly.params import FIRST_BLOCK, AnomalyParams

__all__ = ["NO_PROFILE", "SCALARS", "STATE_VERSION", "DetectorState", "ProfileState", "new_state",
           "pack", "profile_matches", "unpack", "upgrade"]

STATE_VERSION = 2
NO_PROFILE, DAY_PROFILE, WEEK_PROFILE = 0, 1, 2


@dataclass(slots=True)
class ProfileState:
    """A seasonal profile (see streams.anomaly.seasonal) and the test of its residuals."""

    since_ms: int  # event time of the first sample it learnt (0: none yet)
    bin: int  # the bin of the visit in progress (-1: none)
    total: float  # sum of the visit's samples so far
    count: int  # samples in the visit so far
    values: list[float]  # the profile, per bin (meaningless while visits is 0)
    visits: list[int]  # visits learnt per bin, capped at 1 / season_rate
    residual_dev: float  # EW mean absolute residual |x - profile|, over `baseline` samples
    residual_level: float  # EW mean of the residual over `window` samples (what is tested)
    residuals: int  # residuals seen (the test's history length)
    up: Envelope  # highest levels of residual_level
    down: Envelope  # highest levels of -residual_level

    def to_list(self) -> list[Any]:
        return [self.since_ms, self.bin, self.total, self.count, self.values, self.visits,
                self.residual_dev, self.residual_level, self.residuals, self.up, self.down]

    @classmethod
    def new(cls, bins: int) -> ProfileState:
        zeros = cast(list[float], [0] * bins)  # (JSON "0": a third of "0.0")
        return cls(0, -1, 0.0, 0, zeros, [0] * bins, 0.0, 0.0, 0,
                   new_envelope(FIRST_BLOCK), new_envelope(FIRST_BLOCK))


@dataclass(slots=True)
class DetectorState:
    """Everything the detector knows about one series (bounded: see docs/anomaly.md)."""

    samples: int  # samples folded in
    first_ms: int  # event time of the first sample
    last_ms: int  # latest event time (never goes back)
    score: float  # the latest score (returned again for a sample that cannot be used)
    held: float  # the peak the score is holding
    held_for: int  # samples it has held it
    level: float  # EW mean of the value over `window` samples
    start_mean: float  # mean and mean absolute deviation of the value while young
    start_dev: float  # (the start-up check: over min(samples, startup) samples)
    base_mean: float  # long-run mean of the value, over `baseline` samples
    base_dev: float  # long-run mean absolute deviation from base_mean
    profile_in_use: int  # 0 none, 1 the daily profile, 2 the weekly one
    value_up: Envelope  # highest levels of the value
    value_down: Envelope  # highest levels of -value (its lowest levels)
    level_up: Envelope  # highest levels of `level`
    level_down: Envelope  # highest levels of -level
    day: ProfileState | None  # None with seasonal off
    week: ProfileState | None


SCALARS = 12  # the first twelve fields are numbers; update() binds them to locals


def new_state(params: AnomalyParams | None = None) -> dict[str, Any]:
    """The stored state of a series before its first sample."""
    p = params or AnomalyParams()
    return pack(_fresh(p))


def _fresh(p: AnomalyParams) -> DetectorState:
    first = min(FIRST_BLOCK, p.block)
    return DetectorState(
        0, 0, 0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, NO_PROFILE,
        new_envelope(first), new_envelope(first), new_envelope(first), new_envelope(first),
        ProfileState.new(p.day_bins) if p.seasonal else None,
        ProfileState.new(p.season_bins) if p.seasonal else None)


def pack(s: DetectorState) -> dict[str, Any]:
    """The stored form of a state (lists are shared, not copied)."""
    data: list[Any] = [getattr(s, f.name) for f in fields(s)]
    data[-2] = None if s.day is None else s.day.to_list()
    data[-1] = None if s.week is None else s.week.to_list()
    return {"v": STATE_VERSION, "d": data}


def unpack(stored: dict[str, Any]) -> DetectorState:
    """The named view of a stored state (lists are shared, not copied)."""
    data: list[Any] = stored["d"]
    day, week = data[-2], data[-1]
    return DetectorState(*data[:-2], None if day is None else ProfileState(*day),  # type: ignore[call-arg]
                         None if week is None else ProfileState(*week))


def profile_matches(stored: dict[str, Any], p: AnomalyParams) -> bool:
    """Whether a version-2 state's profiles have the shape these parameters ask for."""
    day, week = stored["d"][-2], stored["d"][-1]
    if not p.seasonal:
        return day is None and week is None
    return (day is not None and len(day[4]) == p.day_bins
            and week is not None and len(week[4]) == p.season_bins)


def upgrade(stored: dict[str, Any], p: AnomalyParams) -> None:
    """Make any stored state a usable version-2 state for `p`, in place.

    A version-2 state whose profile settings changed keeps everything else (a profile
    of the wrong size is started afresh); a version-1 state keeps its weekly profile
    and clock (see the module docstring); anything else starts afresh.
    """
    if stored.get("v") == STATE_VERSION and _well_formed(stored.get("d")):
        s = unpack(stored)
        fresh = _fresh(p)
        if s.day is None or fresh.day is None or len(s.day.values) != len(fresh.day.values):
            s.day = fresh.day
        if s.week is None or fresh.week is None or len(s.week.values) != len(fresh.week.values):
            s.week = fresh.week
        if s.day is None or s.week is None:
            s.profile_in_use = NO_PROFILE
        stored.update(pack(s))
        return
    s = _fresh(p)
    if stored.get("v") == 1:
        _keep_from_version_1(stored, s, p.season_rate)
    stored.clear()
    stored.update(pack(s))


def _keep_from_version_1(old: dict[str, Any], s: DetectorState, rate: float) -> None:
    """Carry a version-1 state's clock and weekly profile over, where they fit."""
    t0, t = old.get("t0"), old.get("t")
    if isinstance(t0, int) and isinstance(t, int) and old.get("n", 0) > 0:
        s.first_ms, s.last_ms = t0, t
    prof, weights = old.get("prof"), old.get("pw")
    if (s.week is not None and isinstance(prof, list) and isinstance(weights, list)
            and len(prof) == len(s.week.values) == len(weights)
            and all(v is None or isinstance(v, int | float) for v in prof)
            and all(isinstance(w, int | float) for w in weights)):
        cap = round(1.0 / rate)
        for b, (v, w) in enumerate(zip(prof, weights, strict=True)):
            if v is not None and w >= 0.25:  # (version 1 answered from a quarter visit)
                s.week.values[b] = float(v)
                s.week.visits[b] = max(1, min(cap, round(w)))
        s.week.since_ms = s.first_ms


def _well_formed(d: object) -> bool:
    """The shape of a version-2 stored state (not its values: update() copes with those)."""
    if not isinstance(d, list) or len(d) != len(fields(DetectorState)):
        return False
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in d[:SCALARS]):
        return False
    envelopes = d[SCALARS:SCALARS + 4]
    profiles = [prof for prof in d[SCALARS + 4:] if prof is not None]
    return (all(_envelope_shape(e) for e in envelopes)
            and all(isinstance(prof, list) and len(prof) == len(fields(ProfileState))
                    and isinstance(prof[4], list) and isinstance(prof[5], list)
                    and len(prof[4]) == len(prof[5]) > 0 and isinstance(prof[1], int)
                    and -1 <= prof[1] < len(prof[4])
                    and _envelope_shape(prof[-2]) and _envelope_shape(prof[-1])
                    for prof in profiles))


def _envelope_shape(e: object) -> bool:
    return isinstance(e, list) and len(e) == 6 and isinstance(e[5], list) and \
        isinstance(e[0], int) and e[0] >= 1
