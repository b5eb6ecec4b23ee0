"""Processing: the delivery order of a batch, take-overs, shutdown and the watchdog,
against fakes of faust's group member, the producer and the tables (no broker)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from producers.events import encode, metric_batch, sample
from streams.replay import replay_lines
from streams.rules import parse_rules
from streams.runtime import Runtime
from streams.worker import processing as proc
from streams.worker.partitions import PartitionBook, TPKey
from streams.worker.processing import Processing, Topics
from streams.worker.stats import WorkerStats
from streams.worker.tables import StateTables

M = "rackwatch.metrics"
TOPICS = Topics(metrics=M, logs="rackwatch.logs", correlate="rackwatch.correlate",
                rows="rackwatch.processed.metrics", log_rows="rackwatch.processed.logs",
                alerts="rackwatch.alerts", incidents="rackwatch.incidents",
                deadletter="rackwatch.deadletter")
T0 = 1_700_000_000_000


class FakeOutbox:
    """Sends land when `delivered` is awaited (up to its mark); it checks the delivery
    order as it goes: a processed record is sent only once its alerts have landed, a
    host state only once every output sent before it has."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.closed = False
        self.headers: dict[str, list[Any]] = {}
        self.sent = 0
        self.acked = 0
        self.fresh = True  # the first wait is journaled even with nothing sent
        self.alert_at: dict[str, int] = {}  # alert digest -> its send's number

    async def send(self, topic: str, key: bytes | None, value: bytes, *,
                   partition: int | None = None, headers: Any = None) -> None:
        from streams.worker.offsets import ALERTS_HEADER, alert_digest

        self.journal.append(f"send {topic}")
        self.headers.setdefault(topic, []).append(headers)
        if topic == TOPICS.alerts:
            self.alert_at[alert_digest(value)] = self.sent
        for name, v in headers or []:
            if name == ALERTS_HEADER:
                assert all(self.alert_at[d] < self.acked for d in v.decode().split(","))
        if topic.startswith("changelog-hosts") and not self.journal[-2].startswith(
                "send changelog-hosts"):
            assert self.acked == self.sent, "a state sent ahead of its outputs"
        self.sent += 1

    def mark(self) -> int:
        return self.sent

    def landed(self, upto: int) -> bool:
        return upto <= self.acked

    async def delivered(self, upto: int | None = None) -> None:
        """Journaled when it waits for something (the real one returns at once else)."""
        target = self.sent if upto is None else upto
        if target > self.acked or self.fresh:
            self.journal.append("delivered")
        self.fresh = False
        self.acked = max(self.acked, target)

    async def stop(self) -> None:
        self.closed = True


class FakeTable(dict[bytes, bytes]):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.data = self
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: f"changelog-{name}")


@dataclass
class FakeGroup:
    journal: list[str]
    owned_tps: set[TPKey] = field(default_factory=lambda: {(M, 0)})
    ends: dict[TPKey, int] = field(default_factory=dict)
    busy_settling: bool = False

    def owned(self) -> set[TPKey]:
        return self.owned_tps

    def highwater(self, tp: TPKey) -> int | None:
        return self.ends.get(tp)

    def settling(self) -> bool:
        return self.busy_settling

    async def seek(self, tp: TPKey, offset: int) -> None:
        self.journal.append(f"seek {tp[1]}@{offset}")

    async def commit(self, offsets: dict[TPKey, int]) -> bool:
        self.journal.append(f"commit {sorted(offsets.items())}")
        return True


def event(offset: int, seq: int, partition: int = 0, host: str = "h1") -> Any:
    batch = metric_batch(host, T0 + seq * 1000, seq, {"rack": "r1"},
                         [sample("cpu.usage", 0.5)])
    return SimpleNamespace(message=SimpleNamespace(topic=M, partition=partition, offset=offset),
                           key=host.encode(), value=encode(batch))


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[Processing, list[str], FakeGroup]:
    journal: list[str] = []

    async def resume(bootstrap: str, group: str, tps: set[TPKey]) -> dict[TPKey, int]:
        journal.append("resume")
        return dict.fromkeys(tps, 0)

    async def landed(bootstrap: str, wanted: dict[TPKey, int]) -> dict[TPKey, set[int]]:
        return {tp: set() for tp in wanted}

    monkeypatch.setattr(proc, "resume_offsets", resume)
    monkeypatch.setattr(proc, "landed_offsets", landed)
    outbox = FakeOutbox(journal)
    group = FakeGroup(journal)
    tables = StateTables(FakeTable("hosts"), FakeTable("scopes"), FakeTable("miners"),
                         outbox, 12)  # type: ignore[arg-type]
    runtime = Runtime(parse_rules("groups: []\n"), check_wall_clock=False)
    work = Processing(bootstrap="-", group_id="g", runtime=runtime, tables=tables,
                      outbox=outbox, topics=TOPICS, group=group,  # type: ignore[arg-type]
                      book=PartitionBook(60.0), stats=WorkerStats(), tick_ms=1000)
    return work, journal, group


class TestDeliveryOrder:
    def test_outputs_then_states_then_commit(self, world: tuple[Processing, list[str],
                                                                FakeGroup]) -> None:
        """A batch: take-over (resume, seek), alerts delivered, then the processed records
        (which name those alerts), delivered, then states, delivered, then the commit."""
        work, journal, _ = world
        work.last_commit = -10.0  # a commit is due after this batch
        asyncio.run(work.run_batch([event(0, 1), event(1, 2)], work.runtime.on_metrics))
        assert journal == ["resume", "seek 0@0", "delivered",  # (no alerts to deliver)
                           "send rackwatch.processed.metrics", "send rackwatch.processed.metrics",
                           "delivered", "send changelog-hosts", "delivered",
                           "commit [(('rackwatch.metrics', 0), 2)]"]

    def test_alerts_land_before_the_record_that_names_them(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """A processed record names its input's alerts, so they are delivered first: a
        next owner that finds the record may trust that those alerts reached the topic."""
        work, journal, _ = world
        work.runtime.replace_rules(parse_rules(
            "groups:\n  - name: g\n    rules:\n      - {alert: Hot, kind: threshold, "
            "metric: cpu.usage, above: 0.4}\n"))
        asyncio.run(work.run_batch([event(0, 1)], work.runtime.on_metrics))
        alert = journal.index("send rackwatch.alerts")
        record = journal.index("send rackwatch.processed.metrics")
        assert alert < journal.index("delivered", alert) < record

    def test_a_batch_queued_at_shutdown_is_left_alone(self, world: tuple[Processing, list[str],
                                                                         FakeGroup]) -> None:
        """Once the outbox is stopped, a batch still queued sends and commits nothing: the
        partition's next owner processes it."""
        work, journal, _ = world
        asyncio.run(work.outbox.stop())
        asyncio.run(work.run_batch([event(0, 1)], work.runtime.on_metrics))
        assert journal == []
        assert work.book.commit_due() == {}

    def test_redelivered_batch_is_not_processed_twice(self, world: tuple[Processing, list[str],
                                                                         FakeGroup]) -> None:
        """The same offsets delivered again after a seek are skipped and counted."""
        work, journal, _ = world
        asyncio.run(work.run_batch([event(0, 1), event(1, 2)], work.runtime.on_metrics))
        journal.clear()
        asyncio.run(work.run_batch([event(0, 1), event(1, 2)], work.runtime.on_metrics))
        assert "send rackwatch.processed.metrics" not in journal
        assert work.stats.seen_skipped == 2


class TestHeaders:
    """Alert and incident messages say what they are in their Kafka headers."""

    def test_alerts_and_incidents_carry_content_type_and_schema(
            self, world: tuple[Processing, list[str], FakeGroup],
            monkeypatch: pytest.MonkeyPatch) -> None:
        """content-type application/json and rackwatch-schema with the value's schema id."""
        from streams.runtime import Outputs

        work, _, group = world
        asyncio.run(work.emit(Outputs(alerts=[(b"fp", b"{}")])))
        monkeypatch.setattr(work.runtime, "on_correlate",
                            lambda state, raw: [(b"inc-1", b"{}")])
        group.owned_tps = {("rackwatch.correlate", 0)}
        ev = SimpleNamespace(message=SimpleNamespace(topic="rackwatch.correlate", partition=0,
                                                     offset=0),
                             key=b"rack=r1", value=orjson.dumps({"ts": T0}))
        asyncio.run(work.run_correlate([ev]))
        outbox = work.outbox
        assert isinstance(outbox, FakeOutbox)
        assert outbox.headers["rackwatch.alerts"] == [[
            ("content-type", b"application/json"), ("rackwatch-schema", b"rackwatch.alert/v1")]]
        assert outbox.headers["rackwatch.incidents"] == [[
            ("content-type", b"application/json"),
            ("rackwatch-schema", b"rackwatch.incident/v1")]]


class TestWatchdog:
    def test_owned_partition_never_delivered_is_taken_over(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """An owned partition faust delivers nothing of (its backlog fetched for an earlier
        generation) is taken over by the watchdog, which seeks the stream to it."""
        work, journal, _ = world
        assert asyncio.run(work.watch({(M, 0): 30}))
        assert journal == ["resume", "seek 0@0"]
        assert work.book.known((M, 0))

    def test_stalled_partition_is_sought_back_then_given_up(
            self, world: tuple[Processing, list[str], FakeGroup],
            monkeypatch: pytest.MonkeyPatch) -> None:
        """Stalled past the timeout: a seek to the next offset; stalled again: unhealthy."""
        work, journal, _ = world
        clock = [1000.0]
        monkeypatch.setattr(proc, "time", SimpleNamespace(monotonic=lambda: clock[0],
                                                          time=time.time))
        asyncio.run(work.run_batch([event(0, 1)], work.runtime.on_metrics))
        journal.clear()
        clock[0] += 61
        assert asyncio.run(work.watch({(M, 0): 30}))
        assert journal == ["seek 0@1"] and work.stats.watchdog_seeks == 1
        assert work.stats.lag == {(M, 0): 29}
        clock[0] += 61
        assert not asyncio.run(work.watch({(M, 0): 30}))
        assert work.stats.watchdog_exits == 1

    def test_no_verdict_while_the_group_settles(
            self, world: tuple[Processing, list[str], FakeGroup],
            monkeypatch: pytest.MonkeyPatch) -> None:
        """A rebalance or a state recovery is not a stall."""
        work, journal, group = world
        clock = [1000.0]
        monkeypatch.setattr(proc, "time", SimpleNamespace(monotonic=lambda: clock[0],
                                                          time=time.time))
        asyncio.run(work.run_batch([event(0, 1)], work.runtime.on_metrics))
        journal.clear()
        group.busy_settling = True
        clock[0] += 200
        assert asyncio.run(work.watch({(M, 0): 30}))
        group.busy_settling = False
        clock[0] += 30
        assert asyncio.run(work.watch({(M, 0): 30}))
        assert journal == []


class TestTimerTicks:
    def test_caught_up_partitions_tick_on_their_own_clock(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """Partitions still reading are never ticked by the timer; a caught-up one is."""
        work, _, group = world
        group.owned_tps = {(M, 0), (M, 1)}
        for p, seq in ((0, 100), (1, 10)):
            work.book.take_over((M, p), 0, {}, now=0.0)
            asyncio.run(work.run_batch([event(0, seq, partition=p, host=f"h{p}")],
                                       work.runtime.on_metrics))
        group.ends = {(M, 0): 50, (M, 1): 1}
        ticks = {p: orjson.loads(v) for p, v in work.timer_ticks([0, 1])}
        assert ticks.get(0, {}).get("now") is None
        assert ticks[1]["now"] >= T0 + 10_000

    def test_a_logs_backlog_holds_the_timer_tick(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """Metrics caught up but the same partition's logs still unread: no timer tick
        (it would slide the hosts' log windows past lines not yet counted)."""
        work, _, group = world
        logs = "rackwatch.logs"
        group.owned_tps = {(M, 0), (logs, 0)}
        work.book.take_over((M, 0), 0, {}, now=0.0)
        work.book.take_over((logs, 0), 0, {}, now=0.0)
        asyncio.run(work.run_batch([event(0, 100, partition=0)], work.runtime.on_metrics))
        group.ends = {(M, 0): 1, (logs, 0): 40}
        assert 0 not in dict(work.timer_ticks([0]))
        group.ends = {(M, 0): 1, (logs, 0): 0}
        assert orjson.loads(dict(work.timer_ticks([0]))[0])["now"] >= T0 + 100_000

    def test_partition_without_a_clock_is_ticked_once_nothing_lags(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """A worker restarted on a partition whose hosts went silent before: no message
        gives it a clock; once the worker has caught up, it is ticked at the newest."""
        work, _, group = world
        group.owned_tps = {(M, 0), (M, 5)}
        work.book.take_over((M, 5), 0, {}, now=0.0)
        asyncio.run(work.run_batch([event(0, 300, partition=0)], work.runtime.on_metrics))
        group.ends = {(M, 0): 1, (M, 5): 0}
        ticks = {p: orjson.loads(v) for p, v in work.timer_ticks([0, 5])}
        assert ticks[5]["now"] >= T0 + 300_000
        group.ends = {(M, 0): 9, (M, 5): 0}  # partition 0 has a backlog again
        assert 5 not in dict(work.timer_ticks([0, 5]))


class TestGapTicks:
    def test_a_partitions_silence_in_a_backlog_is_seen_as_replay_sees_it(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """h0 (partition 0) sends every second; h1, alone on partition 1, is silent from
        2 s to 200 s. Read as a backlog partition by partition, h1's partition gets no
        message during the silence; before its next one it is ticked at the silence's
        end, and the alerts are exactly replay's over the interleaved stream."""
        work, _, group = world
        rules = parse_rules("groups:\n  - name: g\n    rules:\n      - {alert: Silent, "
                            "kind: absent, duration: 1m}\n")
        work.runtime.replace_rules(rules)
        group.owned_tps = {(M, 0), (M, 1)}
        sent: list[bytes] = []
        orig = work.outbox.send

        async def keep(topic: str, key: bytes | None, value: bytes, **kw: Any) -> None:
            if topic == TOPICS.alerts:
                sent.append(value)
            await orig(topic, key, value, **kw)

        work.outbox.send = keep  # type: ignore[method-assign]
        h0 = [event(i, i + 1, partition=0, host="h0") for i in range(240)]
        h1 = [event(i, s, partition=1, host="h1") for i, s in enumerate((1, 2, 200, 201, 240))]
        for p_events in (h1[:2], h0, h1[2:]):  # partition 1 is read after partition 0
            asyncio.run(work.run_batch(p_events, work.runtime.on_metrics, ticks=True))
        stream = sorted(h0 + h1, key=lambda e: orjson.loads(e.value)["ts"])
        want = list(replay_lines((e.value for e in stream), rules))
        assert [orjson.loads(a) for a in sent] == [orjson.loads(a) for a in want]
        assert [orjson.loads(a)["status"] for a in want] == ["firing", "resolved"]


class TestResendSuppression:
    RULES = ("groups:\n  - name: g\n    rules:\n      - {alert: Hot, kind: threshold, "
             "metric: cpu.usage, above: 0.4}\n")

    def test_a_next_owner_sends_neither_records_nor_alerts_twice(
            self, world: tuple[Processing, list[str], FakeGroup],
            monkeypatch: pytest.MonkeyPatch) -> None:
        """The previous owner processed offset 0 (record and alert delivered) and died
        before committing: processing it again sends nothing it sent; what it had not
        sent yet (offset 1) is sent."""
        from streams.worker.offsets import alert_digest

        work, journal, _ = world
        work.runtime.replace_rules(parse_rules(self.RULES))
        sent: list[bytes] = []
        orig = work.outbox.send

        async def keep(topic: str, key: bytes | None, value: bytes, **kw: Any) -> None:
            if topic == TOPICS.alerts:
                sent.append(value)
            await orig(topic, key, value, **kw)

        work.outbox.send = keep  # type: ignore[method-assign]
        asyncio.run(work.run_batch([event(0, 1)], work.runtime.on_metrics))
        assert len(sent) == 1
        first = sent[0]

        async def landed(bootstrap: str, wanted: dict[TPKey, int]
                         ) -> dict[TPKey, dict[int, frozenset[str]]]:
            return {tp: {0: frozenset({alert_digest(first)})} for tp in wanted}

        monkeypatch.setattr(proc, "landed_offsets", landed)
        work.forget()  # a rebalance: a fresh owner with a fresh state
        work.tables.hosts.clear()
        sent.clear()
        journal.clear()
        asyncio.run(work.run_batch([event(0, 1), event(1, 2)], work.runtime.on_metrics))
        assert sent == []  # offset 0's alert was sent; offset 1 raises none (already firing)
        assert journal.count("send rackwatch.processed.metrics") == 1  # offset 1's only
        assert work.stats.alerts_suppressed == 1 and work.stats.resent_suppressed == 1


HOT = ("groups:\n  - name: g\n    rules:\n      - {alert: Hot, kind: threshold, "
       "metric: cpu.usage, above: 0.4}\n")


class TestStagedStates:
    """[worker] state_interval_ms: host states written at most that often, before commits."""

    def test_states_wait_for_the_interval_then_land_before_the_commit(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """Two batches of one host write no state (the second's record is held: its
        outputs are not known to be delivered); the commit sends the record, then writes
        the state once, after the outputs are delivered, and only then commits."""
        work, journal, _ = world
        work.state_interval_s = 60.0
        asyncio.run(work.run_batch([event(0, 1)], work.runtime.on_metrics))
        asyncio.run(work.run_batch([event(1, 2)], work.runtime.on_metrics))
        assert "send changelog-hosts" not in journal
        assert list(work.staged) == [b"h1"]
        assert journal.count("send rackwatch.processed.metrics") == 1  # the second: held
        journal.clear()
        asyncio.run(work.commit())
        assert journal == ["delivered", "send rackwatch.processed.metrics", "delivered",
                           "send changelog-hosts", "delivered",
                           "commit [(('rackwatch.metrics', 0), 2)]"]
        assert work.staged == {} and work.stats.state_flushes == 1

    def test_a_batch_after_the_interval_writes_the_states(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """Once the interval has passed, the batch that ends it writes what is staged."""
        work, journal, _ = world
        work.state_interval_s = 60.0
        work.last_flush = -100.0
        asyncio.run(work.run_batch([event(0, 1)], work.runtime.on_metrics))
        rows = journal.index("send rackwatch.processed.metrics")
        state = journal.index("send changelog-hosts")
        assert rows < journal.index("delivered", rows) < state
        assert work.tables.hosts[b"h1"] == work.tables.state_of("h1").dumps()  # type: ignore[union-attr]

    def test_a_timer_tick_stages_instead_of_writing(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """A tick that changes a host's state stages it with the batches' states."""
        work, journal, _ = world
        work.state_interval_s = 60.0
        asyncio.run(work.run_batch([event(0, 1)], work.runtime.on_metrics))
        work.staged.clear()
        asyncio.run(work.run_tick(0, T0 + 600_000, None))
        assert "send changelog-hosts" not in journal
        assert b"h1" in work.staged

    def test_a_rebalance_drops_what_is_staged(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """Staged states of partitions that move are not written by the old owner."""
        work, _, _ = world
        work.state_interval_s = 60.0
        asyncio.run(work.run_batch([event(0, 1)], work.runtime.on_metrics))
        work.forget()
        assert work.staged == {}


class TestBatchParts:
    """[worker] batch_max_ms: a batch processed in parts, each part's alerts out first."""

    @staticmethod
    def _run(work: Processing, journal: list[str], max_s: float) -> dict[str, list[bytes]]:
        work.runtime.replace_rules(parse_rules(HOT))
        work.batch_max_s = max_s
        sent: dict[str, list[bytes]] = {}
        orig = work.outbox.send

        async def keep(topic: str, key: bytes | None, value: bytes, **kw: Any) -> None:
            sent.setdefault(topic, []).append(value)
            await orig(topic, key, value, **kw)

        work.outbox.send = keep  # type: ignore[method-assign]
        events = [event(i, 1, host=f"h{i}") for i in range(3)]
        asyncio.run(work.run_batch(events, work.runtime.on_metrics))
        return sent

    def test_each_part_delivers_its_alerts_before_its_records(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """Cut after every record: alert (its correlation event, its assignment), delivered, record,
        three times over."""
        work, journal, _ = world
        self._run(work, journal, 1e-9)
        sends = [j for j in journal if j != "resume" and not j.startswith("seek")]
        part = ["send rackwatch.alerts", "send rackwatch.correlate", "send rackwatch.actions",
                "delivered", "send rackwatch.processed.metrics"]
        assert sends[:15] == part * 3
        assert work.stats.batch_cuts == 2 and work.stats.batches == 1

    def test_cutting_changes_nothing_that_is_sent(
            self, world: tuple[Processing, list[str], FakeGroup],
            monkeypatch: pytest.MonkeyPatch) -> None:
        """The same alerts, records and events per topic, in the same order, cut or whole."""
        work, journal, _ = world
        monkeypatch.setattr(proc, "wall_ms", lambda: T0 + 10_000)
        whole = self._run(work, journal, 0.0)
        work.forget()
        work.tables.hosts.clear()
        work.runtime = Runtime(parse_rules(HOT), check_wall_clock=False)
        work.outbox.send = FakeOutbox.send.__get__(work.outbox)  # type: ignore[method-assign]
        cut = self._run(work, journal, 1e-9)
        assert len(whole[TOPICS.alerts]) == len(whole[TOPICS.rows]) == 3
        assert cut == whole

    def test_staged_parts_hold_records_instead_of_waiting(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        """With staged states a part does not wait for its own alerts: its records are
        held and sent when the next part ends (once those alerts landed), so the second
        part's alert leaves before the first part's record; the fake checks the order."""
        work, journal, _ = world
        work.state_interval_s = 60.0
        self._run(work, journal, 1e-9)
        alerts = [i for i, j in enumerate(journal) if j == "send rackwatch.alerts"]
        records = [i for i, j in enumerate(journal) if j == "send rackwatch.processed.metrics"]
        assert len(alerts) == 3 and len(records) == 2  # the last part's record: held
        assert alerts[1] < records[0]
        asyncio.run(work.commit())
        assert journal.count("send rackwatch.processed.metrics") == 3
        assert journal[-1].startswith("commit")

    def test_staged_or_not_the_same_is_sent(
            self, world: tuple[Processing, list[str], FakeGroup],
            monkeypatch: pytest.MonkeyPatch) -> None:
        """Staged states and held records change when things are sent, not what."""
        work, journal, _ = world
        monkeypatch.setattr(proc, "wall_ms", lambda: T0 + 10_000)
        plain = self._run(work, journal, 0.0)
        work.forget()
        work.tables.hosts.clear()
        work.runtime = Runtime(parse_rules(HOT), check_wall_clock=False)
        work.outbox.send = FakeOutbox.send.__get__(work.outbox)  # type: ignore[method-assign]
        work.state_interval_s = 60.0
        staged = self._run(work, journal, 1e-9)
        asyncio.run(work.commit())
        assert staged == plain


class TestCorrelateBatches:
    """A correlation batch parses each scope once; the outcome is the per-event one."""

    def test_one_batch_or_one_event_at_a_time_the_same(
            self, world: tuple[Processing, list[str], FakeGroup]) -> None:
        work, journal, group = world
        events = TestBatchParts._run(work, journal, 0.0)[TOPICS.correlate]
        assert len(events) == 3

        def correlate(batches: list[list[bytes]]) -> tuple[dict[bytes, bytes], list[bytes]]:
            work.forget()
            work.tables.scopes.clear()
            group.owned_tps = {(TOPICS.correlate, 0)}
            sent: list[bytes] = []
            orig = FakeOutbox.send.__get__(work.outbox)

            async def keep(topic: str, key: bytes | None, value: bytes, **kw: Any) -> None:
                if topic == TOPICS.incidents:
                    sent.append(value)
                await orig(topic, key, value, **kw)

            work.outbox.send = keep  # type: ignore[method-assign]
            offset = 0
            for batch in batches:
                evs = []
                for value in batch:
                    evs.append(SimpleNamespace(message=SimpleNamespace(
                        topic=TOPICS.correlate, partition=0, offset=offset),
                        key=b"rack=r1", value=value))
                    offset += 1
                asyncio.run(work.run_correlate(evs))
            return dict(work.tables.scopes), sent

        together = correlate([events])
        apart = correlate([[e] for e in events])
        assert together == apart and together[0]
