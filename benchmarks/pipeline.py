"""Pipeline benchmarks through a real local Kafka broker: R1, R2, R6, R7 and memory.

Every figure is a ratio against a baseline measured in the same run on the same broker,
because absolute rates on a shared 2-core machine mean little:

- R1 end to end: samples/s from `metrics` to rows in ClickHouse (worker + sink, alerts
  published, offsets committed) over raw aiokafka getmany + orjson.loads of the same
  messages.
- R2: our worker over a naive faust agent that handles one sample per message with
  the same processing core.
- R6: p50/p99 from a sample's event time to its alert on the alerts topic, at 70 % of
  the worker's sustained rate on that same workload (measured first, from a backlog),
  over the p99 produce-to-consume round trip.
- R7: two workers over one on the same input (the broker's CPU reported beside it).
- memory: worker RSS holding the state of many hosts.

    python -m benchmarks.pipeline [--quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.costs import CpuSnapshot, per_million, process_cpu, sink_parts
from common.broker import LocalBroker, free_port
from common.config import BrokerConfig, load_config
from common.topics import ensure_topics

__all__ = ["main"]

PARTITIONS = 6
IDLE_S = 3.0  # the idle measurement before a timed run
LATENCY_RULES = """
groups:
  - name: bench
    rules:
      - alert: BenchHot
        kind: threshold
        metric: bench.value
        above: 0.5
        clear: 0.5
        labels: {severity: info}
        annotations: {summary: "bench {{ $value }}"}
"""


def _batches(hosts: int, per_host: int, samples: int, t0: int) -> list[tuple[bytes, bytes]]:
    """Realistic batches from the fleet simulator, re-timed to `t0` (event time near now)."""
    from producers.simulator import Fleet, SimOptions

    fleet = Fleet(SimOptions(hosts=hosts, batches=per_host, interval_s=1.0, seed=11,
                             background_logs=False, start_ms=t0))
    out = []
    for ev in fleet.events():
        batch: dict[str, Any] = dict(ev)
        if batch["schema"] != "rackwatch.metrics/v1":
            continue
        batch["samples"] = batch["samples"][:samples]
        out.append((batch["host"].encode(), orjson.dumps(batch)))
    return out


class Env:
    """A broker and a fresh topic prefix / state directory per measurement."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.broker = LocalBroker(BrokerConfig(port=free_port(), controller_port=free_port(),
                                               heap="768m"), root / "kafka")
        self.n = 0

    def start(self) -> None:
        self.broker.start()

    def stop(self) -> None:
        self.broker.stop()

    def fresh(self, **toml: str) -> tuple[Path, dict[str, str]]:
        self.n += 1
        home = self.root / f"run{self.n}"
        home.mkdir()
        cfg = [f"[kafka]\npartitions = {PARTITIONS}\n",
               f"[sink]\nserve_port = {free_port()}\n"]
        cfg += [f"[{k}]\n{v}\n" for k, v in toml.items()]
        (home / "rackwatch.toml").write_text("".join(cfg))
        env = {**os.environ, "RACKWATCH_HOME": str(home),
               "RACKWATCH_KAFKA_BOOTSTRAP": self.broker.bootstrap,
               "RACKWATCH_TOPIC_PREFIX": f"b{self.n}."}
        asyncio.run(ensure_topics(load_config(home / "rackwatch.toml", env=env)))
        return home, env


def _start(env: dict[str, str], home: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = open(home / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen([sys.executable, "-m", "rackwatch.cli", *args], env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return proc


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def _produce(bootstrap: str, topic: str, msgs: list[tuple[bytes, bytes]],
                   rate: float | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=1 << 20)
    await producer.start()
    try:
        t0 = time.monotonic()
        futs = []
        for i, (k, v) in enumerate(msgs):
            if rate:
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            futs.append(await producer.send(topic, v, key=k))
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


async def _raw_consume(bootstrap: str, topic: str, n: int) -> float:
    """Baseline: aiokafka getmany + orjson.loads of n messages; returns seconds."""
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)
    await c.start()
    try:
        seen = 0
        t0 = 0.0
        while seen < n:
            got = await c.getmany(timeout_ms=1000, max_records=10_000)
            for msgs in got.values():
                if not t0:
                    t0 = time.perf_counter()
                for m in msgs:
                    orjson.loads(m.value)
                seen += len(msgs)
        return time.perf_counter() - t0
    finally:
        await c.stop()


class Watch:
    """One consumer and one admin client for polling end offsets and group lag."""

    def __init__(self, bootstrap: str) -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)

    async def __aenter__(self) -> Watch:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def _tps(self, topic: str) -> list[Any]:
        from aiokafka import TopicPartition

        await self.consumer._client.force_metadata_update()
        parts = self.consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in parts]

    async def end(self, topic: str) -> int:
        tps = await self._tps(topic)
        return sum((await self.consumer.end_offsets(tps)).values()) if tps else 0

    async def lag(self, group: str, topic: str) -> int:
        tps = await self._tps(topic)
        if not tps:
            return 1
        ends = await self.consumer.end_offsets(tps)
        committed = await self.admin.list_consumer_group_offsets(group, partitions=tps)
        return sum(ends[tp] - max(0, committed[tp].offset if tp in committed else 0)
                   for tp in tps)


def _count_rows(env: dict[str, str], sql: str) -> int:
    res = subprocess.run([sys.executable, "-m", "rackwatch.cli", "query", "--format", "jsonl",
                          sql], env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return -1
    line = res.stdout.strip().splitlines()
    return int(next(iter(orjson.loads(line[0]).values()))) if line else 0


def _sink_group(env: dict[str, str]) -> str:
    from sinks.settings import SinkSettings

    cfg = load_config(Path(env["RACKWATCH_HOME"]) / "rackwatch.toml", env=env)
    return SinkSettings.from_config(cfg).group_id


def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _time_pipeline(bootstrap: str, prefix: str, sink_group: str,
                         procs: list[subprocess.Popen[bytes]], home: Path, broker_pid: int,
                         timeout_s: float) -> tuple[float, float]:
    """From the first processed message to the moment the workers have committed all
    input and the sink all processed rows (it commits only after the insert succeeded).
    Polled in-process, so measuring costs the 2 cores next to nothing."""
    async with Watch(bootstrap) as w:
        while await w.end(prefix + "processed.metrics") == 0:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"worker died: {(home / 'worker0.log').read_text()[-2000:]}")
            await asyncio.sleep(0.05)
        t_first = time.perf_counter()
        cpu0 = _proc_cpu(broker_pid)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            wl = await w.lag(prefix + "worker", prefix + "metrics")
            sl = await w.lag(sink_group, prefix + "processed.metrics")
            if os.environ.get("BENCH_DEBUG"):
                print(f"{time.perf_counter() - t_first:6.2f}s worker lag {wl} sink lag {sl}",
                      file=sys.stderr)
            if wl == 0 and sl == 0:
                break
        return time.perf_counter() - t_first, _proc_cpu(broker_pid) - cpu0


def _ping(port: int) -> dict[str, Any]:
    """The sink's /ping status (its counters and the ids of its threads)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as r:
        status: dict[str, Any] = orjson.loads(r.read()).get("status", {})
        return status


async def _wait_groups(bootstrap: str, members: dict[str, int], timeout_s: float = 120) -> None:
    """Until each consumer group is Stable with (at least) its number of members."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ok = True
            for group, n in members.items():
                try:
                    g = (await admin.describe_consumer_groups([group]))[0].groups[0]
                except Exception:
                    ok = False
                    break
                if g[2] != "Stable" or len(g[5]) < n:
                    ok = False
                    break
            if ok:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"consumer groups not stable within {timeout_s}s: {members}")
    finally:
        await admin.close()


def _sink_port(home: Path, env: dict[str, str]) -> int:
    return load_config(home / "rackwatch.toml", env=env).sink.serve_port


# --compare: the worker as it was before batch parts and staged states (issue 19)
WHOLE_BATCHES = "batch_max_ms = 0\nstate_interval_ms = 0"


def end_to_end(e: Env, msgs: list[tuple[bytes, bytes]], samples: int, workers: int = 1,
               timeout_s: float = 300, worker_toml: str = "") -> dict[str, Any]:
    """The sink and the workers started and settled first (groups stable), then the
    backlog produced at full speed; timed from the first processed message to the last
    stored row. CPU is counted per process (and per part of the sink) from just before
    the backlog to the end, and the same messages are then read by a plain consumer
    (the broker's CPU counted for both). `worker_toml`: the workers' `[worker]` settings."""
    home, env = e.fresh(**({"worker": worker_toml} if worker_toml else {}))
    prefix = env["RACKWATCH_TOPIC_PREFIX"]
    bootstrap = e.broker.bootstrap
    broker_pid = e.broker.status().pid or 0
    asyncio.run(ensure_topics(load_config(home / "rackwatch.toml", env=env), ("scratch",)))
    b0 = process_cpu(broker_pid)
    asyncio.run(_produce(bootstrap, prefix + "scratch", msgs))
    broker_input = process_cpu(broker_pid) - b0
    sink = _start(env, home, "sink", "sink")
    procs = [_start(env, home, f"worker{i}", "worker") for i in range(workers)]
    port = _sink_port(home, env)
    try:
        asyncio.run(_wait_groups(bootstrap, {_sink_group(env): 1, prefix + "worker": workers}))
        time.sleep(2.0)  # first ticks, table recovery: let the settling finish
        pids = {"broker": broker_pid, "sink": sink.pid,
                **{f"worker{i}": p.pid for i, p in enumerate(procs)}}
        idle0 = CpuSnapshot.take(pids)
        time.sleep(IDLE_S)  # what each process spends per second with nothing to do
        idle = CpuSnapshot.take(pids).since(idle0)
        before_status = _ping(port)
        before = CpuSnapshot.take(pids, {"sink": before_status.get("threads", {})})
        asyncio.run(_produce(bootstrap, prefix + "metrics", msgs))
        dt, _ = asyncio.run(_time_pipeline(bootstrap, prefix, _sink_group(env), procs,
                                           home, broker_pid, timeout_s))
        after_status = _ping(port)
        spent = CpuSnapshot.take(pids, {"sink": after_status.get("threads", {})}).since(before)
    finally:
        _stop(*procs, sink)
    stored = _count_rows(env, "SELECT count() FROM metrics")
    if stored < samples:
        raise RuntimeError(f"only {stored} of {samples} rows stored within {timeout_s}s")
    store_cpu = (after_status.get("stats", {}).get("store_cpu_s", 0.0)
                 - before_status.get("stats", {}).get("store_cpu_s", 0.0))
    cpu = {"broker": spent.total["broker"] - broker_input, "broker_input": broker_input,
           "worker": sum(v for k, v in spent.total.items() if k.startswith("worker")),
           "sink": spent.total["sink"], **sink_parts(spent, "sink", store_cpu)}
    inserts = (after_status.get("stats", {}).get("inserts_total", 0)
               - before_status.get("stats", {}).get("inserts_total", 0))
    b0, c0 = process_cpu(broker_pid), time.process_time()
    raw_s = asyncio.run(_raw_consume(bootstrap, prefix + "metrics", len(msgs)))
    raw_cpu = {"plain_consumer": time.process_time() - c0,
               "broker_plain_consumer": process_cpu(broker_pid) - b0}
    idle_rate = {"broker": idle.total["broker"] / IDLE_S, "sink": idle.total["sink"] / IDLE_S,
                 "worker": sum(v for k, v in idle.total.items() if k.startswith("worker"))
                 / IDLE_S}
    return {"pipeline_sps": samples / dt, "raw_sps": samples / raw_s, "seconds": dt,
            "idle_cpu_per_s": idle_rate,
            "broker_cpu_share": cpu["broker"] / dt, "samples": samples, "inserts": inserts,
            "cpu_s_per_m": per_million({**cpu, **raw_cpu}, samples),
            "sink_threads_s": {**spent.parts.get("sink", {}), "store_cpu_s": store_cpu},
            "worker_cpu_s_per_m": per_million(
                {k: v for k, v in spent.total.items() if k.startswith("worker")}, samples)}


def baseline_insert(e: Env, msgs: list[tuple[bytes, bytes]], samples: int) -> dict[str, Any]:
    """The plain columnar insert of the same samples (benchmarks.baseline_insert)."""
    path = e.root / "baseline-messages.jsonl"
    path.write_bytes(b"\n".join(v for _, v in msgs))
    res = subprocess.run([sys.executable, "-m", "benchmarks.baseline_insert", str(path)],
                         capture_output=True, text=True, check=True, timeout=600)
    out: dict[str, Any] = orjson.loads(res.stdout.strip().splitlines()[-1])
    rows = out["rows"]
    return {"rows": rows, "plain_cpu_s_per_m": out["plain"]["cpu_s"] * 1e6 / rows,
            "plain_rows_per_s": rows / out["plain"]["wall_s"],
            "rollups_cpu_s_per_m": out["with_rollups"]["cpu_s"] * 1e6 / rows,
            "rollups_rows_per_s": rows / out["with_rollups"]["wall_s"]}


NAIVE = '''
import os, sys, time, orjson, faust
from streams.core.metrics import MetricsCore
from streams.rules import default_rules, RuleEngine
bootstrap, topic = os.environ["NAIVE_BOOTSTRAP"], os.environ["NAIVE_TOPIC"]
out_topic, n = os.environ["NAIVE_OUT"], int(os.environ["NAIVE_N"])
app = faust.App("naive-" + topic, broker="kafka://" + bootstrap, store="memory://",
                datadir=os.environ["NAIVE_DATADIR"],
                value_serializer="raw", key_serializer="raw", web_enabled=False,
                consumer_auto_offset_reset="earliest", topic_partitions=6)
src = app.topic(topic, key_type=bytes, value_type=bytes)
dst = app.topic(out_topic, key_type=bytes, value_type=bytes)
state = app.Table("naive-state", default=None, key_type=bytes, value_type=bytes)
core = MetricsCore(RuleEngine(default_rules()))
seen = {"n": 0, "t0": 0.0}
@app.agent(src)
async def one_at_a_time(stream):
    async for event in stream.events():
        if not seen["t0"]:
            seen["t0"] = time.perf_counter()
        s = orjson.loads(event.value)
        raw = state.get(event.key)
        st, res = core.process(None if raw is None else orjson.loads(raw),
                               {"schema": "rackwatch.metrics/v1", "host": s["host"],
                                "ts": s["ts"], "seq": s["seq"], "labels": s["labels"],
                                "samples": [s["sample"]]})
        state[event.key] = orjson.dumps(st)
        for row in res.rows:
            await dst.send(key=event.key, value=orjson.dumps(row))
        seen["n"] += 1
        if seen["n"] >= n:
            print(f"NAIVE_SPS {n / (time.perf_counter() - seen['t0'])}", flush=True)
            os._exit(0)
app.main()
'''


def naive(e: Env, msgs: list[tuple[bytes, bytes]], limit: int) -> float:
    """Samples/s of a naive faust agent: one sample per message, one state write each."""
    _, env = e.fresh()
    prefix = env["RACKWATCH_TOPIC_PREFIX"]
    singles: list[tuple[bytes, bytes]] = []
    for key, value in msgs:
        b = orjson.loads(value)
        for i, s in enumerate(b["samples"]):
            singles.append((key, orjson.dumps({"host": b["host"], "ts": b["ts"],
                                               "seq": b["seq"] * 1000 + i,
                                               "labels": b["labels"], "sample": s})))
            if len(singles) >= limit:
                break
        if len(singles) >= limit:
            break
    cfg = load_config(Path(env["RACKWATCH_HOME"]) / "rackwatch.toml", env=env)
    asyncio.run(ensure_topics(cfg, ("naive", "naive.out")))
    asyncio.run(_produce(e.broker.bootstrap, prefix + "naive", singles))
    script = Path(e.root) / "naive_app.py"
    script.write_text(NAIVE)
    res = subprocess.run([sys.executable, str(script), "worker", "-l", "warn"],
                         capture_output=True, text=True, timeout=600, check=False,
                         cwd=str(Path(__file__).resolve().parents[1]),
                         env={**os.environ, "NAIVE_BOOTSTRAP": e.broker.bootstrap,
                              "NAIVE_TOPIC": prefix + "naive", "NAIVE_OUT": prefix + "naive.out",
                              "NAIVE_N": str(len(singles)),
                              "NAIVE_DATADIR": str(e.root / "naive-data"),
                              "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    # faust redirects stdout into its log, so the figure may come with a log prefix
    found = re.findall(r"NAIVE_SPS ([0-9.eE+-]+)", res.stdout + res.stderr)
    try:
        return float(found[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"naive agent failed: {res.stdout[-1500:]}"
                           f"{res.stderr[-1500:]}") from None


def _latency_batch(host: str, seq: int, ts: int) -> bytes:
    """One batch of the latency workload: 100 samples, the first toggling 0/1 with seq,
    so that every batch is an alert state change of its host."""
    return orjson.dumps({
        "schema": "rackwatch.metrics/v1", "host": host, "ts": ts, "seq": seq,
        "labels": {"rack": "r1"},
        "samples": [{"name": "bench.value", "value": float(seq % 2)}] +
                   [{"name": f"bench.pad{j}", "value": 1.0} for j in range(99)]})


async def _capacity(bootstrap: str, prefix: str, hosts: int, n: int,
                    worker: Callable[[], subprocess.Popen[bytes]]) -> float:
    """The worker's sustained rate on the latency workload itself (batches/s): a backlog
    of `n` alerting batches, timed from the first alert out to the n-th."""
    now = int(time.time() * 1000)
    msgs = [(f"cap-{i % hosts}".encode(), _latency_batch(f"cap-{i % hosts}", i // hosts + 1,
                                                          now + i // hosts))
            for i in range(n)]
    await _produce(bootstrap, prefix + "metrics", msgs)
    proc = worker()
    try:
        async with Watch(bootstrap) as w:
            deadline = time.monotonic() + 300
            while await w.end(prefix + "alerts") == 0:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the worker produced no alert")
                await asyncio.sleep(0.02)
            t0, first = time.perf_counter(), await w.end(prefix + "alerts")
            while (done := await w.end(prefix + "alerts")) < n:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {done} of {n} alerts within 300 s")
                await asyncio.sleep(0.02)
            return (n - first) / (time.perf_counter() - t0)
    finally:
        _stop(proc)


async def _latency(bootstrap: str, prefix: str, hosts: int, rate: float, seconds: float,
                   tag: str = "lat") -> list[float]:
    """Produce alternating values at `rate` batches/s; latency of each alert change."""
    consumer = AIOKafkaConsumer(prefix + "alerts", bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest", enable_auto_commit=False)
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    lat: list[float] = []
    stop = asyncio.Event()

    async def read() -> None:
        while not stop.is_set():
            got = await consumer.getmany(timeout_ms=200)
            now = time.time() * 1000
            for msgs in got.values():
                for m in msgs:
                    a = orjson.loads(m.value)
                    if a.get("rule") == "BenchHot":
                        from streams.core.timefmt import rfc3339_to_ms

                        lat.append(now - rfc3339_to_ms(a["updated_at"]))

    reader = asyncio.create_task(read())
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    i = 0
    seq: dict[int, int] = {}
    while time.monotonic() - t0 < seconds:
        h = i % hosts
        seq[h] = seq.get(h, 0) + 1
        host = f"{tag}-{h}"
        batch = _latency_batch(host, seq[h], int(time.time() * 1000))
        await producer.send(prefix + "metrics", batch, key=host.encode())
        i += 1
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    await producer.flush()
    await asyncio.sleep(3.0)
    stop.set()
    await reader
    await producer.stop()
    await consumer.stop()
    return lat[len(lat) // 10:]  # drop the warm-up tenth


async def _round_trip(bootstrap: str, topic: str, n: int, rate: float) -> list[float]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest", enable_auto_commit=False)
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    lat: list[float] = []
    done = asyncio.Event()

    async def read() -> None:
        while len(lat) < n:
            got = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for msgs in got.values():
                lat.extend((now - float(m.value)) * 1000 for m in msgs)
        done.set()

    reader = asyncio.create_task(read())
    await asyncio.sleep(1.0)
    for _ in range(n):
        await producer.send(topic, str(time.perf_counter()).encode(), key=b"k")
        await asyncio.sleep(1 / rate)
    await asyncio.wait_for(done.wait(), 30)
    await reader
    await producer.stop()
    await consumer.stop()
    return lat


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(q * len(s) + 0.5) - 1))]


def latency(e: Env, seconds: float, backlog: int, fraction: float = 0.7,
            also: tuple[float, ...] = (), worker_toml: str = "") -> dict[str, Any]:
    """R6: first the worker's sustained rate on this very workload (every batch an
    alert), then latency at 70 % of it, with a worker of its own; then, with the same
    worker, at each further fraction of `also` (`at`: p50/p99 per fraction).
    `worker_toml`: the workers' `[worker]` settings, e.g. WHOLE_BATCHES."""
    def fresh_worker(name: str) -> tuple[str, Callable[[], subprocess.Popen[bytes]]]:
        """A fresh prefix and state directory; their topic prefix and a worker starter."""
        home, env = e.fresh(**({"worker": worker_toml} if worker_toml else {}))
        rules = home / "bench-rules.yaml"
        rules.write_text(LATENCY_RULES)
        return env["RACKWATCH_TOPIC_PREFIX"], lambda: _start(env, home, name, "worker",
                                                             "--rules", str(rules))

    prefix, start = fresh_worker("capacity")
    sustained = asyncio.run(_capacity(e.broker.bootstrap, prefix, 200, backlog, start))
    prefix, start = fresh_worker("worker")
    worker = start()
    at: dict[str, dict[str, float]] = {}
    try:
        asyncio.run(_latency(e.broker.bootstrap, prefix, 50, 10.0, 8.0))  # warm-up / join
        rate = fraction * sustained
        lat = asyncio.run(_latency(e.broker.bootstrap, prefix, 200, rate, seconds))
        for f in also:
            more = asyncio.run(_latency(e.broker.bootstrap, prefix, 200, f * sustained,
                                        seconds, tag=f"lat{f:.2f}"))
            at[f"{f:.2f}"] = {"rate_bps": f * sustained, "p50_ms": _pct(more, 0.5),
                              "p99_ms": _pct(more, 0.99), "alerts": float(len(more))}
    finally:
        _stop(worker)
    rt = asyncio.run(_round_trip(e.broker.bootstrap, prefix + "rt", 300, 200.0))
    return {"rate_bps": rate, "sustained_bps": sustained, "p50_ms": _pct(lat, 0.5),
            "p99_ms": _pct(lat, 0.99), "rt_p99_ms": _pct(rt, 0.99), "alerts": float(len(lat)),
            "at": at}


async def _wait_output(bootstrap: str, topic: str, target: int) -> None:
    async with Watch(bootstrap) as w:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and await w.end(topic) < target:  # noqa: ASYNC110
            await asyncio.sleep(1.0)  # polling a remote offset: no local event to await


def memory(e: Env, hosts: int, series: int, per_host: int) -> dict[str, float]:
    """RSS of one worker after it has taken in the state of `hosts` hosts."""
    home, env = e.fresh()
    prefix = env["RACKWATCH_TOPIC_PREFIX"]
    t0 = int(time.time() * 1000) - per_host * 10_000
    msgs = []
    for k in range(per_host):
        for h in range(hosts):
            host = f"m{h:05d}"
            msgs.append((host.encode(), orjson.dumps({
                "schema": "rackwatch.metrics/v1", "host": host, "ts": t0 + k * 10_000,
                "seq": k + 1, "labels": {"rack": f"r{h // 40}"},
                "samples": [{"name": "cpu.core.usage", "value": 0.5,
                             "labels": {"cpu": str(j)}} for j in range(series)]})))
    asyncio.run(_produce(e.broker.bootstrap, prefix + "metrics", msgs))
    worker = _start(env, home, "worker", "worker")
    try:
        target = hosts * per_host
        asyncio.run(_wait_output(e.broker.bootstrap, prefix + "processed.metrics", target))
        time.sleep(2.0)
        with open(f"/proc/{worker.pid}/status") as f:
            rss_kb = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
    finally:
        _stop(worker)
    return {"hosts": hosts, "series": series, "rss_mib": rss_kb / 1024}


def _repeat(fn: Callable[[], dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return [fn() for _ in range(n)]


def _med(rows: list[dict[str, float]], key: str) -> tuple[float, float]:
    xs = [r[key] for r in rows]
    med = statistics.median(xs)
    spread = (max(xs) - min(xs)) / med if med else 0.0
    return med, spread


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller inputs, one repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--only", help="comma-separated subset: r1,r2,r6,r7,mem")
    ap.add_argument("--hosts", type=int, help="R1/R7 backlog: hosts (default 60; quick 40)")
    ap.add_argument("--intervals", type=int, help="R1/R7 backlog: batches per host (50; 25)")
    ap.add_argument("--fractions", default="",
                    help="R6: further fractions of capacity to measure, e.g. 0.2,0.5,0.9")
    ap.add_argument("--compare", action="store_true",
                    help="R1 and R6: also the worker with whole batches and per-batch state "
                         "writes ([worker] batch_max_ms = 0, state_interval_ms = 0), "
                         "alternating")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    only = set((args.only or "r1,r2,r6,r7,mem").split(","))
    hosts, per_host, samples = (40, 25, 100) if args.quick else (60, 50, 100)
    hosts, per_host = args.hosts or hosts, args.intervals or per_host
    results: dict[str, Any] = {}
    keep = os.environ.get("BENCH_KEEP")  # a directory: keep every run's logs there
    with tempfile.TemporaryDirectory(prefix="rackwatch-bench-") as tmp:
        e = Env(Path(keep or tmp))
        e.start()
        try:
            msgs = _batches(hosts, per_host, samples, int(time.time() * 1000) - 600_000)
            n_samples = sum(len(orjson.loads(v)["samples"]) for _, v in msgs)
            if {"r1", "r2", "r7"} & only:
                for _ in range(repeats):
                    if args.compare:
                        results.setdefault("r1_whole_batches", []).append(
                            end_to_end(e, msgs, n_samples, worker_toml=WHOLE_BATCHES))
                    results.setdefault("r1", []).append(end_to_end(e, msgs, n_samples))
                results["insert_baseline"] = _repeat(
                    lambda: baseline_insert(e, msgs, n_samples), repeats)
            if "r2" in only:
                results["r2_naive"] = [{"naive_sps": naive(e, msgs, 4000 if args.quick
                                                          else 10_000)} for _ in range(repeats)]
            if "r6" in only:
                also = tuple(float(f) for f in args.fractions.split(",") if f)
                secs, backlog = (8.0, 3000) if args.quick else (12.0, 6000)
                for _ in range(repeats):
                    if args.compare:
                        results.setdefault("r6_whole_batches", []).append(
                            latency(e, secs, backlog, also=also, worker_toml=WHOLE_BATCHES))
                    results.setdefault("r6", []).append(latency(e, secs, backlog, also=also))
            if "r7" in only:
                results["r7"] = _repeat(lambda: end_to_end(e, msgs, n_samples, workers=2),
                                        repeats)
            if "mem" in only:
                results["mem"] = [memory(e, 2000 if args.quick else 10_000, 100, 2)]
        finally:
            e.stop()
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
