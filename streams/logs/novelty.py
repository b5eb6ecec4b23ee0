"""Novelty: a failure-ish template that a host has never logged before is a candidate fault.

A host's logs repeat themselves: after a while, nearly every line belongs to a template
the host has logged before. A template with failure words that appears for the first
time ("Node card is not fully functional", "unknown partition table") is worth a look
even when its words alone are too weak to call it a fault (streams.logs.generic gives
such lines the status `candidate`).

"For the first time" needs a history: until a host has been watched for `warmup_ms` of
event time, everything it logs is new, so its candidates are only remembered, never
reported. This also covers a restart without saved state: the hosts warm up again
instead of reporting every candidate template once.

State: per host the event time of its first line, and the (host, template id) pairs of
candidate lines seen, both bounded (oldest first out) and saved as plain data with the
template miner's state (see LogProcessor.snapshot). Pure: the caller passes event time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["NoveltyConfig", "NoveltyTracker"]

logger = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class NoveltyConfig:
    """warmup_ms: how long a host is watched before its new templates count as novel.

    The bounds keep the state, which is saved with the miner's in one message per
    partition, under about 1 MB (a pair is ~38 bytes of JSON, a host ~30): a partition
    holds hundreds of hosts, each with tens of candidate templates at most. A forgotten
    pair can be reported once more; a forgotten host warms up again.
    """

    warmup_ms: int = 3_600_000
    max_hosts: int = 10_000
    max_pairs: int = 20_000

    def __post_init__(self) -> None:
        if self.warmup_ms < 0:
            raise ValueError(f"warmup_ms must be >= 0, got {self.warmup_ms}")
        if self.max_hosts < 1 or self.max_pairs < 1:
            raise ValueError("max_hosts and max_pairs must be >= 1")


class NoveltyTracker:
    """Which candidate templates each host has logged, and since when each host is watched."""

    def __init__(self, config: NoveltyConfig | None = None) -> None:
        self.config = config or NoveltyConfig()
        self._first: dict[str, int] = {}  # host -> event time of its first line
        self._seen: dict[tuple[str, str], None] = {}  # (host, template id), oldest first
        self.changed = False  # set when the state changed; the caller clears it

    def watch(self, host: str, ts: int) -> None:
        """Note a line of `host` at event time `ts` (called for every line)."""
        first = self._first.get(host)
        if first is None:
            if len(self._first) >= self.config.max_hosts:
                del self._first[next(iter(self._first))]
            self._first[host] = ts
            self.changed = True
        elif ts < first:  # out-of-order history: the host was watched since then
            self._first[host] = ts
            self.changed = True

    def is_novel(self, host: str, template_id: str, ts: int) -> bool:
        """Remember a candidate line's template; True when it is new on a warmed-up host."""
        key = (host, template_id)
        if key in self._seen:
            return False
        if len(self._seen) >= self.config.max_pairs:
            del self._seen[next(iter(self._seen))]
        self._seen[key] = None
        self.changed = True
        first = self._first.get(host)
        return first is not None and ts - first >= self.config.warmup_ms

    def to_state(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "first": self._first,
                "seen": [list(k) for k in self._seen]}

    @classmethod
    def from_state(cls, state: Any, config: NoveltyConfig | None = None) -> NoveltyTracker:
        """Rebuild from to_state() output; raises ValueError on anything else."""
        tracker = cls(config)
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError("unsupported novelty state")
        first, seen = state.get("first"), state.get("seen")
        if not isinstance(first, dict) or not isinstance(seen, list):
            raise ValueError("novelty state lacks 'first' or 'seen'")
        for host, ts in first.items():
            if not isinstance(ts, int) or isinstance(ts, bool):
                raise ValueError(f"bad first-seen time for {host!r}")
            tracker._first[str(host)] = ts
        for pair in seen:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError("a seen entry must be [host, template_id]")
            tracker._seen[(str(pair[0]), str(pair[1]))] = None
        return tracker
