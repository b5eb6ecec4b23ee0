"""Keep-or-drop by (host, epoch, seq), with bounded memory per host.

A producer numbers its batches per host, strictly increasing, and names the numbering
with an *epoch*: an id chosen when its sequence state is created and persisted with it.
An agent restarted with its state file keeps its epoch and continues its numbers; one
whose state was lost (a reimaged node, a wiped /var/lib, a simulator run again) starts
a new epoch, and its numbers start a new sequence. So a batch is decided by:

- its epoch's window: the newest seq seen in that epoch plus a bitmask of the `WINDOW`
  seqs below it. A higher seq is new, a seq in the window is new unless its bit is
  set, an older one is a duplicate (a resend after a broker error, a partition read
  again after a crash). Far below the newest (`RESET_DISTANCE`), it is taken as a
  restart of the numbering inside one epoch, as producers without epochs do;
- a new epoch: accepted, and it becomes the host's current epoch. The old epoch's
  window is kept (up to `MAX_EPOCHS` in all, each forgotten `EPOCH_MEMORY_MS` of event
  time after its last batch), so its late duplicates are still dropped;
- a new seq of an older epoch, after a newer one has taken over: two live producers
  claim one host (two agents with the same host name, or a stale one still running).
  Mixing them would blend two machines into one series, so the rule is documented and
  strict: the newest epoch owns the host; the older epoch's new batches are CONFLICT,
  which the caller dead-letters (reason `host_conflict`) and counts. Nothing is
  dropped in silence: duplicates are counted, conflicts are kept in the dead letters.

A batch without an epoch (an old producer) has the epoch "". The state is a list of
windows `[epoch, top, bits, seen_ms]`, the host's current epoch first: plain JSON
that serialises into the changelog as it is (the bitmask fits a signed 64-bit
integer). The state written before epochs existed, `[top, bits]`, reads as the window
of epoch "".
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["EPOCH_MEMORY_MS", "MAX_EPOCHS", "RESET_DISTANCE", "WINDOW", "DedupState",
           "Verdict", "check", "epoch_of"]

WINDOW = 62
RESET_DISTANCE = 100_000
MAX_EPOCHS = 4  # the current one and three before it
EPOCH_MEMORY_MS = 3_600_000  # an old epoch's late resends come within minutes
_MASK = (1 << WINDOW) - 1

# [[epoch, top, bits, seen_ms], ...], current first; legacy: [top, bits].
DedupState = list[Any]


class Verdict(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    RESET = "reset"  # accepted: the sender restarted its numbering within its epoch
    NEW_EPOCH = "new_epoch"  # accepted: a producer with a new sequence state
    CONFLICT = "conflict"  # rejected: an older epoch after a newer one took over


def epoch_of(event: Any) -> str:
    """The producer epoch of a decoded event ("" for producers that send none)."""
    epoch = event.get("epoch")
    return epoch if isinstance(epoch, str) else ""


def _windows(state: DedupState | None) -> list[list[Any]]:
    if not state:
        return []
    if isinstance(state[0], int):  # before epochs: [top, bits]
        return [["", state[0], state[1], 0]]
    return state


def _advance(top: int, bits: int, seq: int) -> tuple[bool, int, int, bool]:
    """One epoch's window and `seq` -> (new, top, bits, reset)."""
    if seq > top:
        shift = seq - top
        bits = ((bits << shift) | (1 << (shift - 1))) & _MASK if shift <= WINDOW else 0
        return True, seq, bits, False
    if seq == top:
        return False, top, bits, False
    distance = top - seq
    if distance <= WINDOW:
        bit = 1 << (distance - 1)
        if bits & bit:
            return False, top, bits, False
        return True, top, bits | bit, False
    if distance >= RESET_DISTANCE:
        return True, seq, 0, True
    return False, top, bits, False


def check(state: DedupState | None, seq: int, epoch: str = "", ts: int = 0
          ) -> tuple[Verdict, DedupState]:
    """Decide about (`epoch`, `seq`) at event time `ts`; returns the verdict and the
    state to keep (a new list when anything changed; the same one for a duplicate)."""
    windows = _windows(state)
    for i, (e, top, bits, seen) in enumerate(windows):
        if e != epoch:
            continue
        new, top, bits, reset = _advance(top, bits, seq)
        if not new:
            return Verdict.DUPLICATE, state if state is not None else []
        if i > 0:  # an older epoch sending new data: two producers claim the host
            out = list(windows)
            out[i] = [e, windows[i][1], windows[i][2], max(seen, ts)]  # alive, not advanced
            return Verdict.CONFLICT, out
        out = [[e, top, bits, max(seen, ts)], *windows[1:]]
        return (Verdict.RESET if reset else Verdict.NEW), out
    fresh = [epoch, seq, 0, ts]
    if not windows:
        return Verdict.NEW, [fresh]
    kept = [w for w in windows if not w[3] or ts - w[3] < EPOCH_MEMORY_MS][: MAX_EPOCHS - 1]
    return Verdict.NEW_EPOCH, [fresh, *kept]
