"""The forwarder process: per target, read the alerts topic, deliver, then commit.

Each target has its own consumer group (forwarder.targets), its own DeliveryQueue
(forwarder.delivery: order, batches, rate, retries) and a Sender (forwarder.http).
The order of a round is: read what is there, queue it, queue re-sends of firing alerts
that are due, make the requests that are due, and commit the offsets the target
acknowledged with a 2xx. Nothing is committed before it is delivered, so a forwarder
killed at any point sends again, after its restart, what it had not delivered.

When partitions are assigned, the partition is read from its start up to where the
group resumes, without sending anything, to learn which alerts are firing now: a
restarted forwarder (or a new target) keeps Alertmanager's active alerts alive from
its first refresh on. A new group starts at the topic's end (old state changes are not
replayed to a new receiver; the firing ones reach it through that first refresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from aiokafka import ConsumerRebalanceListener
from aiokafka.structs import TopicPartition

from common.config import Config, read_secret
from common.kafka import KafkaClient, consumer, kafka_client
from forwarder.delivery import DeliveryQueue, Policy
from forwarder.http import Sender
from forwarder.stats import TargetStats
from forwarder.targets import Target

__all__ = ["ALERT_SCHEMA", "MAX_QUEUE", "READY_LAG", "TargetRunner", "decode_alert", "describe",
           "make_session", "readiness", "run_runners"]

log = logging.getLogger(__name__)

ALERT_SCHEMA = "rackwatch.alert/v1"
MAX_QUEUE = 10_000  # alerts held for a target before its partitions are paused
READY_LAG = 1_000  # /readyz: ready while every target is fewer messages than this behind


def decode_alert(raw: bytes | None) -> tuple[dict[str, Any] | None, str]:
    """(the alert, "") or (None, why it is skipped)."""
    try:
        value = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return None, "bad_json"
    if not isinstance(value, dict) or value.get("schema") != ALERT_SCHEMA:
        return None, "not_an_alert"
    if not value.get("fingerprint") or not value.get("starts_at"):
        return None, "missing_field"
    until = value.get("silenced_until")
    if isinstance(until, str) and until > str(value.get("updated_at") or ""):
        return None, "silenced"  # stored, not forwarded (rackwatch silence)
    return value, ""


def make_session(cfg: Config) -> aiohttp.ClientSession:
    """One HTTP client for every target (TLS with `[forwarder] ca_file` when set)."""
    ctx = ssl.create_default_context(cafile=cfg.forwarder.ca_file or None)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=32))


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: TargetRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.runner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.runner.on_assigned(assigned)


class TargetRunner:
    """Forwards the alerts topic to one target until stopped."""

    def __init__(self, cfg: Config, target: Target, session: aiohttp.ClientSession, *,
                 kafka: KafkaClient | None = None) -> None:
        f = cfg.forwarder
        self.cfg, self.target = cfg, target
        self.kafka = kafka or kafka_client(cfg)
        self.topic = cfg.topic("alerts")
        self.stats = TargetStats(target.name)
        self.queue = DeliveryQueue(Policy(
            max_batch=f.max_batch, rate=f.max_requests_per_s, retry_initial_s=f.retry_initial_s,
            retry_max_s=f.retry_max_s, resend_s=f.resend_interval_s if target.refreshes
            else None, coalesce=target.refreshes))
        self.sender = Sender(target, session, timeout_s=f.timeout_s,
                             token=read_secret(f.bearer_token, f.bearer_token_file,
                                               "[forwarder].bearer_token_file"),
                             generator=f.generator_url, ends_after_s=f.ends_at_after_s)
        self.consumer: Any = None
        self.ready = False  # partitions assigned and their firing alerts known
        self._start: dict[int, int] = {}  # partition -> where this process began
        self._failing_since: float | None = None
        self._warned_at = 0.0
        # A rebalance waits for the request in flight (so that what it delivers is
        # committed before the partitions move) and no new one starts meanwhile.
        self._idle = asyncio.Event()
        self._idle.set()
        self._revoking = False

    # --- partitions -------------------------------------------------------------------
    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        c = self.consumer
        ends = await c.end_offsets(list(assigned)) if assigned else {}
        fresh: dict[TopicPartition, int] = {}
        for tp in assigned:
            start = await c.committed(tp)
            if start is None:  # a new group begins at the end, and says so at once, so
                start = fresh[tp] = ends[tp]  # that a restart resumes from there
            c.seek(tp, start)
            self._start[tp.partition] = start
            if self.target.refreshes:
                try:
                    await self._rebuild(tp, start)
                except Exception as e:  # deliveries go on; only re-sends may be missing
                    log.warning("%s: partition %d: firing alerts not rebuilt (%s); alerts "
                                "that fire on without a change may expire in Alertmanager",
                                self.target.name, tp.partition, e)
        if fresh:
            await c.commit(fresh)
        self.stats.assigned = len(c.assignment())
        self.ready = True
        self._revoking = False

    async def _rebuild(self, tp: TopicPartition, end: int) -> None:
        """Learn which alerts of `tp` are firing: read it up to `end`, send nothing."""
        reader = consumer(self.kafka, group_id=None, enable_auto_commit=False)
        await reader.start()
        seen = 0
        try:
            reader.assign([tp])
            begin = (await reader.beginning_offsets([tp]))[tp]
            if begin >= end:
                return
            reader.seek(tp, begin)
            idle = 0
            while await reader.position(tp) < end:
                got = await reader.getmany(tp, timeout_ms=1000)
                idle = 0 if got else idle + 1
                if idle > 30:
                    raise RuntimeError(f"nothing read from offset {await reader.position(tp)}")
                for m in got.get(tp, ()):
                    if m.offset >= end:
                        break
                    alert, _ = decode_alert(m.value)
                    if alert is not None:
                        self.queue.observe(alert, tp.partition)
                        seen += 1
        finally:
            await reader.stop()
        log.info("%s: partition %d: %d alert messages before offset %d read; %d firing",
                 self.target.name, tp.partition, seen, end, self.queue.firing)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        self._revoking = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.sender.timeout_s)
        await self._commit()
        self.queue.discard(tp.partition for tp in revoked)
        for tp in revoked:
            self._start.pop(tp.partition, None)
            self.stats.lag.pop(tp.partition, None)

    # --- the loop ---------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self.consumer = consumer(self.kafka, group_id=self.target.group_id,
                                 client_id=f"rackwatch-forwarder-{self.target.kind}",
                                 enable_auto_commit=False, auto_offset_reset="latest")
        self.consumer.subscribe([self.topic], listener=_Listener(self))
        try:
            await self.consumer.start()
        except BaseException:
            await self.consumer.stop()
            raise
        log.info("forwarding %s to %s as group %s", self.topic, self.target.name,
                 self.target.group_id)
        try:
            while not stop.is_set():
                self._backpressure()
                got = await self.consumer.getmany(timeout_ms=200, max_records=500)
                for tp, msgs in got.items():
                    for m in msgs:
                        self._add(tp.partition, m.offset, m.value)
                self.queue.refresh(time.monotonic())
                await self._pump(stop)
                await self._commit()
                self._observe()
            await self._drain()
        finally:
            with contextlib.suppress(Exception):
                await self.consumer.stop()

    def _add(self, partition: int, offset: int, raw: bytes | None) -> None:
        alert, why = decode_alert(raw)
        if alert is None:
            self.stats.bump(self.stats.skipped, why)
        else:
            self.stats.received += 1
        self.queue.add(alert, partition, offset)

    def _backpressure(self) -> None:
        assigned = self.consumer.assignment()
        if self.queue.queued >= MAX_QUEUE:
            self.consumer.pause(*assigned)
        else:
            self.consumer.resume(*assigned)

    async def _pump(self, stop: asyncio.Event | None = None) -> None:
        """Make every request that is due now (one at a time, in order)."""
        while (stop is None or not stop.is_set()) and not self._revoking and (
                batch := self.queue.next_batch(time.monotonic())) is not None:
            if not batch.alerts:  # only messages to skip: nothing to send
                self.queue.delivered(batch, time.monotonic())
                continue
            retry = self._failing_since is not None
            self._idle.clear()
            try:
                outcome = await self.sender.send(batch.alerts, int(time.time() * 1000))
            finally:
                self._idle.set()
            now = time.monotonic()
            s = self.stats
            s.latency.observe(outcome.seconds)
            s.retried += retry
            if outcome.ok:
                self.queue.delivered(batch, now)
                s.bump(s.requests, "ok")
                s.batch.observe(len(batch.alerts))
                s.sent += len(batch.alerts) - batch.refreshes
                s.refreshed += batch.refreshes
                s.up = True
                self._recovered(now)
                continue
            s.up = False
            s.bump(s.failed, outcome.reason)
            delay = self.queue.failed(batch, now, refused=outcome.refused)
            if outcome.refused:
                s.bump(s.requests, "refused")
                if len(batch.alerts) == 1:
                    s.rejected += 1
                    log.error("%s refused alert %s for good (%s: %s); dropped",
                              self.target.name, batch.alerts[0].get("fingerprint"),
                              outcome.reason, outcome.detail)
                continue
            s.bump(s.requests, "retry")
            self._failing(now, outcome.reason, outcome.detail, delay)
            return

    def _failing(self, now: float, reason: str, detail: str, delay: float) -> None:
        if self._failing_since is None:
            self._failing_since = now
        if now - self._warned_at >= 60.0:
            self._warned_at = now
            log.warning("%s: request failed (%s: %s); retrying in %.1fs, %d alerts waiting",
                        self.target.name, reason, detail[:200], delay, self.queue.queued)

    def _recovered(self, now: float) -> None:
        if self._failing_since is not None:
            log.warning("%s: delivering again after %.0fs of failures", self.target.name,
                        now - self._failing_since)
            self._failing_since, self._warned_at = None, 0.0

    async def _commit(self) -> None:
        due = self.queue.commit_due()
        if not due or self.consumer is None:
            return
        assigned = {tp.partition for tp in self.consumer.assignment()}
        offsets = {TopicPartition(self.topic, p): o for p, o in due.items() if p in assigned}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except Exception as e:  # the next commit covers these offsets too
            self.stats.commit_failures += 1
            log.warning("%s: offset commit failed: %s", self.target.name, e)
            return
        self.queue.committed(due)
        self.stats.commits += 1

    def _observe(self) -> None:
        s, c = self.stats, self.consumer
        s.queued, s.firing = self.queue.queued, self.queue.firing
        lag: dict[int, int] = {}
        for tp in c.assignment():
            high = c.highwater(tp)
            done = self.queue.next_offset(tp.partition)
            base = done if done is not None else self._start.get(tp.partition)
            if high is not None and base is not None:
                lag[tp.partition] = max(0, int(high) - base)
        s.lag = lag
        s.assigned = len(c.assignment())

    async def _drain(self) -> None:
        """At stop: deliver what is queued while the target takes it (bounded)."""
        deadline = time.monotonic() + self.sender.timeout_s
        while self.queue.queued and time.monotonic() < deadline:
            before = self.queue.queued
            await self._pump()
            if self.queue.queued >= before:
                break
        await self._commit()

    def lag_total(self) -> int:
        return sum(self.stats.lag.values())


async def run_runners(runners: list[TargetRunner], stop: asyncio.Event) -> None:
    """Run every target until `stop`; a target that fails to start ends them all (its
    exception propagates), while one that is only unreachable keeps retrying."""
    tasks = [asyncio.create_task(r.run(stop), name=r.target.name) for r in runners]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            if t.exception() is not None:
                stop.set()
                raise t.exception()  # type: ignore[misc]
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def readiness(runners: list[TargetRunner], ready_lag: int = READY_LAG) -> tuple[bool, str]:
    """Ready: every target has partitions and its firing alerts, and is not behind."""
    waiting = [r.target.name for r in runners if not r.ready]
    if waiting:
        return False, "no partitions yet for " + ", ".join(waiting)
    behind = {r.target.name: r.lag_total() for r in runners}
    late = {n: lag for n, lag in behind.items() if lag >= ready_lag}
    if late:
        return False, "behind: " + ", ".join(f"{n} {lag}" for n, lag in late.items())
    return True, f"{len(runners)} target(s), lag " + ", ".join(
        f"{n} {lag}" for n, lag in behind.items())


def describe(stats: Mapping[str, TargetStats]) -> dict[str, dict[str, Any]]:
    """The final numbers per target, as `rackwatch forward` prints them at exit."""
    return {n: {"received": s.received, "sent": s.sent, "refreshed": s.refreshed,
                "rejected": s.rejected, "failed": sum(s.failed.values()),
                "queued": s.queued} for n, s in stats.items()}
