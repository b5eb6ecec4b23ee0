"""Time-driven work at event time: each partition's stream clock and when to tick it.

A host that stops sending, a `for` timer, a re-send: these happen when time passes,
not when an event arrives, so the worker ticks its partitions' hosts (and scopes). It
does so at event time, in two ways (docs/architecture.md, "Time"):

- in-stream, between two messages of a partition, whenever the partition's event time
  has moved `interval_ms` past its last tick, exactly as `replay` ticks;
- on a timer, for partitions with nothing left to read, at `timer_now`.

`timer_now` is where a quiet partition's clock comes from. Its own clock is its newest
event time plus the wall time since (never while it still has unread messages: a
backlog is judged as it was lived). That alone leaves a partition whose hosts all went
silent in a backlog stuck in the past, since it gets no messages to move its clock,
and the silence is never seen while replay, with one clock, sees it. So a partition
with nothing to read also follows how far the worker has read everywhere else: the
slowest partition still reading a backlog has reached its event time, so every
partition has been read at least that far; when none is behind, the newest clock is
where the world is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["StreamClock", "Ticks"]


class StreamClock:
    """Event time that keeps moving while the input is quiet.

    A worker's notion of "now" is the newest event time it has seen plus the wall time
    elapsed since it saw it. With live agents that is the wall clock; with a simulator
    replaying a past day as fast as it can, it is that day's clock. Either way, a host
    that falls silent is noticed, and windows close, without waiting for its next event.
    """

    def __init__(self) -> None:
        self.event_ms: int | None = None
        self.wall_at_event_ms = 0

    def observe(self, event_ms: int, wall_ms: int) -> None:
        if self.event_ms is None or event_ms > self.event_ms:
            self.event_ms = event_ms
            self.wall_at_event_ms = wall_ms

    def now(self, wall_ms: int) -> int | None:
        if self.event_ms is None:
            return None
        return self.event_ms + max(0, wall_ms - self.wall_at_event_ms)


class Ticks:
    """Per partition: its stream clock and the event time it was last ticked at."""

    def __init__(self, interval_ms: int) -> None:
        self.interval_ms = interval_ms
        self.clocks: dict[int, StreamClock] = {}
        self.ticked: dict[int, int] = {}

    def observe(self, partition: int, event_ms: int, wall_ms: int) -> int:
        """A message of `partition` at `event_ms`; returns the partition's event time."""
        clock = self.clocks.get(partition)
        if clock is None:
            clock = self.clocks[partition] = StreamClock()
        clock.observe(event_ms, wall_ms)
        assert clock.event_ms is not None
        return clock.event_ms

    def due(self, partition: int, now: int) -> bool:
        """Has the partition's event time moved an interval past its last tick?"""
        return now - self.ticked.setdefault(partition, now) >= self.interval_ms

    def mark(self, partition: int, now: int) -> None:
        """The partition was ticked at `now` (a timer tick never moves the mark back)."""
        self.ticked[partition] = max(self.ticked.get(partition, now), now)

    def forget(self) -> None:
        """A rebalance: tick marks start again (the clocks stay: event time is global)."""
        self.ticked.clear()

    def timer_now(self, partition: int, wall_ms: int, lagging: Callable[[int], bool],
                  partitions: Iterable[int]) -> int | None:
        """The event time to tick a partition at from the timer, or None (not now).

        None while the partition itself has unread messages. Otherwise the later of its
        own clock and the worker's read point over `partitions` (those it owns): the
        slowest lagging one's event time, or, none lagging, the newest clock's now."""
        if lagging(partition):
            return None
        own = self.clocks.get(partition)
        candidates = [] if own is None else [own.now(wall_ms)]
        behind = [self.clocks.get(p) for p in partitions if p != partition and lagging(p)]
        if not behind:
            candidates.extend(c.now(wall_ms) for p in partitions
                              if (c := self.clocks.get(p)) is not None)
        else:
            read = [c.event_ms if c is not None else None for c in behind]
            if None not in read:
                candidates.append(min(t for t in read if t is not None))
        # else: a partition behind has not been read at all yet: no read point to follow
        known = [c for c in candidates if c is not None]
        return max(known) if known else None
