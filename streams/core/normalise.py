"""Canonical names, units and labels; physically impossible values rejected.

Sources disagree on names and units (`cpu.percent` 0-100 vs `cpu.usage` 0-1); rules,
rollups and analysts need one vocabulary. Known aliases map onto catalogue names with
a scale factor; uncatalogued metrics pass through under their own name; a value a real
machine cannot produce (a CPU 730 % busy, a negative byte rate) is rejected for that
sample only, with a reason, so the rest of the batch still flows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.catalogue import ALIASES, CATALOGUE
from streams.core.deadletter import Rejected

__all__ = ["Canonical", "canonical_labels", "canonical_name", "check_value"]

_LABEL_KEY = re.compile(r"[^a-z0-9_]+")
# Fractions may come in a hair above 1.0 from counter arithmetic; more than that is wrong.
_FRACTION_SLACK = 0.02


@dataclass(frozen=True, slots=True)
class Canonical:
    """How to turn one incoming metric name into the canonical series."""

    name: str
    scale: float
    lo: float
    hi: float


_cache: dict[str, Canonical] = {}


def canonical_name(name: str) -> Canonical:
    """Canonical name, unit scale and physical bounds for an incoming name (memoised)."""
    c = _cache.get(name)
    if c is not None:
        return c
    key = name.strip()
    alias = ALIASES.get(key) or ALIASES.get(key.lower())
    if alias is not None:
        target, scale = alias.canonical, alias.scale
    else:
        target, scale = key, 1.0
    spec = CATALOGUE.get(target)
    if spec is None:
        c = Canonical(target, scale, float("-inf"), float("inf"))
    else:
        hi = spec.hi + _FRACTION_SLACK if spec.unit == "fraction" else spec.hi
        c = Canonical(target, scale, spec.lo, hi)
    if len(_cache) < 100_000:  # bounded: names come from producers we do not control
        _cache[name] = c
    return c


def check_value(c: Canonical, value: float) -> float:
    """The value in canonical units, or Rejected when no real machine can produce it."""
    if c.scale == 1.0:
        v = value
    elif c.scale < 1.0:  # divide by the integral factor: 95 / 100 is 0.95, 95 * 0.01 is not
        v = value / round(1.0 / c.scale)
    else:
        v = value * c.scale
    if v < c.lo or v > c.hi:
        raise Rejected("impossible_value",
                       f"{c.name}={v:g} is outside the physical range [{c.lo:g}, {c.hi:g}]")
    return v


def canonical_labels(labels: dict[str, str]) -> dict[str, str]:
    """Lower-case snake_case keys and trimmed values; empty values dropped."""
    out: dict[str, str] = {}
    for k, v in labels.items():
        key = k if k.islower() and k.isidentifier() else _LABEL_KEY.sub("_", k.strip().lower())
        val = v.strip()
        if key and val:
            out[key] = val
    return out
