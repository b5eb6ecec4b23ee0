"""Rates from monotonic counters that survive wrap and reset without a bogus spike.

Kernel counters (bytes, packets, I/O time) only ever grow, until they do not: a
32-bit counter wraps past 2**32, a 64-bit one (in theory) past 2**64, and a
device that is removed and re-added, a driver reload or a reboot starts it again
from zero. A naive `(new - old) / dt` turns the first into a huge negative rate
and, if "fixed" with an unsigned subtraction, the second into a huge positive one.

The rule here: a decrease is a wrap only when the old value sat in the top half
of a counter width, the new one in the bottom half, and the implied rate is
plausible (at most `max_rate`, when one is known). Anything else is a reset: the
interval yields no rate and the new value becomes the baseline. Missing one
interval is better than a spike that fires an alert.

Pure functions and a small keyed tracker; the clock is passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

__all__ = ["CounterRates", "RateCounters", "counter_delta"]

log = logging.getLogger(__name__)

_WIDTHS = (1 << 32, 1 << 64)


def counter_delta(prev: int | float, cur: int | float, dt: float,
                  max_rate: float | None = None) -> float | None:
    """How much a counter grew from `prev` to `cur` over `dt` seconds, or None.

    None means "no trustworthy delta for this interval": the counter was reset,
    time did not advance, or the growth is implausibly fast.
    """
    if dt <= 0:
        return None
    if cur >= prev:
        delta = float(cur - prev)
    else:
        delta_w: float | None = None
        for width in _WIDTHS:
            if prev < width and prev >= width // 2 and cur < width // 2:
                delta_w = float(width - prev + cur)
                break
        if delta_w is None:
            return None
        delta = delta_w
    if max_rate is not None and delta / dt > max_rate:
        return None
    return delta


@dataclass(slots=True)
class RateCounters:
    """Counters for the interval that just ended; `resets` counts discarded deltas."""

    resets: int = 0
    vanished: int = 0


@dataclass(slots=True)
class CounterRates:
    """Per-key baselines of a fixed tuple of counters; `update` returns per-second rates.

    A key is a series (a device, an interface, a GPU); each reading is a tuple of
    counters in a fixed order (tuples, not dicts: this runs every interval on every
    device, and the agent must stay cheap). A key that disappears is forgotten, so
    when it returns its first reading is only a baseline.
    """

    max_rates: tuple[float | None, ...] = ()
    _last: dict[Hashable, tuple[float, tuple[float, ...]]] = field(default_factory=dict)
    stats: RateCounters = field(default_factory=RateCounters)

    def update(self, key: Hashable, now: float,
               counters: tuple[float, ...]) -> tuple[float | None, ...] | None:
        """Record `counters` of `key` at `now`; the rate of each, None where it has none.

        Returns None for a key's first reading (nothing to compare with yet).
        """
        prev = self._last.get(key)
        self._last[key] = (now, counters)
        if prev is None:
            return None
        then, old = prev
        dt = now - then
        limits = self.max_rates
        rates: list[float | None] = []
        for i, value in enumerate(counters):
            limit = limits[i] if i < len(limits) else None
            delta = counter_delta(old[i], value, dt, limit) if i < len(old) else None
            if delta is None:
                self.stats.resets += 1
                rates.append(None)
            else:
                rates.append(delta / dt)
        return tuple(rates)

    def keep_only(self, keys: Iterable[Hashable]) -> None:
        """Forget every key not in `keys` (device removed, interface gone)."""
        alive = set(keys)
        for key in [k for k in self._last if k not in alive]:
            del self._last[key]
            self.stats.vanished += 1
            log.info("counter source %r vanished; its rates restart from a new baseline", key)

    def known(self) -> list[Hashable]:
        """The keys that currently hold a baseline."""
        return list(self._last)
