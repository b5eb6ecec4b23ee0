"""The worker's ticks: hosts and correlation scopes judged as time passes.

A partition's hosts are ticked in-stream (between two of its messages, at the event time
its clock reached, so a backlog is judged as `rackwatch replay` would judge it) and by
timer ticks from the ticks topic (a caught-up partition, at its clock or the worker's
read point). Which times are due is streams.worker.ticks; this module runs them over the
tables and sends what they raise, in the delivery order of streams.worker.processing,
which builds on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from schemas.ids import INCIDENT, message_headers
from streams.core.metrics import HostState
from streams.runtime import Outputs, Runtime
from streams.worker.contract import Group, Topics
from streams.worker.offsets import Record
from streams.worker.outbox import Outbox
from streams.worker.partitions import PartitionBook, TPKey
from streams.worker.sending import Sending
from streams.worker.stats import WorkerStats
from streams.worker.tables import StateTables
from streams.worker.ticks import Ticks

__all__ = ["INCIDENT_HEADERS", "Ticking", "peek_ts", "wall_ms"]

# Every incident message says what it is in its headers (schemas.ids).
INCIDENT_HEADERS = message_headers(INCIDENT)


def wall_ms() -> int:
    return int(time.time() * 1000)


_TS = b'"ts":'


def peek_ts(raw: bytes) -> int | None:
    """The `ts` field of a metric batch without decoding it (None when not plainly there:
    producers write it near the start, as the first field named so)."""
    i = raw.find(_TS, 0, 400)
    if i < 0:
        return None
    j = i + len(_TS)
    while j < len(raw) and raw[j] == 32:  # '"ts": 1' from other JSON writers
        j += 1
    k = j
    while k < len(raw) and 48 <= raw[k] <= 57:
        k += 1
    return int(raw[j:k]) if k > j else None


class Ticking(Sending):
    """Ticks of one worker's partitions (the base of streams.worker.processing's
    Processing, which provides the outputs, the staging of host states and the topics)."""

    runtime: Runtime
    tables: StateTables
    outbox: Outbox
    group: Group
    book: PartitionBook
    stats: WorkerStats
    host_ticks: Ticks
    scope_ticks: Ticks
    ends: dict[TPKey, int]
    topics: Topics
    state_interval_s: float

    async def _store(self, changed: Iterable[tuple[Any, bytes, bytes]]) -> None:
        raise NotImplementedError

    def stage(self, key: bytes, state: HostState) -> bool:
        """Keep a host's changed state to be written later (False: write it now)."""
        raise NotImplementedError

    def _gap_tick(self, r: Record, wall: int) -> int | None:
        """When `r` ends a quiet stretch of its partition: the time to tick it at first
        (streams.worker.ticks.gap_due). Its event time is read without decoding it, and
        a time beyond the worker's future-skew limit (a batch about to be rejected) is
        never used."""
        t = peek_ts(r.value)
        if t is None or t > wall + self.runtime.limits.max_future_skew_ms:
            return None
        return self.host_ticks.gap_due(r.partition, t)

    def tick_hosts_in_stream(self, partition: int, now: int,
                             dirty: dict[bytes, HostState]) -> list[Outputs]:
        """The partition's hosts at event time `now`, between two of its messages; the
        outputs with alerts are returned, to be sent with the message they follow. A host
        whose tick changed what matters (an alert, a window closed) is stored with the
        batch; other tick-only changes are stored by the next timer tick's diff."""
        self.host_ticks.mark(partition, now)
        outs = []
        for key in list(self.tables.hosts_in(partition)):
            st = self.tables.state_of(key.decode())
            if st is None:
                continue
            closes = st.windows_due_ms
            out = self.runtime.on_tick(st, key.decode(), now)
            self.stats.host_ticks += 1
            if out.alerts or out.actions or st.windows_due_ms != closes:
                dirty[key] = st
            if out.alerts or out.actions:
                outs.append(out)
        return outs

    async def _tick_scope(self, raw: bytes, now: int) -> bytes | None:
        """One correlation scope at `now`: its incidents sent, its new state if changed."""
        st = orjson.loads(raw)
        for iid, msg in self.runtime.on_correlate_tick(st, now):
            await self.outbox.send(self.topics.incidents, iid, msg, headers=INCIDENT_HEADERS)
        new = orjson.dumps(st)
        return new if new != raw else None

    async def tick_scopes(self, partition: int, now: int, changed: dict[bytes, bytes]) -> None:
        """The partition's correlation scopes at `now`, in-stream (those the batch
        created, not yet in the table, included)."""
        self.scope_ticks.mark(partition, now)
        keys = dict.fromkeys(self.tables.keys_in(self.tables.scopes, partition))
        keys.update((k, None) for k in changed if self.tables.partition_of(k) == partition)
        for key in keys:
            raw = changed.get(key) or self.tables.scopes.get(key)
            if raw is not None and (new := await self._tick_scope(raw, now)) is not None:
                changed[key] = new

    async def run_tick(self, partition: int, now: int | None, scopes_now: int | None) -> None:
        """A timer tick of one partition (from the ticks topic, ordered with its work).
        Changed host states are staged with the batches' ones (or written now)."""
        changed: list[tuple[Any, bytes, bytes]] = []
        tables, runtime = self.tables, self.runtime
        if now is not None:
            self.host_ticks.mark(partition, now)
            for key in list(tables.hosts_in(partition)):
                st = tables.state_of(key.decode())
                if st is None:
                    continue
                before = tables.hosts.get(key)
                out = runtime.on_tick(st, key.decode(), now)
                self.stats.host_ticks += 1
                new = st.dumps()
                if new != before and not self.stage(key, st):
                    changed.append((tables.hosts, key, new))
                await self.emit(out)
        lp = runtime.log_processors.get(partition)
        if lp is not None and lp.dirty:
            changed.append((tables.miners, tables.miner_key[partition], lp.snapshot()))
        if scopes_now is not None:
            self.scope_ticks.mark(partition, scopes_now)
            for key in tables.keys_in(tables.scopes, partition):
                raw = tables.scopes.get(key)
                if raw is not None and (updated := await self._tick_scope(raw, scopes_now)):
                    changed.append((tables.scopes, key, updated))
        if changed or self.state_interval_s <= 0:  # staged: nothing to order, no wait
            await self._store(changed)
        self.stats.ticks_timer += 1

    def lagging(self, topic: str) -> Callable[[int], bool]:
        """Whether a partition of `topic` has messages this worker has not processed
        (its end: what faust last fetched, else what the watchdog last read)."""
        def lags(partition: int) -> bool:
            tp = (topic, partition)
            end = self.group.highwater(tp)
            return self.book.lagging(tp, end if end is not None else self.ends.get(tp))
        return lags

    def owned_partitions(self, topic: str) -> list[int]:
        return sorted(p for t, p in self.group.owned() if t == topic)

    def timer_ticks(self, partitions: list[int]) -> list[tuple[int, bytes]]:
        """The ticks to publish now, one per owned input partition with a time to tick
        it at: its own clock, or the worker's read point (a partition that has had no
        message since this worker took it over has no clock, yet may hold hosts that went
        silent before: they are judged at the read point)."""
        wall = wall_ms()
        metrics_lag, logs_lag = self.lagging(self.topics.metrics), self.lagging(self.topics.logs)
        owned = self.group.owned()

        def hosts_lag(p: int) -> bool:
            # A host's state takes both its metrics and its logs (co-partitioned): while
            # either still has unread messages, a timer tick would slide its log windows
            # past lines not yet counted (replay counts them in order).
            return metrics_lag(p) or ((self.topics.logs, p) in owned and logs_lag(p))

        scopes_lag = self.lagging(self.topics.correlate)
        out = []
        for p in partitions:
            now = self.host_ticks.timer_now(p, wall, hosts_lag, partitions)
            scopes_now = self.scope_ticks.timer_now(p, wall, scopes_lag, partitions)
            if now is not None or scopes_now is not None:
                out.append((p, orjson.dumps({"now": now, "scopes_now": scopes_now})))
        return out
