"""Keep-or-drop by (host, seq), with bounded memory per host.

Agents number their batches per host, strictly increasing and surviving restarts,
so the newest seq seen plus a bitmask of the `WINDOW` seqs below it decides every
case: a higher seq is new, a seq in the window is new unless its bit is set, and an
older one is a duplicate. A seq far below the newest one means an agent lost its
state file and started again from scratch; that is accepted as a reset (and counted)
rather than dropping that host's data forever.

The state is `[max_seq, bits]`, two integers, so it serialises into the changelog as
is (the bitmask fits a signed 64-bit integer, which JSON encoders accept).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["RESET_DISTANCE", "WINDOW", "Verdict", "check"]

WINDOW = 62
RESET_DISTANCE = 100_000
_MASK = (1 << WINDOW) - 1


class Verdict(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    RESET = "reset"  # accepted: the sender restarted its numbering


def check(state: list[int] | None, seq: int) -> tuple[Verdict, list[int]]:
    """Decide about `seq` and return the verdict with the updated state (a new list)."""
    if state is None:
        return Verdict.NEW, [seq, 0]
    top, bits = state
    if seq > top:
        shift = seq - top
        bits = ((bits << shift) | (1 << (shift - 1))) & _MASK if shift <= WINDOW else 0
        return Verdict.NEW, [seq, bits]
    if seq == top:
        return Verdict.DUPLICATE, state
    distance = top - seq
    if distance <= WINDOW:
        bit = 1 << (distance - 1)
        if bits & bit:
            return Verdict.DUPLICATE, state
        return Verdict.NEW, [top, bits | bit]
    if distance >= RESET_DISTANCE:
        return Verdict.RESET, [seq, 0]
    return Verdict.DUPLICATE, state
