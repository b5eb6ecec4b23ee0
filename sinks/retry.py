"""Exponential backoff with jitter: the delays between retries of a failing insert.

Pure: the random source is injected, so the schedule is reproducible in tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    """initial, initial*factor, ... capped at `maximum`, each spread by +-`jitter`."""

    initial: float = 0.2
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.1
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    attempt: int = 0

    def next(self) -> float:
        base = min(self.maximum, self.initial * self.factor ** self.attempt)
        self.attempt += 1
        spread = base * self.jitter
        return max(0.0, base + self.rng.uniform(-spread, spread))

    def reset(self) -> None:
        self.attempt = 0
