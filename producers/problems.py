"""Say it once, keep running, count it: how every producer reports trouble.

An unreadable log file or a refused broker connection repeats every poll; logging
each repetition buries the one line an operator needs. A `Problems` logs the first
occurrence of each distinct problem (and its recovery), and counts all of them so
the agent can report totals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

__all__ = ["Problems"]

log = logging.getLogger(__name__)


@dataclass
class Problems:
    """Per-key problem counters; a key is logged when it starts and when it clears."""

    logger: logging.Logger = log
    counts: dict[str, int] = field(default_factory=dict)
    _active: set[str] = field(default_factory=set)

    def report(self, key: str, message: str) -> None:
        """Count one occurrence of `key`; log `message` only if it is not already active."""
        self.counts[key] = self.counts.get(key, 0) + 1
        if key not in self._active:
            self._active.add(key)
            self.logger.warning("%s (reported once; counting further occurrences)", message)

    def clear(self, key: str, message: str | None = None) -> None:
        """Mark `key` as recovered, so a recurrence is logged again."""
        if key in self._active:
            self._active.discard(key)
            if message:
                self.logger.info("%s", message)

    def is_active(self, key: str) -> bool:
        """Whether `key` has been reported and not cleared since."""
        return key in self._active

    @property
    def total(self) -> int:
        """All occurrences of all problems."""
        return sum(self.counts.values())
