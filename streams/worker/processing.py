"""The worker's processing of batches and ticks, in its delivery order.

One batch (or tick) at a time per worker, and a batch counts as done only once it is
durable, in this order (docs/architecture.md draws it):

1. admit: the delivered messages become records in offset order, each offset once,
   none missing (streams.worker.partitions; gaps are read from the topic directly);
2. process: the runtime turns each record into outputs and a new state;
3. outputs are sent and delivered (an idempotent producer; every delivery awaited):
   alerts, dead letters and correlation events first, then the processed records,
   which name the alerts their input raised;
4. then the states the batch changed are delivered to their changelogs;
5. then the offsets may be committed (every second, on revocation, at shutdown).

Two knobs keep alerts from waiting behind bulk work without changing that order. A
batch is processed in parts of at most `batch_max_ms` of processing time (a take batch
of 500 messages is half a second of work), each part's alerts sent as it ends. And with
`state_interval_ms` > 0 the worker does not stop to wait for the broker after each part:
a part's processed records are held until its alerts are delivered (checked, or awaited,
when the next part ends), and changed host states are staged and written at most every
`state_interval_ms`, once every output sent before them is delivered, and always before
a commit, which waits for them. So steps 3-5 keep their order (a record never lands
ahead of its alerts, a state never ahead of its outputs, an offset never ahead of its
state); only later. With 0, every part waits for its outputs and writes its states.

So a state in the changelog implies its outputs landed, and a committed offset implies
both. A worker that dies anywhere in between leaves messages that the next owner reads
again: where the state landed, dedup drops them; where only the outputs landed, the
next owner finds their input offsets in the output topic (header
`rackwatch-source-offset`) and rebuilds the state without sending the records again.
Alerts, correlation events and dead letters of such messages are sent again, identical
(an alert re-send is part of the alert contract).

faust is reached only through `Group` (streams.worker.contract), so this module can be
read, and tested, without it; ticks are streams.worker.ticking.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from common.kafka import KafkaClient
from streams.core.metrics import HostState
from streams.runtime import Outputs, Runtime
from streams.worker.contract import Group, Topics
from streams.worker.offsets import Record, landed_offsets, read_range, resume_offsets
from streams.worker.outbox import Outbox
from streams.worker.partitions import Gap, PartitionBook, StallAction, TPKey
from streams.worker.sending import Row
from streams.worker.stats import WorkerStats
from streams.worker.tables import StateTables
from streams.worker.ticking import INCIDENT_HEADERS, Ticking, wall_ms
from streams.worker.ticks import Ticks

__all__ = ["COMMIT_INTERVAL_S", "Group", "Processing", "Topics"]

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 1.0


class Processing(Ticking):
    """Batches and ticks of one worker, over its tables, outbox and partition book."""

    def __init__(self, *, bootstrap: str | KafkaClient, group_id: str, runtime: Runtime,
                 tables: StateTables, outbox: Outbox, topics: Topics, group: Group,
                 book: PartitionBook, stats: WorkerStats, tick_ms: int,
                 batch_max_ms: float = 0.0, state_interval_ms: float = 0.0) -> None:
        self.bootstrap, self.group_id = bootstrap, group_id
        self.runtime, self.tables, self.outbox = runtime, tables, outbox
        self.topics, self.group, self.book, self.stats = topics, group, book, stats
        self.host_ticks = Ticks(tick_ms)
        self.scope_ticks = Ticks(tick_ms)
        # One batch (or tick) at a time: its outputs, then its state, are delivered before
        # the next one starts, and a rebalance waits for it.
        self.busy = asyncio.Lock()
        self.last_commit = time.monotonic()
        self.ends: dict[TPKey, int] = {}  # partition ends, as the watchdog last read them
        self.batch_max_s = batch_max_ms / 1000.0  # 0: a take batch is processed whole
        # Host states processed but not yet written (0: written after every batch part).
        self.state_interval_s = state_interval_ms / 1000.0
        self.staged: dict[bytes, HostState] = {}
        # A part's processed records, held until the sends before the mark are delivered
        self.held: tuple[int, list[Row]] | None = None
        self.last_flush = time.monotonic()

    # ------------------------------------------------------------------ partitions
    def forget(self) -> None:
        """A rebalance: partitions, parsed states and tick marks start again (staged
        states were written by the commit that preceded the revocation)."""
        if self.staged:
            log.warning("%d staged host state(s) dropped at a rebalance; their partitions' "
                        "next owner rebuilds them from the landed outputs", len(self.staged))
            self.staged.clear()
        self.held = None  # their offsets were not committed: the next owner sends them
        self.book.forget()
        self.tables.forget()
        self.host_ticks.forget()
        self.scope_ticks.forget()

    async def take_over(self, tps: set[TPKey]) -> None:
        """Partitions owned from now on: where to resume (the group's committed offset),
        which input offsets from there already have their records in the output topic,
        and the stream sought to the resume offset, so that messages fetched for a
        previous owner (or a previous generation) are delivered again from there."""
        starts = await resume_offsets(self.bootstrap, self.group_id, tps)
        wanted = {(out, p): starts[(t, p)] for t, p in tps
                  if (out := self.topics.output_of(t)) is not None}
        found = await landed_offsets(self.bootstrap, wanted) if wanted else {}
        now = time.monotonic()
        for t, p in sorted(tps):
            out = self.topics.output_of(t)
            landed = found.get((out, p), {}) if out is not None else {}
            self.book.take_over((t, p), starts[(t, p)], landed, now)
            await self.group.seek((t, p), starts[(t, p)])
            if landed:
                log.info("%s:%d: %d input message(s) from offset %d were processed but not "
                         "committed by the previous owner; their records are not sent again",
                         t, p, len(landed), starts[(t, p)])

    async def admit(self, events: list[Any]) -> list[Record]:
        """The delivered events as records to process (see streams.worker.partitions)."""
        delivered = [Record(e.message.topic, e.message.partition, e.message.offset, e.key,
                            e.value) for e in events]
        owned = self.group.owned()
        new = self.book.unknown(delivered, owned)
        if new:
            await self.take_over(new)
        adm = self.book.admit(delivered, owned, time.monotonic())
        self.stats.stale_skipped += adm.skipped_unowned
        self.stats.seen_skipped += adm.skipped_seen
        out: list[Record] = []
        for item in adm.items:
            if isinstance(item, Gap):
                missed = await read_range(self.bootstrap, (item.topic, item.partition),
                                          item.start, item.end)
                self.stats.refetched += len(missed)
                log.warning("%s:%d: offsets %d-%d were not delivered to the stream; read them "
                            "from the topic", item.topic, item.partition, item.start,
                            item.end - 1)
                out.extend(missed)
            else:
                out.append(item)
        return out

    # ------------------------------------------------------------------ outputs
    async def _release(self, wait: bool) -> None:
        """Send the held records once the sends before their mark are delivered (`wait`:
        wait for that; else only when they already are)."""
        if self.held is None:
            return
        mark, rows = self.held
        if not wait and not self.outbox.landed(mark):
            return
        self.held = None
        await self.outbox.delivered(mark)
        for topic, key, value, headers in rows:
            await self.outbox.send(topic, key, value, headers=headers)

    async def _store(self, changed: Iterable[tuple[Any, bytes, bytes]]) -> None:
        """Outputs first, then the states they imply (the delivery order above)."""
        await self._release(wait=True)
        await self.outbox.delivered()
        for table, key, value in changed:
            await self.tables.put(table, key, value)
        if self.state_interval_s <= 0:  # staged: the commit waits for the states
            await self.outbox.delivered()

    # ------------------------------------------------------------------ batches
    def stage(self, key: bytes, state: HostState) -> bool:
        """Keep a host's changed state for the next flush (False: states are written
        with each batch part, so the caller writes it now)."""
        if self.state_interval_s <= 0:
            return False
        self.staged[key] = state
        return True

    async def flush_states(self) -> None:
        """Write the staged host states, after the outputs they imply are delivered."""
        staged, self.staged = self.staged, {}
        self.last_flush = time.monotonic()
        if not staged:
            await self._release(wait=True)
            await self.outbox.delivered()  # the outputs, before a commit
            return
        self.stats.state_flushes += 1
        if self.state_interval_s <= 0:
            await self._store((self.tables.hosts, k, st.dumps()) for k, st in staged.items())
            return
        await self._release(wait=True)
        await self.outbox.delivered()
        for k, st in staged.items():  # delivered before the next commit (which waits)
            await self.tables.put(self.tables.hosts, k, st.dumps())

    async def run_batch(self, events: list[Any], handle: Callable[..., Outputs], *,
                        ticks: bool = False) -> None:
        async with self.busy:
            if self.outbox.closed:
                return  # shutting down: left unacked for the partition's next owner
            started = time.monotonic()
            records = await self.admit(events)
            done = 0
            while done < len(records):
                if done:
                    self.stats.batch_cuts += 1
                done = await self._run_part(records, done, handle, ticks)
            self.stats.batches += 1
            self.stats.records += len(records)
            for r in records:
                self.stats.inputs[r.topic] = self.stats.inputs.get(r.topic, 0) + 1
            if self.state_interval_s <= 0 or (
                    time.monotonic() - self.last_flush >= self.state_interval_s):
                await self.flush_states()
            else:
                await self._release(wait=False)
            self.stats.batch_seconds.observe(time.monotonic() - started)
            self.stats.batch_messages.observe(len(records))
            if time.monotonic() - self.last_commit >= COMMIT_INTERVAL_S:
                await self.commit()

    async def _run_part(self, records: list[Record], first: int, handle: Callable[..., Outputs],
                        ticks: bool) -> int:
        """Records from `first` on, until `batch_max_s` of processing time is spent: their
        alerts (and dead letters, correlation events) delivered, then their processed
        records sent, their states staged. Returns where the next part starts."""
        started = time.monotonic()
        rows: list[Row] = []
        wall = wall_ms()
        i = first
        while i < len(records):
            r = records[i]
            i += 1
            before: list[Outputs] = []
            after: list[Outputs] = []
            if ticks and (gap := self._gap_tick(r, wall)) is not None:
                before = self.tick_hosts_in_stream(r.partition, gap, self.staged)
            out = handle(r.value, self.tables.state_of, wall_ms=wall, topic=r.topic,
                         partition=r.partition, offset=r.offset, key=r.key)
            now = None
            if out.state is not None and out.host is not None:
                key = out.host.encode()
                self.staged[key] = out.state
                self.tables.remember(key, out.state, r.partition)
                t = out.state.event_ms
                if t is not None:
                    now = self.host_ticks.observe(r.partition, t, wall)
            if ticks and now is not None and self.host_ticks.due(r.partition, now):
                after = self.tick_hosts_in_stream(r.partition, now, self.staged)
            landed = self.book.landed((r.topic, r.partition), r.offset)
            self.stats.resent_suppressed += landed is not None
            await self.emit_record(before, out, after, r.offset, landed, rows)
            if self.batch_max_s and time.monotonic() - started >= self.batch_max_s:
                break
        if self.state_interval_s > 0:  # the previous part's records, this part's held
            mark = self.outbox.mark()
            await self._release(wait=True)
            self.held = (mark, rows)
            return i
        await self.outbox.delivered()  # alerts, dead letters, correlation events
        for topic, key, value, headers in rows:
            await self.outbox.send(topic, key, value, headers=headers)
        return i

    async def run_correlate(self, events: list[Any]) -> None:
        async with self.busy:
            if self.outbox.closed:
                return
            changed: dict[bytes, bytes] = {}
            parsed: dict[bytes, Any] = {}  # scopes of this batch, parsed once
            scopes = self.tables.scopes
            for r in await self.admit(events):
                key = r.key or b""
                st = parsed.get(key)
                if st is None:
                    raw = changed.get(key) or scopes.get(key)
                    st = parsed[key] = {} if raw is None else orjson.loads(raw)
                ts = orjson.loads(r.value).get("ts")
                for iid, msg in self.runtime.on_correlate(st, r.value):
                    await self.outbox.send(self.topics.incidents, iid, msg,
                                           headers=INCIDENT_HEADERS)
                if isinstance(ts, int):
                    now = self.scope_ticks.observe(r.partition, ts, wall_ms())
                    if self.scope_ticks.due(r.partition, now):
                        changed.update((k, orjson.dumps(v)) for k, v in parsed.items())
                        parsed.clear()
                        await self.tick_scopes(r.partition, now, changed)
            changed.update((k, orjson.dumps(v)) for k, v in parsed.items())
            await self._store((scopes, k, v) for k, v in changed.items())

    # ------------------------------------------------------------------ commits, watchdog
    async def commit(self) -> None:
        """Commit, per input partition, the offset up to which every message was
        processed and is durable (they are processed in offset order, without gaps): the
        staged host states are written first."""
        await self.flush_states()
        await self.outbox.delivered()
        due = self.book.commit_due()
        self.last_commit = time.monotonic()
        if not due:
            return
        try:
            ok = await self.group.commit(due)
        except Exception as e:  # the next commit (or the next owner) makes up for it
            self.stats.commits_failed += 1
            log.warning("committing %d offsets failed: %r", len(due), e)
            return
        if ok:
            self.book.committed(due)

    async def watch(self, ends: dict[TPKey, int]) -> bool:
        """The watchdog's look at partition `ends`: stalled partitions are sought back
        to their next offset, and False says one stayed stalled after that (exit)."""
        now = time.monotonic()
        self.ends = ends
        self.stats.lag = {tp: max(0, end - (self.book.next_offset(tp) or end))
                          for tp, end in ends.items()}
        owned = self.group.owned()
        if self.group.settling():
            self.book.hold_watch(now)
            return True
        missing = {tp for tp in owned if tp in ends and not self.book.known(tp)}
        if missing:  # owned, never delivered: take them over, which seeks the stream
            async with self.busy:
                if not self.group.settling() and not self.outbox.closed:
                    await self.take_over({tp for tp in missing if tp in self.group.owned()})
            return True
        healthy = True
        for stall in self.book.stalls(ends, now):
            log.warning("%s:%d has not moved for %.0fs: next offset %d, partition end %d; %s",
                        stall.tp[0], stall.tp[1], stall.stalled_s, stall.next_offset, stall.end,
                        "seeking the stream back to it" if stall.action is StallAction.SEEK
                        else "a seek did not help: exiting for a restart")
            if stall.action is StallAction.SEEK:
                self.stats.watchdog_seeks += 1
                await self.group.seek(stall.tp, stall.next_offset)
            else:
                self.stats.watchdog_exits += 1
                healthy = False
        return healthy
