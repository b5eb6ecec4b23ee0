"""PartitionBook: every exactly-once rule of the worker, step by step.

The steps mirror the delivery order in docs/architecture.md: admit (offsets decide what
is processed), process, outputs delivered, states delivered, commit. A "delivery" is
what faust hands the worker; the book says what to process of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.worker.offsets import Record
from streams.worker.partitions import Gap, PartitionBook, StallAction

M = "rackwatch.metrics"
L = "rackwatch.logs"


def rec(offset: int, partition: int = 0, topic: str = M) -> Record:
    return Record(topic, partition, offset, b"h", b"{}")


def plan(items: list[Record | Gap]) -> list[object]:
    """Records as their offsets, gaps as ("gap", start, end)."""
    return [("gap", i.start, i.end) if isinstance(i, Gap) else i.offset for i in items]


@dataclass
class Case:
    name: str
    resume: int  # the group's committed offset when the partition is taken over
    deliveries: list[list[int]]  # offsets faust delivers, batch by batch
    processed: list[list[object]]  # what the book says to process, batch by batch
    commit: int  # the offset due for commit at the end


CASES = [
    Case("in order from the committed offset", 5, [[5, 6, 7], [8]],
         [[5, 6, 7], [8]], 9),
    Case("redelivery after a crash: below the resume offset is already done", 5,
         [[3, 4, 5, 6]], [[5, 6]], 7),
    Case("redelivery after a seek: a second copy is skipped", 0, [[0, 1, 2], [1, 2, 3]],
         [[0, 1, 2], [3]], 4),
    Case("a jump: the missed offsets are read from the topic first", 0, [[0, 1, 4, 5]],
         [[0, 1, ("gap", 2, 4), 4, 5]], 6),
    Case("out of order: a late lower offset is already covered by the gap read", 0,
         [[0, 3], [1, 2, 4]], [[0, ("gap", 1, 3), 3], [4]], 5),
    Case("the first delivery after a take-over starts past the resume offset", 10,
         [[12, 13]], [[("gap", 10, 12), 12, 13]], 14),
]


class TestAdmission:
    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_rules(self, case: Case) -> None:
        """Each offset is processed once, in order, none missing, from the resume offset."""
        book = PartitionBook()
        book.take_over((M, 0), case.resume, {}, now=0.0)
        got = [plan(book.admit([rec(o) for o in d], {(M, 0)}, now=1.0).items)
               for d in case.deliveries]
        assert got == case.processed
        assert book.commit_due() == {(M, 0): case.commit}

    def test_unowned_partitions_are_left_to_their_owner(self) -> None:
        """A delivery for a partition not owned now is skipped and counted, whatever it is."""
        book = PartitionBook()
        book.take_over((M, 0), 0, {}, now=0.0)
        adm = book.admit([rec(0), rec(0, partition=1), rec(1)], {(M, 0)}, now=1.0)
        assert plan(adm.items) == [0, 1]
        assert adm.skipped_unowned == 1

    def test_owned_partition_must_be_taken_over_first(self) -> None:
        """An owned partition the book does not know yet is named for a take-over."""
        book = PartitionBook()
        delivery = [rec(0), rec(0, topic=L), rec(0, partition=3)]
        assert book.unknown(delivery, {(M, 0), (L, 0)}) == {(M, 0), (L, 0)}

    def test_a_message_fetched_in_an_earlier_generation_is_processed(self) -> None:
        """What is processed is decided by offsets alone: a message fetched before the
        rebalance, for a partition owned again after it, is processed (dropping it
        stalled a partition whose whole backlog had been fetched already)."""
        book = PartitionBook()
        book.take_over((M, 0), 100, {}, now=0.0)
        adm = book.admit([rec(100), rec(101)], {(M, 0)}, now=1.0)
        assert plan(adm.items) == [100, 101] and adm.skipped_unowned == 0

    def test_landed_outputs_are_not_sent_again(self) -> None:
        """Input offsets whose records the previous owner delivered are known as landed,
        with the alerts sent with them."""
        book = PartitionBook()
        book.take_over((M, 0), 5, {5: frozenset({"a1"}), 6: frozenset()}, now=0.0)
        assert [book.landed((M, 0), o) for o in (4, 5, 6, 7)] == [
            None, frozenset({"a1"}), frozenset(), None]


class TestCommits:
    def test_take_over_mid_batch(self) -> None:
        """A partition taken over while another is mid-batch: each commits its own offsets."""
        book = PartitionBook()
        book.take_over((M, 0), 0, {}, now=0.0)
        book.admit([rec(0), rec(1)], {(M, 0), (M, 1)}, now=1.0)
        book.take_over((M, 1), 40, {}, now=1.0)
        book.admit([rec(40, partition=1), rec(2)], {(M, 0), (M, 1)}, now=1.0)
        assert book.commit_due() == {(M, 0): 3, (M, 1): 41}

    def test_a_rebalance_between_process_and_commit(self) -> None:
        """Processed but not committed when the partitions go: nothing is due any more,
        and the next owner resumes from the committed offset (reads them again)."""
        book = PartitionBook()
        book.take_over((M, 0), 7, {}, now=0.0)
        book.admit([rec(7), rec(8)], {(M, 0)}, now=1.0)
        book.forget()
        assert book.commit_due() == {}
        assert not book.known((M, 0))
        book.take_over((M, 0), 7, {7: frozenset(), 8: frozenset()}, now=2.0)
        assert plan(book.admit([rec(7), rec(8), rec(9)], {(M, 0)}, now=3.0).items) == [7, 8, 9]
        assert book.landed((M, 0), 8) is not None and book.landed((M, 0), 9) is None

    def test_committed_offsets_are_not_due_again(self) -> None:
        """Once the broker accepted a commit, it is due again only after more progress."""
        book = PartitionBook()
        book.take_over((M, 0), 0, {}, now=0.0)
        book.admit([rec(0)], {(M, 0)}, now=1.0)
        book.committed(book.commit_due())
        assert book.commit_due() == {}
        book.admit([rec(1)], {(M, 0)}, now=1.0)
        assert book.commit_due() == {(M, 0): 2}

    def test_a_commit_reported_after_a_rebalance_is_ignored(self) -> None:
        """A commit answer for partitions forgotten meanwhile changes nothing."""
        book = PartitionBook()
        book.committed({(M, 0): 10})
        assert book.owned() == []


class TestStallWatch:
    def book(self) -> PartitionBook:
        b = PartitionBook(stall_timeout_s=60.0)
        b.take_over((M, 0), 10, {}, now=0.0)
        return b

    def test_input_beyond_the_next_offset_that_does_not_move_is_a_stall(self) -> None:
        """First verdict: seek; a whole timeout later, still stuck: exit."""
        b = self.book()
        assert b.stalls({(M, 0): 50}, now=59.0) == []
        first = b.stalls({(M, 0): 50}, now=61.0)
        assert [(s.tp, s.next_offset, s.end, s.action) for s in first] == [
            ((M, 0), 10, 50, StallAction.SEEK)]
        assert b.stalls({(M, 0): 50}, now=100.0) == []
        assert [s.action for s in b.stalls({(M, 0): 50}, now=122.0)] == [StallAction.EXIT]

    def test_progress_clears_the_stall(self) -> None:
        """A seek that helps: the partition moves, and the next stall starts over at seek."""
        b = self.book()
        b.stalls({(M, 0): 50}, now=61.0)
        b.admit([rec(10)], {(M, 0)}, now=70.0)
        assert b.stalls({(M, 0): 50}, now=100.0) == []
        assert [s.action for s in b.stalls({(M, 0): 50}, now=131.0)] == [StallAction.SEEK]

    def test_nothing_to_read_is_not_a_stall(self) -> None:
        """A quiet partition (end at the next offset) never stalls, however long."""
        b = self.book()
        assert b.stalls({(M, 0): 10}, now=1_000.0) == []
        assert b.stalls({(M, 0): 11}, now=1_050.0) == []

    def test_rebalancing_holds_the_watch(self) -> None:
        """While nothing can move (rebalance, state recovery), the stall clock restarts."""
        b = self.book()
        b.hold_watch(now=55.0)
        assert b.stalls({(M, 0): 50}, now=100.0) == []


class TestProperties:
    @given(st.lists(st.lists(st.integers(0, 60), max_size=20), max_size=8),
           st.integers(0, 20))
    def test_every_offset_once_in_order_none_missing(self, deliveries: list[list[int]],
                                                     resume: int) -> None:
        """Whatever faust delivers, in whatever order and repetition, the records plus the
        gaps cover every offset from the resume offset once, in increasing order."""
        book = PartitionBook()
        book.take_over((M, 0), resume, {}, now=0.0)
        covered: list[int] = []
        for d in deliveries:
            for item in book.admit([rec(o) for o in d], {(M, 0)}, now=1.0).items:
                if isinstance(item, Gap):
                    covered.extend(range(item.start, item.end))
                else:
                    covered.append(item.offset)
        assert covered == list(range(resume, resume + len(covered)))
        top = max((o for d in deliveries for o in d), default=-1)
        assert len(covered) == max(0, top + 1 - resume)
        due = book.commit_due()
        assert due == ({(M, 0): resume + len(covered)} if covered else {})
