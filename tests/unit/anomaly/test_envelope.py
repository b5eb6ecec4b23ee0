"""Envelopes: the second-highest level of a bounded, growing ring of block maxima."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.anomaly import AnomalyParams, detector
from streams.anomaly.envelope import (
    BLOCK,
    MAXIMA,
    TOP1,
    TOP2,
    envelope_level,
    envelope_push,
    new_envelope,
)

VALUES = st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=700)


def second_highest(xs: list[float]) -> float:
    return sorted(xs)[-2]


class TestLevel:
    """What an envelope reports."""

    def test_nothing_before_two_blocks(self) -> None:
        """A level needs two closed blocks."""
        env = new_envelope(4)
        for x in (1.0, 2.0, 3.0, 4.0, 5.0):
            envelope_push(env, x, 128, 32)
        assert envelope_level(env) is None

    @given(VALUES)
    def test_second_highest_while_nothing_was_dropped(self, xs: list[float]) -> None:
        """Before the horizon fills, the level is the second-highest block maximum seen
        (the open block included): a single outlier does not set it."""
        env = new_envelope(4)
        for x in xs:
            envelope_push(env, x, 128, 32)
        level = envelope_level(env)
        if level is None:
            return
        blocks = env[MAXIMA] + ([env[2]] if env[1] else [])
        assert level == second_highest(blocks)
        assert level <= max(xs) + 1e-8 * abs(max(xs))  # (maxima are rounded to 9 digits)

    def test_forgets_beyond_the_horizon(self) -> None:
        """A peak older than block * blocks samples no longer counts."""
        env = new_envelope(4)
        for x in [100.0, 100.0] + [1.0] * (16 * 8 + 64):
            envelope_push(env, x, 16, 8)
        assert envelope_level(env) == 1.0


class TestGrowth:
    """Blocks grow from the first size to `block` as the ring fills."""

    def test_blocks_double_until_the_largest(self) -> None:
        """After enough samples the blocks are `block` long and the ring holds `blocks`."""
        env = new_envelope(4)
        sizes = set()
        for i in range(10_000):
            envelope_push(env, float(i % 97), 128, 32)
            sizes.add(env[BLOCK])
        assert sizes == {4, 8, 16, 32, 64, 128}
        assert len(env[MAXIMA]) <= 32

    @given(VALUES)
    def test_tops_are_the_two_highest_closed_maxima(self, xs: list[float]) -> None:
        """The cached top two are those of the ring."""
        env = new_envelope(4)
        for x in xs:
            envelope_push(env, x, 32, 8)
        if len(env[MAXIMA]) >= 2:
            ranked = sorted(env[MAXIMA])
            assert (env[TOP1], env[TOP2]) == (ranked[-1], ranked[-2])


class TestWrittenOut:
    """The detector's inline forms are the same arithmetic as the reference ones."""

    @given(VALUES)
    def test_push_and_level(self, xs: list[float]) -> None:
        """detector._push / _level leave and report what envelope_push / envelope_level do."""
        a, b = new_envelope(4), new_envelope(4)
        params = AnomalyParams()
        for x in xs:
            envelope_push(a, x, params.block, params.blocks)
            detector._push(b, x, params)
            assert a == b
            if len(a[MAXIMA]) >= 2:
                assert detector._level(b) == envelope_level(a)
