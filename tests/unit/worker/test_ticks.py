"""Ticks: each partition's stream clock, when to tick it, and where a quiet one stands."""

from __future__ import annotations

from streams.worker.ticks import StreamClock, Ticks


def ticks(**event_ms: int) -> Ticks:
    t = Ticks(1000)
    for name, ms in event_ms.items():
        t.observe(int(name[1:]), ms, wall_ms=0)
    return t


class TestStreamClock:
    def test_moves_with_wall_time_while_quiet(self) -> None:
        """Newest event time plus the wall time since it was seen; never backwards."""
        c = StreamClock()
        assert c.now(5) is None
        c.observe(100, wall_ms=1_000)
        c.observe(50, wall_ms=2_000)
        assert c.now(1_500) == 600


class TestDue:
    def test_due_every_interval_of_event_time(self) -> None:
        """The first sight marks; due again once the event time moved an interval on."""
        t = Ticks(1000)
        assert not t.due(0, 5_000)
        assert not t.due(0, 5_999)
        assert t.due(0, 6_000)
        t.mark(0, 6_000)
        t.mark(0, 5_500)  # a timer tick never moves the mark back
        assert not t.due(0, 6_500)


class TestTimerNow:
    def test_a_partition_with_unread_messages_is_not_ticked(self) -> None:
        """Its clock comes from its own messages, read in-stream."""
        t = ticks(p0=10_000)
        assert t.timer_now(0, 0, lambda p: True, [0]) is None

    def test_own_clock_runs_on_with_wall_time(self) -> None:
        """A caught-up partition: its newest event time plus the wall time since."""
        t = ticks(p0=10_000, p1=50_000)
        assert t.timer_now(0, 2_000, {1}.__contains__, [0, 1]) == 12_000

    def test_a_partition_without_a_clock_waits_for_the_backlog(self) -> None:
        """No message since the take-over: not ticked while any partition is behind (its
        own messages will tick it), then at the newest clock once none is."""
        t = ticks(p1=50_000)
        assert t.timer_now(0, 2_000, {1}.__contains__, [0, 1]) is None
        assert t.timer_now(0, 2_000, lambda p: False, [0, 1]) == 52_000
        assert Ticks(1000).timer_now(3, 0, lambda p: False, [3]) is None


class TestGapDue:
    def test_a_message_after_a_quiet_stretch_ticks_just_before_it(self) -> None:
        """Partition 0 last ticked at 10 s; a message at 200 s: tick at 199.999 s first."""
        t = Ticks(1000)
        t.mark(0, 10_000)
        assert t.gap_due(0, 200_000) == 199_999
        assert t.gap_due(0, 10_500) is None
        assert t.gap_due(1, 200_000) is None  # never ticked: nothing to fill


class TestHistory:
    def test_history_keeps_its_own_time(self) -> None:
        """Data read long after its event time does not run on with the wall clock."""
        c = StreamClock()
        c.observe(10_000, wall_ms=500_000)
        assert not c.live
        assert c.now(900_000) == 10_000

    def test_after_a_backlog_quiet_partitions_stop_at_its_end(self) -> None:
        """A finished backlog: every partition follows the newest event time, no further."""
        t = Ticks(1000)
        t.observe(0, 10_000, wall_ms=900_000)
        t.observe(1, 50_000, wall_ms=900_000)
        assert t.timer_now(0, 2_000_000, lambda p: False, [0, 1]) == 50_000

    def test_one_live_partition_carries_the_others_on(self) -> None:
        """Live data somewhere: a partition whose last data was history follows it."""
        t = Ticks(1000)
        t.observe(0, 10_000, wall_ms=900_000)
        t.observe(1, 890_000, wall_ms=900_000)
        assert t.timer_now(0, 905_000, lambda p: False, [0, 1]) == 895_000
