"""The worker's changelogged state: host states, correlation scopes, miner snapshots.

faust tables hold the bytes and recover them from their changelog topics when a
partition moves. The worker writes them itself, through its outbox (faust's own
changelog writes cannot be waited on), always after the outputs the state implies
(streams.worker.app). Host states are parsed once and kept parsed while the partition
is owned (`live`), and indexed by partition, so a tick does not scan every host.
"""

from __future__ import annotations

from typing import Any

from streams.core.hoststate import HostState
from streams.worker.offsets import partition_of
from streams.worker.outbox import Outbox

__all__ = ["StateTables", "miner_keys"]

_PART_OF_MAX = 1_000_000  # keys whose partition is remembered (others are re-hashed)


def miner_keys(partitions: int) -> dict[int, bytes]:
    """For each partition, a table key that hashes to it: template-miner state is kept
    per input partition, so it must live in that partition of the changelog."""
    keys: dict[int, bytes] = {}
    i = 0
    while len(keys) < partitions:
        key = f"miner-{i}".encode()
        keys.setdefault(partition_of(key, partitions), key)
        i += 1
    return keys


class StateTables:
    """The hosts, scopes and miners tables, a parsed-state cache and their writes."""

    def __init__(self, hosts: Any, scopes: Any, miners: Any, outbox: Outbox,
                 partitions: int) -> None:
        self.hosts, self.scopes, self.miners = hosts, scopes, miners
        self.outbox = outbox
        self.partitions = partitions
        self.miner_key = miner_keys(partitions)
        # Parsed host states; the table stays the source of truth (dropped on a rebalance).
        self.live: dict[bytes, HostState] = {}
        # Host keys per input partition owned now, built from the table on first use.
        self._part_hosts: dict[int, dict[bytes, None]] = {}
        self._part_of: dict[bytes, int] = {}

    def forget(self) -> None:
        self.live.clear()
        self._part_hosts.clear()

    def state_of(self, host: str) -> HostState | None:
        key = host.encode()
        st = self.live.get(key)
        if st is None:
            raw = self.hosts.get(key)
            if raw is not None:
                st = self.live[key] = HostState.loads(raw)
        return st

    def remember(self, key: bytes, state: HostState, partition: int) -> None:
        """A host's new state, parsed, before it is written with its batch."""
        self.live[key] = state
        self.hosts_in(partition)[key] = None

    def hosts_in(self, partition: int) -> dict[bytes, None]:
        idx = self._part_hosts.get(partition)
        if idx is None:
            idx = self._part_hosts[partition] = dict.fromkeys(self.keys_in(self.hosts, partition))
        return idx

    def partition_of(self, key: bytes) -> int:
        p = self._part_of.get(key)
        if p is None:
            if len(self._part_of) > _PART_OF_MAX:
                self._part_of.clear()
            p = self._part_of[key] = partition_of(key, self.partitions)
        return p

    def keys_in(self, table: Any, partition: int) -> list[bytes]:
        return [k for k in list(table.keys()) if self.partition_of(k) == partition]

    async def put(self, table: Any, key: bytes, value: bytes) -> None:
        """Write a table entry: locally, and to its changelog through the outbox (the
        changelog partition is the key's partition, as for the inputs)."""
        table.data[key] = value
        await self.outbox.send(table.changelog_topic.get_topic_name(), key, value,
                               partition=self.partition_of(key))
