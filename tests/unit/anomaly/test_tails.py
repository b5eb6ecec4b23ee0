"""Extreme-value tails over block maxima: calibration, robustness, bounds."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from streams.anomaly.tails import new_tail, tail_log10p, tail_push

BLOCK, BLOCKS, MIN_BLOCKS = 32, 64, 8


def fed(values: list[float]) -> dict[str, object]:
    tail = new_tail()
    for v in values:
        tail_push(tail, v, BLOCK, BLOCKS, MIN_BLOCKS)
    return tail


class TestTail:
    def test_unfitted_tail_says_not_rare(self) -> None:
        """Before min_blocks blocks have closed, every value has probability 1."""
        tail = fed([0.0] * (BLOCK * MIN_BLOCKS - 1))
        assert tail_log10p(tail, 1e9, BLOCK, 0.0) == 0.0

    def test_calibrated_on_gaussian_noise(self) -> None:
        """On i.i.d. N(0,1), the per-sample probability of exceeding 4 sigma is near the truth."""
        rng = random.Random(1)
        tail = fed([rng.gauss(0, 1) for _ in range(BLOCK * BLOCKS)])
        truth = math.log10(0.5 * math.erfc(4 / math.sqrt(2)))  # about -4.5
        assert tail_log10p(tail, 4.0, BLOCK, 0.0) == pytest.approx(truth, abs=1.0)

    def test_monotone_and_bounded(self) -> None:
        """Larger values are rarer; probabilities never exceed 1."""
        rng = random.Random(2)
        tail = fed([rng.expovariate(1.0) for _ in range(BLOCK * 20)])
        lps = [tail_log10p(tail, v / 4, BLOCK, 0.0) for v in range(-40, 400)]
        assert all(lp <= 0.0 for lp in lps)
        assert all(a >= b for a, b in itertools.pairwise(lps))
        assert lps[-1] < -20

    def test_one_wild_block_does_not_blind_the_tail(self) -> None:
        """A single huge block maximum barely moves the quartile fit."""
        rng = random.Random(3)
        values = [rng.gauss(0, 1) for _ in range(BLOCK * BLOCKS)]
        before = tail_log10p(fed(values), 6.0, BLOCK, 0.0)
        values[100] = 1e6
        after = tail_log10p(fed(values), 6.0, BLOCK, 0.0)
        assert after == pytest.approx(before, abs=1.0)
        assert after < -4  # still a rare value, though Gumbel's tail is heavier than Gauss's

    def test_floor_bounds_the_scale(self) -> None:
        """A flat history with a floor makes a change rare in proportion to the floor."""
        tail = fed([5.0] * (BLOCK * MIN_BLOCKS))
        assert tail_log10p(tail, 5.0 + 1e-12, BLOCK, 1e-9) > -2
        assert tail_log10p(tail, 6.0, BLOCK, 1e-9) < -100

    def test_ring_is_bounded(self) -> None:
        """Only the last `blocks` maxima are kept, however long the series."""
        tail = fed([float(i % 97) for i in range(BLOCK * BLOCKS * 3)])
        assert len(tail["m"]) == BLOCKS  # type: ignore[arg-type]

    def test_push_reports_block_closure(self) -> None:
        """tail_push returns True exactly once per `block` samples."""
        tail = new_tail()
        closed = [tail_push(tail, 1.0, BLOCK, BLOCKS, MIN_BLOCKS) for _ in range(BLOCK * 3)]
        assert [i for i, c in enumerate(closed) if c] == [BLOCK - 1, 2 * BLOCK - 1, 3 * BLOCK - 1]
