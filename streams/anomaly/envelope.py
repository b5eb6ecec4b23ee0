"""How high has this series been lately? A bounded record of its highest levels.

The detector's question is "has this series been here before?". An envelope answers
half of it (one direction; the detector keeps one per direction, the low side as the
high side of the negated values): it keeps the maximum of each block of samples in a
ring, and the level it reports is the `rank`-th highest of those maxima (the open
block's maximum included). Rank 2 rather than the plain maximum so that one past
outlier (the first sample of a series, a glitch) does not hide everything below it for
the whole horizon, while a level the series reached twice still counts as seen.

Blocks start small and grow: the first blocks hold `first` samples, and whenever the
ring is full the adjacent pairs merge (the maximum of two blocks is the maximum of
their union) and the block size doubles, until it reaches `block`. A young series thus
has a usable envelope after `min_blocks * first` samples, and an old one remembers
`block * blocks` samples; the state is `blocks` numbers either way.

An envelope is a plain list (it lives in the changelogged host state):
[block, count, open_max, top1, top2, maxima] with block the current block size, count
the samples in the open block, open_max its maximum (meaningless while count is 0),
top1 >= top2 the two highest closed maxima (equal to the one there is while only one
block closed), and maxima the closed blocks' maxima, oldest first. `envelope_push` and
`envelope_level` are the reference operations; the detector writes them out inline.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BLOCK", "COUNT", "MAXIMA", "OPEN_MAX", "TOP1", "TOP2", "Envelope", "close_block",
           "envelope_level", "envelope_push", "new_envelope", "refresh_tops"]

Envelope = list[Any]

# positions in an envelope list
BLOCK, COUNT, OPEN_MAX, TOP1, TOP2, MAXIMA = range(6)


def new_envelope(first: int) -> Envelope:
    """An envelope that has seen nothing: blocks of `first` samples to begin with."""
    return [first, 0, 0.0, 0.0, 0.0, []]


def envelope_level(env: Envelope) -> float | None:
    """The second-highest block maximum, open block included (None before two blocks)."""
    maxima: list[float] = env[MAXIMA]
    if len(maxima) < 2:
        return None
    top1, top2 = env[TOP1], env[TOP2]
    if env[COUNT]:
        cur = env[OPEN_MAX]
        if cur > top2:
            return float(cur if cur < top1 else top1)
    return float(top2)


def envelope_push(env: Envelope, v: float, block: int, blocks: int) -> None:
    """Fold one sample in (after it was judged); closes and merges blocks as needed."""
    count = env[COUNT]
    if count == 0 or v > env[OPEN_MAX]:
        env[OPEN_MAX] = v
    count += 1
    if count < env[BLOCK]:
        env[COUNT] = count
        return
    close_block(env, block, blocks)


def close_block(env: Envelope, block: int, blocks: int) -> None:
    """The open block is full: its maximum joins the ring (the rare part of a push)."""
    maxima: list[float] = env[MAXIMA]
    m = float(f"{env[OPEN_MAX]:.9g}")  # 9 digits: shorter JSON, and plenty
    maxima.append(m)
    env[COUNT] = 0
    if len(maxima) >= blocks and env[BLOCK] < block:
        merged = [a if a > b else b for a, b in zip(maxima[0::2], maxima[1::2], strict=False)]
        if len(maxima) % 2:
            merged.append(maxima[-1])
        maxima[:] = merged
        env[BLOCK] = min(2 * env[BLOCK], block)
        refresh_tops(env)  # (the two highest may have merged into one)
    elif len(maxima) > blocks:
        gone = maxima.pop(0)
        if gone >= env[TOP2]:
            refresh_tops(env)
        elif m > env[TOP2]:
            _raise_tops(env, m)
    elif len(maxima) <= 2:
        refresh_tops(env)
    elif m > env[TOP2]:
        _raise_tops(env, m)


def _raise_tops(env: Envelope, m: float) -> None:
    """A new maximum above the second-highest joined the ring."""
    if m > env[TOP1]:
        env[TOP1], env[TOP2] = m, env[TOP1]
    else:
        env[TOP2] = m


def refresh_tops(env: Envelope) -> None:
    """Recompute the two highest closed maxima (after the ring changed)."""
    maxima: list[float] = env[MAXIMA]
    top1 = top2 = maxima[0]
    if len(maxima) > 1:
        a, b = maxima[0], maxima[1]
        top1, top2 = (a, b) if a >= b else (b, a)
        for m in maxima[2:]:
            if m > top1:
                top1, top2 = m, top1
            elif m > top2:
                top2 = m
    env[TOP1], env[TOP2] = top1, top2
