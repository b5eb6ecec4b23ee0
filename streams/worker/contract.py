"""What the worker's processing is given: the consumer group member and the topics.

faust is reached only through `Group` (ownership, partition ends, seeks and commits), so
streams.worker.processing and streams.worker.ticking can be read, and tested, without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from streams.worker.partitions import TPKey

__all__ = ["Group", "Topics"]


class Group(Protocol):
    """What the processing needs of the consumer group member (faust, in the worker)."""

    def owned(self) -> set[TPKey]: ...
    def highwater(self, tp: TPKey) -> int | None: ...
    def settling(self) -> bool: ...  # rebalancing, or recovering table state
    async def seek(self, tp: TPKey, offset: int) -> None: ...
    async def commit(self, offsets: dict[TPKey, int]) -> bool: ...


@dataclass(frozen=True)
class Topics:
    """Full names of the topics the worker reads and writes."""

    metrics: str
    logs: str
    correlate: str
    rows: str
    log_rows: str
    alerts: str
    incidents: str
    deadletter: str
    actions: str = "rackwatch.actions"

    def output_of(self, topic: str) -> str | None:
        """Where the processed records of an input topic go (co-partitioned with it)."""
        return {self.metrics: self.rows, self.logs: self.log_rows}.get(topic)
