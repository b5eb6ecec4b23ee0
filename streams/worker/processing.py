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

So a state in the changelog implies its outputs landed, and a committed offset implies
both. A worker that dies anywhere in between leaves messages that the next owner reads
again: where the state landed, dedup drops them; where only the outputs landed, the
next owner finds their input offsets in the output topic (header
`rackwatch-source-offset`) and rebuilds the state without sending the records again.
Alerts, correlation events and dead letters of such messages are sent again, identical
(an alert re-send is part of the alert contract).

faust is reached only through `Group` (the consumer group member: ownership, partition
ends, seeks and commits), so this module can be read, and tested, without it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from common.kafka import KafkaClient
from schemas.ids import ACTION, ALERT, INCIDENT, message_headers
from streams.core.metrics import HostState
from streams.runtime import Outputs, Runtime
from streams.worker.offsets import (
    ALERTS_HEADER,
    SOURCE_HEADER,
    Record,
    alert_digest,
    landed_offsets,
    read_range,
    resume_offsets,
)
from streams.worker.outbox import Outbox
from streams.worker.partitions import Gap, PartitionBook, StallAction, TPKey
from streams.worker.stats import WorkerStats
from streams.worker.tables import StateTables
from streams.worker.ticks import Ticks

__all__ = ["COMMIT_INTERVAL_S", "Group", "Processing", "Topics"]

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 1.0
# Every alert and incident message says what it is in its headers (schemas.ids).
ALERT_HEADERS = message_headers(ALERT)
ACTION_HEADERS = message_headers(ACTION)
INCIDENT_HEADERS = message_headers(INCIDENT)


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


def _wall_ms() -> int:
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


class Processing:
    """Batches and ticks of one worker, over its tables, outbox and partition book."""

    def __init__(self, *, bootstrap: str | KafkaClient, group_id: str, runtime: Runtime,
                 tables: StateTables, outbox: Outbox, topics: Topics, group: Group,
                 book: PartitionBook, stats: WorkerStats, tick_ms: int) -> None:
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

    # ------------------------------------------------------------------ partitions
    def forget(self) -> None:
        """A rebalance: partitions, parsed states and tick marks start again."""
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
    async def emit(self, out: Outputs) -> None:
        """Outputs that no input record carries (a timer tick's alerts)."""
        send, t = self.outbox.send, self.topics
        for key, value in out.deadletters:
            await send(t.deadletter, key, value)
        for fp, alert in out.alerts:
            await send(t.alerts, fp, alert, headers=ALERT_HEADERS)
            self._count_transition(alert)
        for key, value in out.correlate:
            await send(t.correlate, key, value)
        for key, value in out.actions:
            await send(t.actions, key, value, headers=ACTION_HEADERS)

    def _count_transition(self, alert: bytes) -> None:
        a = orjson.loads(alert)
        key = (str(a.get("status")), str(a.get("severity")))
        self.stats.transitions[key] = self.stats.transitions.get(key, 0) + 1

    async def emit_record(self, before: list[Outputs], out: Outputs, after: list[Outputs],
                          offset: int, landed: frozenset[str] | None,
                          rows: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]
                          ) -> None:
        """What one input record caused, and the in-stream ticks just `before` and `after`
        it, in that order (the order they happened in). Its alerts, dead letters and
        correlation events are sent now; its processed records are appended to `rows`, to
        be sent once those are delivered: a record carries the input offset and the
        digests of its alerts, so a record on the broker must imply its alerts are too.
        When the previous owner already delivered this offset (`landed`), the records and
        those very alerts are not sent again; everything else is (identical re-sends)."""
        send, t = self.outbox.send, self.topics
        for key, value in out.deadletters:
            await send(t.deadletter, key, value)
        ordered = [*before, out, *after]
        alerts = [a for o in ordered for a in o.alerts]
        digests = [alert_digest(value) for _, value in alerts]
        for (fp, alert), digest in zip(alerts, digests, strict=True):
            if landed is not None and digest in landed:
                self.stats.alerts_suppressed += 1
                continue
            await send(t.alerts, fp, alert, headers=ALERT_HEADERS)
            self._count_transition(alert)
        for o in ordered:
            for key, value in o.correlate:
                await send(t.correlate, key, value)
            # rackwatch's own handling actions: identical when sent again (same
            # action_id), so the store keeps one (streams.handling.actions)
            for key, value in o.actions:
                await send(t.actions, key, value, headers=ACTION_HEADERS)
        if out.host is not None and landed is None:
            headers = [(SOURCE_HEADER, str(offset).encode())]
            if digests:
                headers.append((ALERTS_HEADER, ",".join(digests).encode()))
            if out.metric_block is not None:
                rows.append((t.rows, out.host.encode(), out.metric_block, headers))
            if out.log_rows is not None:
                rows.append((t.log_rows, out.host.encode(), out.log_rows, headers))

    async def _store(self, changed: Iterable[tuple[Any, bytes, bytes]]) -> None:
        """Outputs first, then the states they imply (the delivery order above)."""
        await self.outbox.delivered()
        for table, key, value in changed:
            await self.tables.put(table, key, value)
        await self.outbox.delivered()

    # ------------------------------------------------------------------ batches
    async def run_batch(self, events: list[Any], handle: Callable[..., Outputs], *,
                        ticks: bool = False) -> None:
        async with self.busy:
            if self.outbox.closed:
                return  # shutting down: left unacked for the partition's next owner
            started = time.monotonic()
            records = await self.admit(events)
            dirty: dict[bytes, HostState] = {}
            rows: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
            wall = _wall_ms()
            for r in records:
                before: list[Outputs] = []
                after: list[Outputs] = []
                if ticks and (gap := self._gap_tick(r, wall)) is not None:
                    before = self.tick_hosts_in_stream(r.partition, gap, dirty)
                out = handle(r.value, self.tables.state_of, wall_ms=wall, topic=r.topic,
                             partition=r.partition, offset=r.offset, key=r.key)
                now = None
                if out.state is not None and out.host is not None:
                    key = out.host.encode()
                    dirty[key] = out.state
                    self.tables.remember(key, out.state, r.partition)
                    t = out.state.event_ms
                    if t is not None:
                        now = self.host_ticks.observe(r.partition, t, wall)
                if ticks and now is not None and self.host_ticks.due(r.partition, now):
                    after = self.tick_hosts_in_stream(r.partition, now, dirty)
                landed = self.book.landed((r.topic, r.partition), r.offset)
                self.stats.resent_suppressed += landed is not None
                await self.emit_record(before, out, after, r.offset, landed, rows)
            self.stats.batches += 1
            self.stats.records += len(records)
            for r in records:
                self.stats.inputs[r.topic] = self.stats.inputs.get(r.topic, 0) + 1
            await self.outbox.delivered()  # alerts, dead letters, correlation events
            for topic, key, value, headers in rows:
                await self.outbox.send(topic, key, value, headers=headers)
            await self._store((self.tables.hosts, k, st.dumps()) for k, st in dirty.items())
            self.stats.batch_seconds.observe(time.monotonic() - started)
            self.stats.batch_messages.observe(len(records))
            if time.monotonic() - self.last_commit >= COMMIT_INTERVAL_S:
                await self.commit()

    async def run_correlate(self, events: list[Any]) -> None:
        async with self.busy:
            if self.outbox.closed:
                return
            changed: dict[bytes, bytes] = {}
            scopes = self.tables.scopes
            for r in await self.admit(events):
                key = r.key or b""
                raw = changed.get(key) or scopes.get(key)
                st = {} if raw is None else orjson.loads(raw)
                ts = orjson.loads(r.value).get("ts")
                for iid, msg in self.runtime.on_correlate(st, r.value):
                    await self.outbox.send(self.topics.incidents, iid, msg,
                                           headers=INCIDENT_HEADERS)
                changed[key] = orjson.dumps(st)
                if isinstance(ts, int):
                    now = self.scope_ticks.observe(r.partition, ts, _wall_ms())
                    if self.scope_ticks.due(r.partition, now):
                        await self.tick_scopes(r.partition, now, changed)
            await self._store((scopes, k, v) for k, v in changed.items())

    # ------------------------------------------------------------------ ticks
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
        """A timer tick of one partition (from the ticks topic, ordered with its work)."""
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
                if new != before:
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
        wall = _wall_ms()
        hosts_lag = self.lagging(self.topics.metrics)
        scopes_lag = self.lagging(self.topics.correlate)
        out = []
        for p in partitions:
            now = self.host_ticks.timer_now(p, wall, hosts_lag, partitions)
            scopes_now = self.scope_ticks.timer_now(p, wall, scopes_lag, partitions)
            if now is not None or scopes_now is not None:
                out.append((p, orjson.dumps({"now": now, "scopes_now": scopes_now})))
        return out

    # ------------------------------------------------------------------ commits, watchdog
    async def commit(self) -> None:
        """Commit, per input partition, the offset up to which every message was
        processed and is durable (they are processed in offset order, without gaps)."""
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
