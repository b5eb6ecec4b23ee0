"""Sustained sink throughput against single bulk inserts, measured in the same run.

Two ceilings, each one insert of all the rows into the same engine (views included):
- `bulk messages`: every message in one insert into its ingest table, the very path
  the sink uses (ClickHouse parses, validates and routes the records);
- `bulk columns`: the rows already decoded and pivoted in Python, one Native insert
  straight into `metrics` (no parsing, no validation): the engine's raw capacity.
The sink figure is the real batcher and writer as the sink runs them: messages cut into
per-partition batches on one thread while the writer thread stores the previous ones
(journal, insert with the batch's dedup token, dead-letter lookup). With `--bootstrap`,
a further figure goes through Kafka: messages produced to a topic, then consumed and
stored by the sink service, timed from its start to the last row stored.

Each figure is the median of `--repeats` runs on a fresh database, with its spread.

    python -m benchmarks.sink                      # 200k rows as blocks, batches of 5000
    python -m benchmarks.sink --form rows          # the same as arrays of metric rows
    python -m benchmarks.sink --rows 500000 --batch-rows 20000 --partitions 4
    python -m benchmarks.sink --bootstrap 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from common.config import ClickHouseConfig, Config, KafkaConfig, SinkConfig
from sinks.batch import Batcher
from sinks.rows import INGEST_COLUMNS, METRIC_COLUMNS, Limits, metric_row, table_specs
from sinks.store import Store, open_store
from sinks.writer import BatchWriter
from streams.core.block import MetricBlock
from tests.support.samples import metric_rows

__all__ = ["main"]

TOPIC = "processed.metrics"


def _fresh(cfg: Config) -> Config:
    db = f"bench_{uuid.uuid4().hex[:8]}"
    return Config(home=cfg.home, kafka=cfg.kafka, sink=cfg.sink,
                  clickhouse=ClickHouseConfig(dsn=cfg.clickhouse.dsn, database=db))


def _drop(store: Store) -> None:
    store.command(f"DROP DATABASE IF EXISTS {store.database} SYNC")


def bulk_columns(cfg: Config, rows: list[dict[str, Any]]) -> float:
    """Rows per second of one Native insert of prepared columns into `metrics`."""
    lim = Limits()
    columns = [list(c) for c in zip(*(metric_row(r, lim) for r in rows), strict=True)]
    with open_store(_fresh(cfg)) as store:
        t0 = time.perf_counter()
        store.insert_columns("metrics", columns, METRIC_COLUMNS, "bulk")
        elapsed = time.perf_counter() - t0
        assert store.scalar("SELECT count() FROM metrics") == len(rows)
        _drop(store)
    return len(rows) / elapsed


def block_messages(n_rows: int, per: int, partitions: int, now_ms: int, seed: int = 0
                   ) -> tuple[list[tuple[int, bytes]], list[dict[str, Any]]]:
    """The worker's form: one metric block per host batch of `per` rows (100 hosts, 10 s
    apart, a GPU label on a quarter of the series); returns the messages and the rows
    they stand for."""
    rng = random.Random(seed)
    names = [f"bench.m{j}" for j in range(per)]
    series = [{"gpu": str(j % 8)} if j % 4 == 3 else {} for j in range(per)]
    n_msgs = n_rows // per
    messages: list[tuple[int, bytes]] = []
    rows: list[dict[str, Any]] = []
    for k in range(n_msgs):
        h = k % 100
        values = [rng.random() for _ in range(per)]
        block = MetricBlock(f"r{h // 10:02d}-h{h % 10:02d}",
                            now_ms - (n_msgs - k) // 100 * 10_000, k // 100,
                            {"rack": f"r{h // 10:02d}", "cluster": "c1"}, names, series,
                            values, values, values, values, [False] * per)
        messages.append((k % partitions, block.to_json()))
        rows.extend(dict(r) for r in block.rows())
    return messages, rows


def bulk_messages(cfg: Config, messages: list[tuple[int, bytes]], n_rows: int,
                  table: str = "metrics_ingest") -> float:
    """Rows per second of one insert of all the messages into the ingest table."""
    docs = [v.decode() for _, v in messages]
    n = len(docs)
    columns: list[list[Any]] = [[TOPIC] * n, [p for p, _ in messages], list(range(n)),
                                [""] * n, docs]
    with open_store(_fresh(cfg)) as store:
        t0 = time.perf_counter()
        store.insert_columns(table, columns, INGEST_COLUMNS, "bulk")
        elapsed = time.perf_counter() - t0
        assert store.scalar("SELECT count() FROM metrics") == n_rows
        _drop(store)
    return n_rows / elapsed


def sink_path(cfg: Config, messages: list[tuple[int, bytes]], n_rows: int,
              batch_rows: int) -> float:
    """Rows per second through the batcher and the writer thread, overlapped."""
    specs = {TOPIC: table_specs()[TOPIC]}
    with open_store(_fresh(cfg)) as store, ThreadPoolExecutor(1) as pool:
        batcher = Batcher(specs, batch_rows=batch_rows, batch_interval_s=1.0)
        writer = BatchWriter(store)
        inflight: Future[Any] | None = None
        offsets: dict[int, int] = {}
        t0 = time.perf_counter()
        for partition, value in messages:
            off = offsets.get(partition, 0)
            offsets[partition] = off + 1
            batcher.add(TOPIC, partition, off, None, value, time.monotonic())
            if inflight is None or inflight.done():
                if inflight is not None:
                    inflight.result()
                due = batcher.due(time.monotonic())
                inflight = pool.submit(writer.write_all, due) if due else None
        if inflight is not None:
            inflight.result()
        writer.write_all(batcher.drain())
        elapsed = time.perf_counter() - t0
        assert store.scalar("SELECT count() FROM metrics") == n_rows
        _drop(store)
    return n_rows / elapsed


def through_kafka(cfg: Config, messages: list[tuple[int, bytes]], n_rows: int) -> float:
    """Rows per second of the sink service consuming a pre-filled topic."""
    from aiokafka import AIOKafkaProducer

    from common.topics import ensure_topics
    from sinks.service import SinkService
    from sinks.settings import SinkSettings

    run_cfg = _fresh(cfg)
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    run_cfg = Config(home=run_cfg.home, sink=run_cfg.sink, clickhouse=run_cfg.clickhouse,
                     kafka=KafkaConfig(bootstrap=cfg.kafka.bootstrap, topic_prefix=prefix,
                                       partitions=cfg.kafka.partitions))

    async def scenario() -> float:
        await ensure_topics(run_cfg, ("processed.metrics", "processed.logs", "alerts",
                                      "incidents", "deadletter"))
        producer = AIOKafkaProducer(bootstrap_servers=run_cfg.bootstrap, acks="all",
                                    linger_ms=20, max_batch_size=1 << 20,
                                    max_request_size=8 << 20)
        await producer.start()
        try:
            futs = [await producer.send(run_cfg.topic(TOPIC), v, partition=p)
                    for p, v in messages]
            await asyncio.gather(*futs)
        finally:
            await producer.stop()
        store = open_store(run_cfg)
        settings = SinkSettings.from_config(run_cfg)
        service = SinkService(run_cfg, store, settings=dataclasses.replace(
            settings, group_id=f"{prefix}sink"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        for _ in range(120_000):  # group join and first fetch are not throughput
            if service.stats.messages_total or task.done():
                break
            await asyncio.sleep(0.001)
        t0 = time.perf_counter()
        try:
            while service.stats.rows_inserted_total < n_rows:
                if task.done():
                    task.result()
                    raise RuntimeError("sink stopped early")
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - t0
        finally:
            stop.set()
            await task
        assert store.scalar("SELECT count() FROM metrics") == n_rows
        _drop(store)
        store.close()
        return n_rows / elapsed

    return asyncio.run(scenario())


def _summary(values: list[float]) -> dict[str, Any]:
    med = statistics.median(values)
    spread = (max(values) - min(values)) / med if med else 0.0
    return {"median": med, "spread": spread, "runs": values}


def _rounds(figures: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Run every figure once per round, rounds in a row: on a shared machine, the load
    drifts between rounds more than within one, so ratios are taken per round."""
    runs: dict[str, list[float]] = {name: [] for name in figures}
    for _ in range(repeats):
        for name, fn in figures.items():
            runs[name].append(fn())
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--rows-per-message", type=int, default=100)
    p.add_argument("--form", choices=("blocks", "rows"), default="blocks",
                   help="messages as the worker sends them (metric blocks, default) or "
                        "as arrays of metric_row/v1 records")
    p.add_argument("--batch-rows", type=int, default=SinkConfig().batch_rows)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--bootstrap", help="also measure through Kafka on this broker")
    p.add_argument("--store", help="chDB directory (default: a temporary one)")
    args = p.parse_args(argv)

    now = int(time.time() * 1000)
    per = args.rows_per_message
    if args.form == "blocks":
        messages, rows = block_messages(args.rows, per, args.partitions, now)
        ingest = "metric_blocks_ingest"
    else:
        rows = [dict(r) for r in metric_rows(args.rows, now_ms=now)]
        messages = [(i // per % args.partitions, orjson.dumps(rows[i:i + per]))
                    for i in range(0, len(rows), per)]
        ingest = "metrics_ingest"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store_dir = Path(args.store) if args.store else home / "store"
        cfg = Config(home=home, clickhouse=ClickHouseConfig(dsn=f"chdb://{store_dir}"),
                     kafka=KafkaConfig(bootstrap=args.bootstrap or "",
                                       partitions=args.partitions),
                     sink=SinkConfig(batch_rows=args.batch_rows, serve_port=0))
        with open_store(cfg):  # warm the engine once, outside every measurement
            pass
        print(f"sink benchmark: {len(rows):,} metric rows in {len(messages):,} messages "
              f"({args.form}), "
              f"{args.partitions} partitions, batches of {args.batch_rows:,} rows",
              file=sys.stderr)
        result: dict[str, Any] = {"rows": len(rows), "form": args.form,
                                  "batch_rows": args.batch_rows,
                                  "partitions": args.partitions}
        figures: dict[str, Callable[[], float]] = {
            "bulk_messages": lambda: bulk_messages(cfg, messages, len(rows), ingest),
            "bulk_columns": lambda: bulk_columns(cfg, rows),
            "sink_writer": lambda: sink_path(cfg, messages, len(rows), args.batch_rows),
        }
        if args.bootstrap:
            figures["sink_kafka"] = lambda: through_kafka(cfg, messages, len(rows))
        runs = _rounds(figures, args.repeats)
        for name, values in runs.items():
            result[name] = _summary(values)
            print(f"  {name:<14} median {result[name]['median']:>10,.0f} rows/s  spread "
                  f"{result[name]['spread']:5.1%}  runs "
                  f"{', '.join(f'{v:,.0f}' for v in values)}", file=sys.stderr)
        for fig in [f for f in runs if f.startswith("sink_")]:
            for ceil in ("bulk_messages", "bulk_columns"):
                ratios = [a / b for a, b in zip(runs[fig], runs[ceil], strict=True)]
                result[f"{fig}/{ceil}"] = _summary(ratios)
                print(f"  {fig} / {ceil}: median of per-round ratios "
                      f"{statistics.median(ratios):.2f} (runs "
                      f"{', '.join(f'{r:.2f}' for r in ratios)})", file=sys.stderr)
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
