"""Rounds: the batches the sink writes at once, and the names that make a repeat of
one harmless.

What a ClickHouse insert costs is mostly fixed (every view the insert reaches builds
its pipeline, every target table gets a part), so the sink writes all the batches it
holds, across partitions and topics, as one insert per table: a round. A retried insert
is dropped by ClickHouse when it carries the same deduplication token and the same
rows, block for block. So a round is written in a fixed order (`ordered`), its token
names its batches (`round_token`), and the journal keeps, for every batch, the token of
its round: after a crash, whoever owns any of its partitions reads the round's batches
back from Kafka and writes the very same inserts again (sinks.recovery).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sinks.batch import Batch

__all__ = ["Member", "ordered", "round_token", "table_token"]


@dataclass(frozen=True, slots=True, order=True)
class Member:
    """One batch of a journaled round: a partition's offsets first..last (inclusive)."""

    topic: str
    partition: int
    first: int
    last: int

    @property
    def token(self) -> str:
        return f"{self.topic}:{self.partition}:{self.first}-{self.last}"


def ordered(batches: Iterable[Batch]) -> list[Batch]:
    """The round's batches in its fixed order: by topic, partition and first offset."""
    return sorted(batches, key=lambda b: (b.topic, b.partition, b.first_offset))


def round_token(batches: list[Batch]) -> str:
    """The deduplication token of a round: a batch alone keeps its own name (the token
    it has always had), several are named by a digest of theirs. Distinct rounds never
    share one, since no offset range of a partition is journaled in two rounds."""
    names = sorted(b.token for b in batches)
    if len(names) == 1:
        return names[0]
    digest = hashlib.blake2b("\n".join(names).encode(), digest_size=16).hexdigest()
    return f"round:{len(names)}:{digest}"


def table_token(token: str, index: int, table: str) -> str:
    """The token of a round's insert into its `index`-th table: the round's own for
    the first, with the table's name for the others."""
    return token if index == 0 else f"{token}@{table}"
