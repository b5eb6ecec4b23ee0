"""Counter deltas and rates: wrap, reset, vanished devices."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from producers.rates import CounterRates, counter_delta

W32 = 1 << 32
W64 = 1 << 64


class TestCounterDelta:
    def test_plain_growth(self) -> None:
        """A growing counter yields its growth."""
        assert counter_delta(100, 350, 1.0) == 250

    def test_32bit_wrap(self) -> None:
        """A 32-bit counter that wrapped yields the distance across the wrap."""
        assert counter_delta(W32 - 10, 5, 1.0) == 15

    def test_64bit_wrap(self) -> None:
        """A 64-bit counter near its top that wrapped is a wrap too."""
        assert counter_delta(W64 - 100, 50, 1.0) == 150

    def test_reset_to_small_value_is_not_a_spike(self) -> None:
        """A counter far from any wrap point that drops is a reset: no delta at all."""
        assert counter_delta(5_000_000_000, 1_000, 1.0) is None
        assert counter_delta(1_000_000, 10, 1.0) is None

    def test_implausible_wrap_is_a_reset(self) -> None:
        """A decrease that would imply more than max_rate is treated as a reset."""
        assert counter_delta(W32 - 10, W32 // 2 - 1, 1.0, max_rate=1e6) is None

    def test_implausible_growth_is_rejected(self) -> None:
        """Growth faster than max_rate (a device swapped for one with a big counter) is dropped."""
        assert counter_delta(0, 10**12, 1.0, max_rate=1e9) is None

    def test_no_time_no_rate(self) -> None:
        """A zero or negative interval (clock step) yields nothing."""
        assert counter_delta(1, 2, 0.0) is None
        assert counter_delta(1, 2, -1.0) is None

    @given(st.integers(0, W32 - 1), st.integers(0, 10**6))
    def test_32bit_wrap_is_exact(self, start: int, step: int) -> None:
        """Any growth of a 32-bit counter, wrapped or not, is recovered exactly."""
        cur = (start + step) % W32
        assert counter_delta(start, cur, 1.0) == step

    @given(st.integers(0, W64 - 1), st.integers(0, W64 - 1), st.floats(0.001, 100))
    def test_never_negative(self, prev: int, cur: int, dt: float) -> None:
        """Whatever the counters do, a delta is never negative."""
        got = counter_delta(prev, cur, dt)
        assert got is None or got >= 0


class TestCounterRates:
    def test_first_reading_is_a_baseline(self) -> None:
        """A series' first reading has no rate."""
        r = CounterRates()
        assert r.update("eth0", 0.0, (100.0,)) is None
        assert r.update("eth0", 2.0, (300.0,)) == (100.0,)

    def test_reset_gives_none_then_recovers(self) -> None:
        """After a reset the interval has no rate, the next one is normal again."""
        r = CounterRates()
        r.update("sda", 0.0, (10_000_000.0, 5.0))
        assert r.update("sda", 1.0, (1_000.0, 6.0)) == (None, 1.0)
        assert r.update("sda", 2.0, (3_000.0, 8.0)) == (2_000.0, 2.0)
        assert r.stats.resets == 1

    def test_vanished_device_restarts_from_baseline(self) -> None:
        """A device that disappears and returns gets a fresh baseline, not a spike."""
        r = CounterRates()
        r.update("nvme1n1", 0.0, (10**9,))
        r.keep_only([])
        assert r.stats.vanished == 1
        assert r.update("nvme1n1", 5.0, (10.0,)) is None
        assert r.update("nvme1n1", 6.0, (20.0,)) == (10.0,)

    def test_per_counter_limits(self) -> None:
        """A max rate applies to its own counter position only."""
        r = CounterRates(max_rates=(10.0, None))
        r.update("x", 0.0, (0.0, 0.0))
        assert r.update("x", 1.0, (100.0, 100.0)) == (None, 100.0)
