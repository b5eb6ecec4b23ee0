"""Time-driven work at event time: each partition's stream clock and when to tick it.

A host that stops sending, a `for` timer, a re-send: these happen when time passes,
not when an event arrives, so the worker ticks its partitions' hosts (and scopes). It
does so at event time, in two ways (docs/architecture.md, "Time"):

- in-stream, between two messages of a partition, whenever the partition's event time
  has moved `interval_ms` past its last tick, exactly as `replay` ticks;
- on a timer, for partitions with nothing left to read, at `timer_now`.

`timer_now` is where a quiet partition's clock comes from: its newest event time plus
the wall time since (never while it still has unread messages: a backlog is judged as
it was lived). `gap_due` covers what per-partition clocks would miss: a partition whose
hosts all went silent during a backlog gets no message to tick on until they return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["LIVE_LAG_MS", "StreamClock", "Ticks"]


# Data read within this long of its event time is live: its clock runs on with wall time.
LIVE_LAG_MS = 30_000


class StreamClock:
    """Event time that keeps moving while the input is quiet, while the input is live.

    A worker's notion of "now" is the newest event time it has seen, plus, when that event
    was read live (within LIVE_LAG_MS of its event time), the wall time elapsed since: so
    a host that falls silent is noticed, and windows close, without waiting for its next
    event. History (a backlog read late, a simulator replaying a past day) keeps its own
    time: it is judged up to its last event, as replay judges it, never beyond it on the
    account of the wall clock.
    """

    def __init__(self) -> None:
        self.event_ms: int | None = None
        self.wall_at_event_ms = 0

    def observe(self, event_ms: int, wall_ms: int) -> None:
        if self.event_ms is None or event_ms > self.event_ms:
            self.event_ms = event_ms
            self.wall_at_event_ms = wall_ms

    @property
    def live(self) -> bool:
        return self.event_ms is not None and \
            self.wall_at_event_ms - self.event_ms <= LIVE_LAG_MS

    def now(self, wall_ms: int) -> int | None:
        if self.event_ms is None:
            return None
        if not self.live:
            return self.event_ms
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

        None while the partition has unread messages: a backlog is ticked in-stream, from
        its own messages. A partition whose last data was live: its clock, run on by wall
        time. One with no clock (no message since this worker took it over, its hosts
        possibly silent since before) or whose last data was history: once no owned
        partition is behind, it follows the newest clock (live somewhere: wall time goes
        on for everyone; history everywhere: the end of that history); while a backlog is
        read, its own messages, when they come, tick it in-stream (`gap_due`)."""
        if lagging(partition):
            return None
        own = self.clocks.get(partition)
        mine = own.now(wall_ms) if own is not None else None
        if own is not None and own.live:
            return mine
        parts = list(partitions)
        if any(lagging(p) for p in parts):
            return mine
        known = [n for p in parts if (c := self.clocks.get(p)) is not None
                 and (n := c.now(wall_ms)) is not None]
        return max(known) if known else None

    def gap_due(self, partition: int, event_ms: int) -> int | None:
        """A message of `partition` at `event_ms` came after a quiet stretch: the time to
        tick the partition at first, just before it (None: no gap).

        Replay sees a host's silence through other hosts' events during it; a partition
        whose every host went quiet has no such events, so, before the message that ends
        the quiet, its hosts are judged at the last moment of it. A backlog is then
        judged as it was lived even on a partition of silent hosts (the absence fires with
        the same start as in replay, and this message resolves it)."""
        mark = self.ticked.get(partition)
        if mark is None or event_ms - 1 - mark < self.interval_ms:
            return None
        return event_ms - 1
