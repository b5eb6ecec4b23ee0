"""Soak: the whole pipeline under a steady load while workers die and come back at random.

    python -m benchmarks.soak --duration 1800 --hosts 16 --workers 3 --kill-every 45

A simulated fleet publishes in real time (one batch per host per interval, a log line
per host every few intervals, and a few malformed messages) to a local broker of its own
(or `--bootstrap`); `rackwatch worker` processes and a `rackwatch sink` run as real
processes. At random moments one worker is SIGKILLed (or, sometimes, stopped with
SIGTERM) and started again a few seconds later. At the end the feed stops, every worker
is brought back, the pipeline drains, and the books are printed: what was produced,
stored, dead-lettered, missing and duplicated, the alerts against `rackwatch replay` of
the same events, and the consumer lag (worst during the run, and how long it took to
drain at the end). `--json FILE` writes the same as JSON.

Not part of the test run; it takes as long as `--duration` says, plus the drain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from common.broker import LocalBroker, free_port
from common.config import BrokerConfig
from producers.events import log_event
from producers.simulator.fleet import Fleet
from producers.simulator.options import SimOptions
from tests.integration.books import (
    BAD_LOGS,
    BAD_METRICS,
    BOOKS_SQL,
    RULES,
    Books,
    alert_problems,
    consume_values,
    produce_messages,
    repeats,
    wait_group,
)
from tests.integration.harness import Pipeline

__all__ = ["SoakOptions", "main", "run_soak"]

WORKER_INPUTS = ("metrics", "logs")
SINK_INPUTS = ("processed.metrics", "processed.logs", "alerts", "incidents", "deadletter")


@dataclass
class SoakOptions:
    duration_s: float = 600.0
    hosts: int = 16
    racks: int = 4
    interval_s: float = 1.0
    workers: int = 3
    partitions: int = 6
    kill_every_s: float = 45.0  # mean time between two failures (exponential)
    sigterm_share: float = 0.25  # the rest are SIGKILL
    down_s: tuple[float, float] = (1.0, 10.0)  # how long a failed worker stays away
    log_every: int = 4  # a log line per host every this many intervals
    bad_per_interval: int = 1  # malformed messages per interval
    seed: int = 7
    bootstrap: str = ""  # empty: a broker of its own on free ports
    drain_timeout_s: float = 600.0
    workdir: Path | None = None


@dataclass
class Produced:
    batches: int = 0
    samples: int = 0
    logs: int = 0
    bad: int = 0
    intervals: int = 0


@dataclass
class Report:
    options: dict[str, Any]
    produced: dict[str, int]
    stored: dict[str, int]
    missing: dict[str, int]
    duplicated: dict[str, int]
    dead_letters: dict[str, int]
    balanced: bool
    alerts: dict[str, Any]
    failures: dict[str, int]
    lag: dict[str, Any]
    elapsed_s: float
    worker_restarts: list[str] = field(default_factory=list)


def fault_spec(hosts: list[str], duration_s: float, rng: random.Random) -> str:
    """CPU saturations on random hosts every minute or so, 20-40 s each, so that alerts
    fire and resolve throughout the run, whatever workers hold the hosts then."""
    parts = []
    t = 20.0
    while t < duration_s - 45:
        host = rng.choice(hosts)
        parts.append(f"cpu_saturation(host={host})@{t:.0f}s:{rng.uniform(20, 40):.0f}s")
        t += rng.uniform(30, 90)
    return ", ".join(parts)


class Feed(threading.Thread):
    """Publishes the fleet in real time and writes its well-formed events to a file for
    the replay; counts everything it produced."""

    def __init__(self, opts: SoakOptions, bootstrap: str, prefix: str, events: Path) -> None:
        super().__init__(daemon=True, name="feed")
        self.opts, self.bootstrap, self.prefix, self.events = opts, bootstrap, prefix, events
        self.produced = Produced()
        self.stop_at: float | None = None
        self.error: BaseException | None = None
        self.behind_s = 0.0  # the most the feed ever lagged behind its schedule

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # reported by the caller
            self.error = e

    async def _main(self) -> None:
        o = self.opts
        interval_ms = round(o.interval_s * 1000)
        origin = int(time.time() * 1000) // interval_ms * interval_ms + interval_ms
        names = Fleet(SimOptions(hosts=o.hosts, racks=o.racks, seed=o.seed)).topology.hosts
        faults = fault_spec([h.name for h in names], o.duration_s, random.Random(o.seed))
        fleet = Fleet(SimOptions(hosts=o.hosts, racks=o.racks, interval_s=o.interval_s,
                                 seed=o.seed, faults=faults, start_ms=origin,
                                 background_logs=False, gpus_per_host=2), origin_ms=origin)
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                    enable_idempotence=True, linger_ms=5,
                                    request_timeout_ms=120_000)
        await producer.start()
        out: BinaryIO = self.events.open("wb")
        bad = [("metrics", raw) for _, raw in BAD_METRICS] + [("logs", raw)
                                                             for _, raw in BAD_LOGS]
        log_seq: Counter[str] = Counter()
        p = self.produced
        try:
            k = 0
            end = origin + o.duration_s * 1000
            while fleet.step_time(k) < end:
                due = fleet.step_time(k) / 1000 + 0.5  # the agents' few hundred ms offset
                wait = due - time.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    self.behind_s = max(self.behind_s, -wait)
                futures = []
                for ev in fleet.step(k):
                    raw = orjson.dumps(ev)
                    out.write(raw + b"\n")
                    p.batches += 1
                    p.samples += len(ev["samples"])  # type: ignore[typeddict-item]
                    futures.append(await producer.send(self.prefix + "metrics", raw,
                                                       key=ev["host"].encode()))
                if o.log_every and k % o.log_every == 0:
                    for spec in fleet.topology.hosts:
                        log_seq[spec.name] += 1
                        lg = log_event(spec.name, fleet.step_time(k) + 400, log_seq[spec.name],
                                       f"kernel: eth0 rx ring {k % 7} refilled after {k} "
                                       "retries", "/var/log/syslog", dict(spec.labels))
                        raw = orjson.dumps(lg)
                        out.write(raw + b"\n")
                        p.logs += 1
                        futures.append(await producer.send(self.prefix + "logs", raw,
                                                           key=spec.name.encode()))
                for i in range(o.bad_per_interval):
                    short, raw = bad[(k * o.bad_per_interval + i) % len(bad)]
                    raw = raw.replace(b"NOW", str(fleet.step_time(k)).encode())
                    p.bad += 1
                    futures.append(await producer.send(self.prefix + short, raw,
                                                       key=f"bad-{p.bad}".encode()))
                await asyncio.gather(*futures)
                k += 1
                p.intervals = k
        finally:
            out.close()
            await producer.stop()


async def _lag(bootstrap: str, group: str, topics: list[str], partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        total = 0
        for tp in tps:
            committed = await consumer.committed(tp)
            total += ends[tp] - (committed or 0)
        return total
    finally:
        await consumer.stop()


def lag(bootstrap: str, group: str, topics: list[str], partitions: int) -> int:
    """Messages not yet committed by the group, over all partitions of the topics."""
    return asyncio.run(_lag(bootstrap, group, topics, partitions))


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_soak(opts: SoakOptions) -> Report:
    """Run one soak and return its report (see the module docstring)."""
    started = time.monotonic()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="rackwatch-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(opts.seed)
    broker: LocalBroker | None = None
    bootstrap = opts.bootstrap
    if not bootstrap:
        broker = LocalBroker(BrokerConfig(port=free_port(), controller_port=free_port(),
                                          heap="1g"), work / "kafka")
        bootstrap = broker.start()
    prefix = f"soak{uuid.uuid4().hex[:6]}."
    rules = work / "rules.yaml"
    rules.write_text(RULES)
    pipe = Pipeline(work / "home", bootstrap, prefix, rules=rules, partitions=opts.partitions,
                    serve_port=free_port())
    pipe.ensure_topics()
    group = f"{prefix}worker"
    sink_group = f"{prefix}sink"
    worker_topics = [prefix + t for t in WORKER_INPUTS]
    sink_topics = [prefix + t for t in SINK_INPUTS]
    failures: Counter[str] = Counter()
    restarts: list[str] = []
    lag_samples: list[tuple[float, int, int]] = []
    feed = Feed(opts, bootstrap, prefix, work / "events.jsonl")
    try:
        pipe.start("sink", "sink")
        names = [f"worker-{i + 1}" for i in range(opts.workers)]
        for name in names:
            pipe.start(name, "worker")
        time.sleep(10.0)  # let the group form before the data comes
        feed.start()
        back_at: dict[str, float] = {}
        next_failure = time.monotonic() + 20 + rng.expovariate(1 / opts.kill_every_s)
        next_lag = time.monotonic()
        while feed.is_alive():
            now = time.monotonic()
            for name, t in list(back_at.items()):
                if now >= t:
                    pipe.start(name, "worker")
                    restarts.append(f"{time.monotonic() - started:.0f}s {name} back")
                    del back_at[name]
            running = [n for n in names if n in pipe.procs]
            if now >= next_failure and running:
                victim = rng.choice(running)
                sig = signal.SIGTERM if rng.random() < opts.sigterm_share else signal.SIGKILL
                pipe.stop(victim, sig)
                failures[sig.name] += 1
                back_at[victim] = now + rng.uniform(*opts.down_s)
                restarts.append(f"{time.monotonic() - started:.0f}s {victim} {sig.name}")
                _log(f"{sig.name} {victim}")
                next_failure = now + rng.expovariate(1 / opts.kill_every_s)
            for name in names:
                proc = pipe.procs.get(name)
                if proc is not None and proc.poll() is not None:  # died on its own
                    failures["exited"] += 1
                    pipe.procs.pop(name)
                    back_at[name] = now + 1.0
                    _log(f"{name} exited with {proc.returncode}: {pipe.log_of(name)[-500:]}")
            if now >= next_lag:
                try:
                    sample = (time.monotonic() - started,
                              lag(bootstrap, group, worker_topics, opts.partitions),
                              lag(bootstrap, sink_group, sink_topics, opts.partitions))
                    lag_samples.append(sample)
                    p = feed.produced
                    _log(f"interval {p.intervals}: {p.batches} batches, worker lag "
                         f"{sample[1]}, sink lag {sample[2]}")
                except Exception as e:  # a lag probe must not end the soak
                    _log(f"lag probe failed: {e}")
                next_lag = now + 10.0
            time.sleep(0.2)
        if feed.error is not None:
            raise feed.error
        for name in names:  # everyone back for the drain
            if name not in pipe.procs:
                pipe.start(name, "worker")
        fed_at = time.monotonic()
        drained = None
        books = Books(feed.produced.batches, feed.produced.samples, feed.produced.logs,
                      feed.produced.bad)
        deadline = fed_at + opts.drain_timeout_s
        while time.monotonic() < deadline:
            try:
                wl = lag(bootstrap, group, worker_topics, opts.partitions)
                sl = lag(bootstrap, sink_group, sink_topics, opts.partitions)
                row = pipe.query(BOOKS_SQL)[0]
            except Exception as e:  # the sink may be busy; try again
                _log(f"drain probe failed: {e}")
                time.sleep(2.0)
                continue
            for k, v in row.items():
                setattr(books, k, int(str(v)))
            if wl == 0 and sl == 0 and books.complete:
                drained = time.monotonic() - fed_at
                break
            _log(f"draining: worker lag {wl}, sink lag {sl}, {books.line()}")
            time.sleep(2.0)
        time.sleep(3.0)  # a duplicate would land with the sink's next flushes
        for k, v in pipe.query(BOOKS_SQL)[0].items():
            setattr(books, k, int(str(v)))
        row = pipe.query("SELECT count() AS n, uniqExact(source_topic, source_partition, "
                         "source_offset) AS d FROM deadletter WHERE origin = 'stream'")[0]
        dead = {k: int(str(v)) for k, v in row.items()}
    finally:
        pipe.stop_all()
    live = [orjson.loads(v) for v in consume_values(bootstrap, prefix + "alerts", max_s=120)]
    res = pipe.cli("replay", str(work / "events.jsonl"), "--rules", str(rules), timeout=1800)
    replayed = [orjson.loads(line) for line in res.stdout.splitlines() if line.strip()]
    problems = alert_problems(live, replayed)
    if broker is not None:
        broker.stop()
    p = feed.produced
    return Report(
        options={k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
        produced={"intervals": p.intervals, "batches": p.batches, "samples": p.samples,
                  "logs": p.logs, "malformed": p.bad},
        stored={"samples": books.samples_stored, "batches": books.batches_stored,
                "logs": books.logs_stored},
        missing={"samples": max(0, books.samples_missing), "logs": max(0, books.logs_missing),
                 "batches": max(0, p.batches - books.batches_stored)},
        duplicated={"samples": books.samples_stored - books.samples_distinct,
                    "sample_keys": books.samples_doubled,
                    "logs": books.logs_stored - books.logs_distinct},
        dead_letters={"stream": dead["n"], "distinct": dead["d"],
                      "duplicated": dead["n"] - dead["d"],
                      "missing": max(0, p.bad - dead["d"]), "sink": books.dead_sink},
        balanced=(books.samples_stored == books.samples_distinct == p.samples
                  and books.batches_stored == p.batches
                  and books.logs_stored == books.logs_distinct == p.logs
                  and dead["d"] == p.bad and books.dead_sink == 0),
        alerts={"live": len(live), "replay": len(replayed), "problems": problems[:20],
                "identical_resends": sum(n - 1 for n in repeats(live).values())},
        failures=dict(failures),
        lag={"worker_max": max((s[1] for s in lag_samples), default=0),
             "sink_max": max((s[2] for s in lag_samples), default=0),
             "drain_s": None if drained is None else round(drained, 1),
             "feed_behind_max_s": round(feed.behind_s, 2),
             "samples": [list(s) for s in lag_samples[-5:]]},
        elapsed_s=round(time.monotonic() - started, 1),
        worker_restarts=restarts,
    )


def _changelog_bytes(work: Path, prefix: str) -> int:
    """Bytes on disk of the hosts changelog (a broker of our own only)."""
    logs = work / "kafka" / "kafka-logs"
    return sum(f.stat().st_size for d in logs.glob(f"{prefix}worker-hosts-changelog-*")
               for f in d.glob("*.log"))


def measure_recovery(host_counts: list[int], *, batches_per_host: int = 3,
                     partitions: int = 6, workdir: Path | None = None) -> list[dict[str, Any]]:
    """How long a worker takes to restore its tables, by state size: one worker processes
    `batches_per_host` batches for each of N hosts, is SIGKILLed, and a new worker takes
    over; the time is read from its log (from "Restoring state" to "Done reading")."""
    work = workdir or Path(tempfile.mkdtemp(prefix="rackwatch-recovery-"))
    broker = LocalBroker(BrokerConfig(port=free_port(), controller_port=free_port(),
                                      heap="1g"), work / "kafka")
    bootstrap = broker.start()
    results = []
    try:
        for n in host_counts:
            prefix = f"rec{n}x{uuid.uuid4().hex[:4]}."
            rules = work / "rules.yaml"
            rules.write_text(RULES)
            pipe = Pipeline(work / f"home{n}", bootstrap, prefix, rules=rules,
                            partitions=partitions)
            pipe.ensure_topics()
            origin = int(time.time() * 1000) - batches_per_host * 1000 - 5000
            fleet = Fleet(SimOptions(hosts=n, racks=max(1, n // 16), interval_s=1.0,
                                     start_ms=origin, background_logs=False,
                                     gpus_per_host=2), origin_ms=origin)
            msgs = [("metrics", ev["host"].encode(), orjson.dumps(ev))
                    for k in range(batches_per_host) for ev in fleet.step(k)]
            state_bytes = 0
            try:
                pipe.start("first", "worker")
                produce_messages(bootstrap, prefix, msgs)
                deadline = time.monotonic() + 600
                while lag(bootstrap, f"{prefix}worker", [prefix + "metrics"], partitions):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the first worker did not catch up")
                    time.sleep(1.0)
                time.sleep(2.0)
                state_bytes = _changelog_bytes(work, prefix)
                pipe.stop("first", signal.SIGKILL)
                started = time.monotonic()
                pipe.start("second", "worker", "--loglevel", "info")
                restored = None
                while time.monotonic() - started < 900 and restored is None:
                    text = pipe.log_of("second")
                    if "Worker ready" in text:
                        restored = _recovery_seconds(text)
                    time.sleep(0.5)
                ready = time.monotonic() - started
            finally:
                pipe.stop_all()
            results.append({"hosts": n, "changelog_records": n * batches_per_host,
                            "changelog_mb": round(state_bytes / 1e6, 1),
                            "restore_s": restored, "start_to_ready_s": round(ready, 1)})
            _log(f"recovery: {results[-1]}")
    finally:
        broker.stop()
    return results


def measure_throughput(*, hosts: int = 120, steps: int = 50, workers: int = 1,
                       partitions: int = 6, workdir: Path | None = None) -> dict[str, Any]:
    """Batches a second that `workers` worker processes get through: a backlog of
    hosts x steps metric batches is produced first, then the workers start; timed from
    the group being formed to the lag reaching zero."""
    work = workdir or Path(tempfile.mkdtemp(prefix="rackwatch-throughput-"))
    broker = LocalBroker(BrokerConfig(port=free_port(), controller_port=free_port(),
                                      heap="1g"), work / "kafka")
    bootstrap = broker.start()
    try:
        prefix = f"tp{uuid.uuid4().hex[:6]}."
        rules = work / "rules.yaml"
        rules.write_text(RULES)
        pipe = Pipeline(work / "home", bootstrap, prefix, rules=rules, partitions=partitions)
        pipe.ensure_topics()
        origin = int(time.time() * 1000) - steps * 1000 - 5000
        fleet = Fleet(SimOptions(hosts=hosts, racks=max(1, hosts // 16), interval_s=1.0,
                                 start_ms=origin, background_logs=False, gpus_per_host=2),
                      origin_ms=origin)
        msgs = [("metrics", ev["host"].encode(), orjson.dumps(ev))
                for k in range(steps) for ev in fleet.step(k)]
        samples = sum(len(orjson.loads(v)["samples"]) for _, _, v in msgs)
        produce_messages(bootstrap, prefix, msgs)
        try:
            for i in range(workers):
                pipe.start(f"worker-{i + 1}", "worker")
            wait_group(bootstrap, f"{prefix}worker", f"{prefix}metrics", workers, partitions,
                       timeout=120)
            started = time.monotonic()
            while lag(bootstrap, f"{prefix}worker", [prefix + "metrics"], partitions):
                time.sleep(0.25)
            elapsed = time.monotonic() - started
        finally:
            pipe.stop_all()
    finally:
        broker.stop()
    return {"workers": workers, "batches": len(msgs), "samples": samples,
            "seconds": round(elapsed, 1), "batches_per_s": round(len(msgs) / elapsed),
            "samples_per_s": round(samples / elapsed)}


def _recovery_seconds(log_text: str) -> float | None:
    """Seconds between faust's "Restoring state" and "Done reading" lines (last pair)."""
    import re
    from datetime import datetime

    stamp = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+)\]")
    start = end = None
    for line in log_text.splitlines():
        m = stamp.match(line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if "Restoring state from changelog topics" in line:
            start, end = t, None
        elif "Done reading from changelog topics" in line and start is not None:
            end = t
    return None if start is None or end is None else round(end - start, 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of feed (600)")
    ap.add_argument("--hosts", type=int, default=16)
    ap.add_argument("--racks", type=int, default=4)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between batches")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--kill-every", type=float, default=45.0,
                    help="mean seconds between worker failures")
    ap.add_argument("--bad-per-interval", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bootstrap", default="", help="use this broker instead of starting one")
    ap.add_argument("--workdir", type=Path, help="keep logs, store and events here")
    ap.add_argument("--json", type=Path, help="also write the report here")
    ap.add_argument("--recovery", metavar="N,N,...",
                    help="instead of a soak: time a worker's state restore for these host "
                         "counts")
    ap.add_argument("--throughput", type=int, metavar="WORKERS",
                    help="instead of a soak: time this many workers through a backlog")
    a = ap.parse_args(argv)
    if a.throughput:
        print(json.dumps(measure_throughput(workers=a.throughput, partitions=a.partitions,
                                            workdir=a.workdir), indent=2))
        return 0
    if a.recovery:
        figures = measure_recovery([int(x) for x in a.recovery.split(",")],
                                   partitions=a.partitions, workdir=a.workdir)
        print(json.dumps(figures, indent=2))
        return 0
    opts = SoakOptions(duration_s=a.duration, hosts=a.hosts, racks=a.racks,
                       interval_s=a.interval, workers=a.workers, partitions=a.partitions,
                       kill_every_s=a.kill_every, bad_per_interval=a.bad_per_interval,
                       seed=a.seed, bootstrap=a.bootstrap, workdir=a.workdir)
    report = run_soak(opts)
    text = json.dumps(asdict(report), indent=2)
    print(text)
    if a.json:
        a.json.write_text(text + "\n")
    ok = report.balanced and not report.alerts["problems"] and report.lag["drain_s"] is not None
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
