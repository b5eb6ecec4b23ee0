"""PartitionBook: the worker's exactly-once bookkeeping per input partition, no I/O.

The worker processes each input partition it owns in offset order, every offset once,
from the group's committed offset on, and commits only offsets whose effects are
durable. faust's stream cannot be trusted to hand over exactly that: around a
rebalance it drops fetched messages, it may deliver a message fetched in an earlier
generation, it skips ahead over what it takes for a compacted gap, and after a seek it
delivers messages again. The book turns whatever was delivered into the records to
process, in order:

- a partition not owned now: left to its owner (`skipped_unowned`), whatever its
  generation — its owner resumes from the committed offset;
- a partition owned now and seen for the first time in this assignment: it must be
  `take_over`n first (the shell reads the committed offset and which outputs of the
  previous owner already landed, and hands both in);
- an offset below the next one to process: already processed (a redelivery after a
  seek) — skipped (`skipped_seen`);
- an offset above it: the offsets in between were not delivered; a `Gap` to read from
  the topic directly comes first, then the record.
An owned partition's delivery is processed whatever generation fetched it: what is
processed is decided by offsets alone, so a message fetched just before a rebalance
is never dropped for good (dropping those stalled a partition whose backlog was all
fetched already: faust does not deliver it again).

Commits: `commit_due` is every owned partition whose next offset is past its
committed one; the shell commits them after the batch's outputs and states are
durable and reports back with `committed`. A rebalance `forget`s everything: the next
owner (this worker or another) resumes from what was committed.

Watchdog: each owned partition remembers when its next offset last moved. `stalls`
names the partitions with input beyond their next offset that have not moved for the
timeout; the first time the shell seeks the stream back to the next offset, the
second time it gives up and exits so that its supervisor restarts it.

The clock (monotonic seconds) is always passed in; the Kafka calls live in the shell.
docs/architecture.md draws the delivery order these rules serve, and
tests/unit/worker/test_partitions.py walks through every rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from streams.worker.offsets import Record

__all__ = ["Admission", "Gap", "PartitionBook", "Stall", "StallAction", "TPKey"]

TPKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Gap:
    """Offsets [start, end) of a partition that the stream did not deliver."""

    topic: str
    partition: int
    start: int
    end: int


@dataclass
class Admission:
    """What to process of one delivered batch, in order, and what was left out."""

    items: list[Record | Gap] = field(default_factory=list)
    skipped_unowned: int = 0  # partitions this worker does not own now
    skipped_seen: int = 0  # offsets already processed (delivered again)


class StallAction(Enum):
    SEEK = "seek"  # seek the stream back to the next offset to process
    EXIT = "exit"  # a seek did not help: exit, so a fresh process takes over


@dataclass(frozen=True, slots=True)
class Stall:
    """A partition with input beyond its next offset that has not moved for too long."""

    tp: TPKey
    next_offset: int
    end: int
    stalled_s: float
    action: StallAction


@dataclass
class _Part:
    next_offset: int
    committed: int
    landed: dict[int, frozenset[str]]  # input offset -> the alerts its processing sent
    moved_at: float  # monotonic seconds when next_offset last moved (or the watch reset)
    seeks: int = 0  # seeks since it last moved


class PartitionBook:
    """Per owned input partition: next offset, committed offset, landed outputs, progress."""

    def __init__(self, stall_timeout_s: float = 60.0) -> None:
        self.stall_timeout_s = stall_timeout_s
        self._parts: dict[TPKey, _Part] = {}

    # ------------------------------------------------------------------ ownership
    def known(self, tp: TPKey) -> bool:
        return tp in self._parts

    def unknown(self, delivered: Iterable[Record], owned: set[TPKey]) -> set[TPKey]:
        """Owned partitions in this delivery that must be taken over before it is admitted."""
        return {(r.topic, r.partition) for r in delivered
                if (r.topic, r.partition) in owned and (r.topic, r.partition) not in self._parts}

    def take_over(self, tp: TPKey, resume: int, landed: dict[int, frozenset[str]],
                  now: float) -> None:
        """Start processing `tp` at `resume` (the group's committed offset); `landed` are
        the input offsets from there whose processed records the previous owner delivered,
        each with the alerts (digests) its processing sent."""
        self._parts[tp] = _Part(resume, resume, dict(landed), now)

    def forget(self) -> None:
        """A rebalance: nothing is known any more until partitions are taken over again."""
        self._parts.clear()

    def owned(self) -> list[TPKey]:
        return list(self._parts)

    # ------------------------------------------------------------------ processing
    def admit(self, delivered: Iterable[Record], owned: set[TPKey], now: float) -> Admission:
        """The records to process of a delivery, in offset order per partition, each
        offset once, gaps first. Every owned partition in it must be known (take over)."""
        adm = Admission()
        for r in delivered:
            tp = (r.topic, r.partition)
            part = self._parts.get(tp)
            if tp not in owned or part is None:
                adm.skipped_unowned += 1
                continue
            if r.offset < part.next_offset:
                adm.skipped_seen += 1
                continue
            if r.offset > part.next_offset:
                adm.items.append(Gap(r.topic, r.partition, part.next_offset, r.offset))
            adm.items.append(r)
            part.next_offset = r.offset + 1
            part.moved_at, part.seeks = now, 0
        return adm

    def next_offset(self, tp: TPKey) -> int | None:
        part = self._parts.get(tp)
        return None if part is None else part.next_offset

    def landed(self, tp: TPKey, offset: int) -> frozenset[str] | None:
        """The alerts (digests) the previous owner sent for this input offset when it
        already delivered its processed records; None when it did not."""
        part = self._parts.get(tp)
        return None if part is None else part.landed.get(offset)

    def lagging(self, tp: TPKey, end: int | None) -> bool:
        """Are there messages in `tp` (whose end offset is `end`) not processed yet? A
        partition not taken over yet, or whose end is unknown, may hold a backlog: it
        counts as lagging (its hosts must not be judged on another partition's clock)."""
        part = self._parts.get(tp)
        return part is None or end is None or part.next_offset < end

    # ------------------------------------------------------------------ commits
    def commit_due(self) -> dict[TPKey, int]:
        """Offsets to commit: every partition processed past its committed offset."""
        return {tp: p.next_offset for tp, p in self._parts.items()
                if p.next_offset != p.committed}

    def committed(self, offsets: dict[TPKey, int]) -> None:
        """The broker accepted these commits (partitions forgotten meanwhile are ignored)."""
        for tp, o in offsets.items():
            part = self._parts.get(tp)
            if part is not None:
                part.committed = max(part.committed, o)

    # ------------------------------------------------------------------ watchdog
    def hold_watch(self, now: float) -> None:
        """Restart every partition's stall clock (while rebalancing or recovering state,
        nothing can move, and that is not a stall)."""
        for part in self._parts.values():
            part.moved_at = now

    def stalls(self, ends: dict[TPKey, int], now: float) -> list[Stall]:
        """Partitions whose input goes beyond their next offset and that have not moved
        for `stall_timeout_s`; each one's clock restarts with the verdict, so a seek
        gets a whole timeout to help before the next verdict says exit."""
        out = []
        for tp, part in self._parts.items():
            end = ends.get(tp)
            if end is None or end <= part.next_offset:
                part.moved_at, part.seeks = now, 0  # nothing to read: not stalled
                continue
            stalled = now - part.moved_at
            if stalled < self.stall_timeout_s:
                continue
            action = StallAction.SEEK if part.seeks == 0 else StallAction.EXIT
            out.append(Stall(tp, part.next_offset, end, stalled, action))
            part.seeks += 1
            part.moved_at = now
        return out
