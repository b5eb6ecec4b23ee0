"""Books for the scaling and failure tests: what went in, what came out, what is off.

Every input the tests produce is known in advance (a deterministic simulated fleet plus
log lines and, where asked, malformed messages), so the books can be balanced exactly:
samples stored + samples dead-lettered = samples in accepted batches, log rows stored =
log events produced, stream dead letters = malformed messages produced; nothing stored
twice. Alerts are compared with `rackwatch replay` over the very same events.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from producers.events import log_event
from producers.simulator.fleet import Fleet
from producers.simulator.options import SimOptions
from schemas.ids import METRICS
from streams.core.logseries import LOG_SERIES
from streams.worker.offsets import partition_of

__all__ = [
    "Books",
    "Feeder",
    "FleetInput",
    "Message",
    "alert_key",
    "alert_problems",
    "consume_values",
    "group_assignment",
    "make_input",
    "produce_messages",
    "replay_alerts",
    "wait_alert",
    "wait_books",
    "wait_group",
]

# A message as produced: (topic short name, key, value).
Message = tuple[str, bytes, bytes]

RULES = """
groups:
  - name: scaling
    repeat_interval: 1h
    keep_resolved_for: 1h
    resend_resolved_every: 1h
    stale_after: 1h
    rules:
      - alert: CpuSaturated
        kind: threshold
        metric: cpu.usage
        above: 90%
        clear: 80%
        for: 3s
        labels: {severity: warning}
        annotations: {summary: "CPU at {{ $value }}"}
"""

# Malformed messages, each with the reason the stream processors give for it.
BAD_METRICS: tuple[tuple[str, bytes], ...] = (
    ("bad_json", b"{not json"),
    ("bad_json", b"\xff\xfe\x00garbage"),
    ("bad_type", b'"a string, not an object"'),
    ("ts_absurd", b'{"schema": "rackwatch.metrics/v1", "host": "g", "ts": 1, "seq": 1, '
                  b'"samples": []}'),
    ("unknown_version", b'{"schema": "rackwatch.metrics/v9", "host": "h", "ts": 1, "seq": 1}'),
    ("missing_field", b'{"schema": "rackwatch.metrics/v1", "ts": 1700000000000, "seq": 1, '
                      b'"samples": []}'),
    ("bad_type", b'{"schema": "rackwatch.metrics/v1", "host": "h", "ts": "soon", "seq": 1, '
                 b'"samples": []}'),
    ("ts_past", b'{"schema": "rackwatch.metrics/v1", "host": "h", "ts": 1100000000000, '
                b'"seq": 1, "samples": []}'),
)
BAD_LOGS: tuple[tuple[str, bytes], ...] = (
    ("bad_type", b"[1, 2, 3]"),
    ("missing_field", b'{"schema": "rackwatch.logs/v1", "host": "h", "ts": NOW, "seq": 1}'),
)


@dataclass
class FleetInput:
    """The messages of a run, step by step, and what they should become."""

    steps: list[list[Message]]
    events: list[dict[str, Any]]  # the well-formed events, in production order
    batches: int = 0
    samples: int = 0
    logs: int = 0
    bad: int = 0
    bad_reasons: Counter[str] = field(default_factory=Counter)
    hosts: list[str] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)

    def messages(self, first: int = 0, last: int | None = None) -> list[Message]:
        return [m for step in self.steps[first:last] for m in step]

    def write_jsonl(self, path: Path) -> Path:
        """The well-formed events as `rackwatch replay` reads them."""
        path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in self.events))
        return path

    def sim_options(self) -> SimOptions:
        return self._opts

    _opts: SimOptions = field(default_factory=SimOptions)


def make_input(*, hosts: int = 12, racks: int = 3, steps: int = 40, interval_s: float = 1.0,
               faults: str = "", seed: int = 1, start_ms: int | None = None,
               log_every: int = 4, bad_every: int = 0, bad_copies: int = 1,
               bad_from: int = 0, gpus_per_host: int = 2) -> FleetInput:
    """A simulated fleet near the wall clock (so the plausibility check passes), with a
    log line per host every `log_every` steps and, every `bad_every` steps, `bad_copies`
    malformed messages of each kind (from step `bad_from` on), interleaved with the good
    ones."""
    interval_ms = round(interval_s * 1000)
    if start_ms is None:
        start_ms = int(time.time() * 1000) - steps * interval_ms - 10_000
        start_ms -= start_ms % interval_ms
    opts = SimOptions(hosts=hosts, racks=racks, interval_s=interval_s, seed=seed,
                      faults=faults, start_ms=start_ms, background_logs=False,
                      gpus_per_host=gpus_per_host)
    fleet = Fleet(opts, origin_ms=start_ms)
    out = FleetInput(steps=[], events=[], hosts=[h.name for h in fleet.topology.hosts],
                     faults=fleet.manifest(), _opts=opts)
    log_seq: Counter[str] = Counter()
    bad_i = 0
    for k in range(steps):
        step: list[Message] = []
        for ev in fleet.step(k):
            assert ev["schema"] == METRICS
            out.batches += 1
            out.samples += len(ev["samples"])  # type: ignore[typeddict-item]
            out.events.append(dict(ev))
            step.append(("metrics", ev["host"].encode(), orjson.dumps(ev)))
        if log_every and k % log_every == 0:
            for spec in fleet.topology.hosts:
                log_seq[spec.name] += 1
                ts = fleet.step_time(k) + 500
                lg = log_event(spec.name, ts, log_seq[spec.name],
                               f"kernel: eth0 rx ring {k % 7} refilled after {k} retries",
                               "/var/log/syslog", dict(spec.labels))
                out.logs += 1
                out.events.append(dict(lg))
                step.append(("logs", spec.name.encode(), orjson.dumps(lg)))
        if bad_every and k >= bad_from and k % bad_every == bad_every - 1:
            bad: list[Message] = []
            for _ in range(bad_copies):
                for reason, raw in BAD_METRICS:
                    bad.append(("metrics", f"bad-{bad_i}".encode(), raw))
                    out.bad_reasons[reason] += 1
                    bad_i += 1
                for reason, raw in BAD_LOGS:
                    raw = raw.replace(b"NOW", str(fleet.step_time(k)).encode())
                    bad.append(("logs", f"bad-{bad_i}".encode(), raw))
                    out.bad_reasons[reason] += 1
                    bad_i += 1
            out.bad += len(bad)
            # spread through the step: good, bad, good, bad...
            every = max(1, len(bad) // max(1, len(step)))
            mixed: list[Message] = []
            for i, m in enumerate(step):
                mixed.append(m)
                mixed.extend(bad[i * every:(i + 1) * every])
            mixed.extend(bad[len(step) * every:])
            step = mixed
        out.steps.append(step)
    return out


# --- Kafka ------------------------------------------------------------------------------

async def _produce(bootstrap: str, prefix: str, messages: Sequence[Message]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(prefix + short, value, key=key)
                   for short, key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Feeder(threading.Thread):
    """Produces the steps of an input at a steady pace in the background, so failures
    can be injected mid-stream; `steps_sent` says how far it got."""

    def __init__(self, bootstrap: str, prefix: str, fin: FleetInput, *,
                 steps_per_s: float = 4.0, first: int = 0) -> None:
        super().__init__(daemon=True, name="feeder")
        self.bootstrap, self.prefix, self.fin = bootstrap, prefix, fin
        self.pause_s = 1.0 / steps_per_s
        self.steps_sent = first
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as e:  # reported by finish()
            self.error = e

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                    enable_idempotence=True, linger_ms=5)
        await producer.start()
        try:
            for k in range(self.steps_sent, len(self.fin.steps)):
                started = time.monotonic()
                futures = [await producer.send(self.prefix + short, value, key=key)
                           for short, key, value in self.fin.steps[k]]
                await asyncio.gather(*futures)
                self.steps_sent = k + 1
                await asyncio.sleep(max(0.0, self.pause_s - (time.monotonic() - started)))
        finally:
            await producer.stop()

    def wait_step(self, k: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.steps_sent < k:
            if self.error is not None or not self.is_alive():
                raise RuntimeError(f"feeder stopped at step {self.steps_sent}: {self.error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"feeder at step {self.steps_sent}, waiting for {k}")
            time.sleep(0.05)

    def finish(self, timeout: float = 120.0) -> None:
        self.join(timeout)
        if self.error is not None:
            raise self.error
        assert self.steps_sent == len(self.fin.steps), self.steps_sent


def produce_messages(bootstrap: str, prefix: str, messages: Sequence[Message]) -> None:
    """Produce and wait for every acknowledgement (keys hash to partitions as agents')."""
    if messages:
        asyncio.run(_produce(bootstrap, prefix, messages))


async def _consume(bootstrap: str, topic: str, idle_s: float, max_s: float
                   ) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    out: list[bytes] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_s
        last = loop.time()
        while loop.time() < deadline and loop.time() - last < idle_s:
            got = await consumer.getmany(timeout_ms=300)
            for msgs in got.values():
                for m in msgs:
                    out.append(m.value)
                    last = loop.time()
    finally:
        await consumer.stop()
    return out


def consume_values(bootstrap: str, topic: str, idle_s: float = 2.0,
                   max_s: float = 30.0) -> list[bytes]:
    """Every value on a topic, read until `idle_s` pass without a new one."""
    return asyncio.run(_consume(bootstrap, topic, idle_s, max_s))


async def _describe(bootstrap: str, group: str, topic: str) -> tuple[str, dict[str, set[int]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        (resp,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (err, _gid, state, _ptype, _proto, members, *_rest) = resp.groups[0]
    if err:
        return f"error {err}", {}
    owned: dict[str, set[int]] = {}
    for member in members:
        client_id, raw = member[1], member[-1]
        parts: set[int] = set()
        if raw:
            assignment = ConsumerProtocolMemberAssignment.decode(raw)
            for t, ps in assignment.assignment:
                if t == topic:
                    parts.update(ps)
        owned[client_id] = parts
    return state, owned


def group_assignment(bootstrap: str, group: str, topic: str) -> tuple[str, dict[str, set[int]]]:
    """The group's state and, per member client id, the partitions of `topic` it owns."""
    return asyncio.run(_describe(bootstrap, group, topic))


def wait_group(bootstrap: str, group: str, topic: str, members: int, partitions: int,
               timeout: float = 90.0, alive: Callable[[], None] | None = None
               ) -> dict[str, set[int]]:
    """Wait until `members` workers share all partitions of `topic` in a stable group."""
    deadline = time.monotonic() + timeout
    last: tuple[str, dict[str, set[int]]] = ("", {})
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            last = group_assignment(bootstrap, group, topic)
        except KafkaError as e:  # the coordinator may not be there yet
            last = (repr(e), {})
        state, owned = last
        covered = sorted(p for ps in owned.values() for p in ps)
        if (state == "Stable" and len(owned) == members
                and covered == list(range(partitions))
                and all(owned.values())):
            return owned
        time.sleep(0.5)
    raise TimeoutError(f"group {group} not stable with {members} members: {last}")


async def _first_alert(bootstrap: str, topic: str, match: Callable[[dict[str, Any]], bool],
                       within_s: float) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while loop.time() < deadline:
            got = await consumer.getmany(timeout_ms=200)
            for msgs in got.values():
                for m in msgs:
                    a = orjson.loads(m.value)
                    if match(a):
                        return dict(a)
    finally:
        await consumer.stop()
    raise TimeoutError(f"no matching alert on {topic} within {within_s:.0f}s")


def wait_alert(bootstrap: str, topic: str, match: Callable[[dict[str, Any]], bool],
               timeout: float = 60.0) -> dict[str, Any]:
    """The first alert on the topic that matches (waiting for it to be published)."""
    return asyncio.run(_first_alert(bootstrap, topic, match, timeout))


def owner_pid(owned: dict[str, set[int]], partition: int) -> int:
    """The pid of the worker holding `partition` (workers name themselves by pid)."""
    for client_id, parts in owned.items():
        if partition in parts:
            return int(client_id.rsplit("-", 1)[1])
    raise KeyError(partition)


def host_partition(host: str, partitions: int) -> int:
    return partition_of(host.encode(), partitions)


# --- alerts -----------------------------------------------------------------------------

def alert_key(a: dict[str, Any]) -> tuple[str, str, str, str]:
    """What identifies one alert state change (re-sends and repeats share it)."""
    return (a["fingerprint"], a["status"], a["starts_at"], a["updated_at"])


def replay_alerts(run: Callable[..., Any], events: Path, rules: Path) -> list[dict[str, Any]]:
    """`rackwatch replay` over the events: the alerts a single process raises."""
    res = run("replay", str(events), "--rules", str(rules), timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"replay failed: {res.stderr}")
    return [orjson.loads(line) for line in res.stdout.splitlines() if line.strip()]


def alert_problems(live: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> list[str]:
    """Differences between the live alerts and a single-process replay, beyond what the
    alert contract allows (an identical re-send of a change already sent)."""
    problems = []
    expected = Counter(alert_key(a) for a in replayed)
    got = Counter(alert_key(a) for a in live)
    for k in sorted(set(expected) - set(got)):
        problems.append(f"missing {k}")
    for k in sorted(set(got) - set(expected)):
        problems.append(f"unexpected {k}")
    # One episode (fingerprint, starts_at) resolves once: a single resolution time.
    resolutions: dict[tuple[str, str], set[str]] = defaultdict(set)
    for a in live:
        if a["status"] == "resolved":
            resolutions[(a["fingerprint"], a["starts_at"])].add(a["updated_at"])
    for episode, times in resolutions.items():
        if len(times) > 1:
            problems.append(f"episode {episode} resolved {len(times)} times: {sorted(times)}")
    # The last word on each fingerprint is the same as the replay's.
    last_live: dict[str, str] = {}
    last_replay: dict[str, str] = {}
    for a in live:
        last_live[a["fingerprint"]] = a["status"]
    for a in replayed:
        last_replay[a["fingerprint"]] = a["status"]
    if last_live != last_replay:
        problems.append(f"final states differ: live {last_live} replay {last_replay}")
    return problems


def repeats(live: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str, str], int]:
    """State changes sent more than once (allowed after a crash, as re-sends)."""
    c = Counter(alert_key(a) for a in live)
    return {k: n for k, n in c.items() if n > 1}


# --- the store --------------------------------------------------------------------------

# The worker adds a host's log series (streams.core.logseries) to its metric batches:
# they are stored but were never produced, so the produced/stored balance leaves them
# out; doubled rows are counted over everything, derived series included.
_PRODUCED = "name NOT IN (" + ", ".join(f"'{n}'" for n in LOG_SERIES) + ")"

BOOKS_SQL = f"""
SELECT
  (SELECT count() FROM metrics WHERE {_PRODUCED}) AS samples_stored,
  (SELECT uniqExact(host, ts, name, labels) FROM metrics WHERE {_PRODUCED})
    AS samples_distinct,
  (SELECT count() FROM (SELECT host, ts, name, labels FROM metrics
                        GROUP BY host, ts, name, labels HAVING count() > 1)) AS samples_doubled,
  (SELECT uniqExact(host, seq) FROM metrics) AS batches_stored,
  (SELECT count() FROM logs) AS logs_stored,
  (SELECT uniqExact(host, seq) FROM logs) AS logs_distinct,
  (SELECT count() FROM deadletter WHERE origin = 'stream') AS dead_stream,
  (SELECT count() FROM deadletter WHERE origin != 'stream') AS dead_sink
"""


@dataclass
class Books:
    """Produced against stored, with what is missing and what is doubled."""

    produced_batches: int
    produced_samples: int
    produced_logs: int
    produced_bad: int
    samples_stored: int = 0
    samples_distinct: int = 0
    samples_doubled: int = 0
    batches_stored: int = 0
    logs_stored: int = 0
    logs_distinct: int = 0
    dead_stream: int = 0
    dead_sink: int = 0

    @classmethod
    def of(cls, fin: FleetInput, row: dict[str, Any]) -> Books:
        b = cls(fin.batches, fin.samples, fin.logs, fin.bad)
        for k, v in row.items():
            setattr(b, k, int(v))
        return b

    @property
    def samples_missing(self) -> int:
        return self.produced_samples - self.samples_distinct

    @property
    def logs_missing(self) -> int:
        return self.produced_logs - self.logs_distinct

    @property
    def balanced(self) -> bool:
        """processed + dead-lettered = produced, nothing twice."""
        return (self.samples_stored == self.samples_distinct == self.produced_samples
                and self.samples_doubled == 0
                and self.batches_stored == self.produced_batches
                and self.logs_stored == self.logs_distinct == self.produced_logs
                and self.dead_stream == self.produced_bad and self.dead_sink == 0)

    @property
    def complete(self) -> bool:
        """Everything has arrived (possibly more: duplicates show in `balanced`)."""
        return (self.samples_distinct >= self.produced_samples
                and self.logs_distinct >= self.produced_logs
                and self.dead_stream >= self.produced_bad)

    def line(self) -> str:
        return (f"batches {self.batches_stored}/{self.produced_batches}, samples "
                f"{self.samples_stored} stored ({self.samples_distinct} distinct, "
                f"{self.samples_doubled} doubled, {self.samples_missing} missing) of "
                f"{self.produced_samples}, logs {self.logs_stored} ({self.logs_distinct} "
                f"distinct) of {self.produced_logs}, dead letters {self.dead_stream} of "
                f"{self.produced_bad} (+{self.dead_sink} from the sink)")


def wait_books(query: Callable[[str], list[dict[str, Any]]], fin: FleetInput,
               timeout: float = 90.0, settle_s: float = 2.5) -> Books:
    """Poll the store until everything produced has arrived, then count once more after
    the sink's next flushes (a duplicate would land then)."""
    deadline = time.monotonic() + timeout
    books = Books.of(fin, {})
    while time.monotonic() < deadline:
        try:
            rows = query(BOOKS_SQL)
        except RuntimeError:  # the sink is starting, or restarting
            rows = []
        if rows:
            books = Books.of(fin, rows[0])
            if books.complete:
                time.sleep(settle_s)
                return Books.of(fin, query(BOOKS_SQL)[0])
        time.sleep(1.0)
    return books
