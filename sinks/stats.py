"""What the sink counts: every drop, retry and pause is visible (Vector's habit)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["SinkStats"]


@dataclass
class SinkStats:
    """Counters of one sink run. Each field is written by one thread only (the event
    loop or the writer thread), so plain integers are enough."""

    messages_total: int = 0  # Kafka messages consumed
    rows_inserted_total: int = 0  # rows sent in inserts that succeeded (retries included once)
    inserts_total: int = 0  # successful store calls (data, journal, dead letters, lookups)
    batches_total: int = 0  # batches written and acknowledged to the writer
    rounds_total: int = 0  # rounds written (all the batches taken at once: one insert a table)
    insert_retries_total: int = 0  # inserts retried after a transient error
    transient_errors_total: int = 0
    data_errors_total: int = 0  # inserts refused for their data (then bisected)
    dead_letters_total: int = 0  # records the sink dead-lettered (Python's and the views')
    store_dead_letters_total: int = 0  # ... of which the store's ingest views rejected
    dead_letters_produced_total: int = 0
    commits_total: int = 0
    commit_failures_total: int = 0  # e.g. the partition was revoked meanwhile
    pauses_total: int = 0  # times consumption was paused for back-pressure
    realigned_batches_total: int = 0  # journaled batches written again after a restart
    recovered_rounds_total: int = 0  # journaled rounds written again (read back from Kafka)
    discarded_rows_total: int = 0  # rows of revoked partitions left for their new owner
    store_cpu_s: float = 0.0  # writer-thread CPU inside store calls (client + engine)
    last_error: str = ""

    def snapshot(self) -> dict[str, int | float | str]:
        return dataclasses.asdict(self)
