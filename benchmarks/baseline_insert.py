"""Baseline for the store: the same samples as pre-built columns, one insert each into a
fresh embedded ClickHouse MergeTree (the `metrics` table's columns, codecs and order,
no views, no projection), and, for reference, into `metrics` itself with its rollup views
and its projection.

Only the inserts are timed (building the columns in Python is not): CPU of the whole
process (the engine's threads included) and wall time. Run in a process of its own,
since the embedded engine is one per process:

    python -m benchmarks.baseline_insert MESSAGES.jsonl   # metrics/v1 batches, one a line
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from common.config import ClickHouseConfig, Config, SinkConfig
from sinks.rows import METRIC_COLUMNS
from sinks.store import Store, open_store

__all__ = ["columns_of", "main"]


def columns_of(batches: list[dict[str, Any]]) -> list[list[Any]]:
    """The stored rows of metrics/v1 batches as `metrics` columns (a sample's labels over
    the batch's, its value as value, raw and smoothed values alike)."""
    cols: list[list[Any]] = [[] for _ in METRIC_COLUMNS]
    host, ts, name, labels, rack, value, raw, ewma, wma, outlier, seq = cols
    for b in batches:
        top = b.get("labels") or {}
        for s in b["samples"]:
            lab = {**top, **s["labels"]} if s.get("labels") else top
            v = float(s["value"])
            host.append(b["host"])
            ts.append(b["ts"])
            name.append(s["name"])
            labels.append(lab)
            rack.append(lab.get("rack", ""))
            value.append(v)
            raw.append(v)
            ewma.append(v)
            wma.append(math.nan)
            outlier.append(False)
            seq.append(b["seq"])
    return cols


def _timed_insert(store: Store, table: str, cols: list[list[Any]]) -> dict[str, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    store.insert_columns(table, cols, METRIC_COLUMNS, f"baseline-{table}")
    return {"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    batches = [orjson.loads(line) for line in Path(args[0]).read_bytes().splitlines() if line]
    cols = columns_of(batches)
    rows = len(cols[0])
    with tempfile.TemporaryDirectory(prefix="rackwatch-baseline-") as tmp:
        cfg = Config(home=Path(tmp), sink=SinkConfig(serve_port=0),
                     clickhouse=ClickHouseConfig(dsn=f"chdb://{tmp}/store", database="b"))
        with open_store(cfg) as store:
            store.command("CREATE TABLE b.plain AS b.metrics")
            store.command("CREATE TABLE b.warm AS b.metrics")
            for t in ("plain", "warm"):  # a plain table: no projection either (0015)
                store.command(f"ALTER TABLE b.{t} DROP PROJECTION IF EXISTS by_name")
            _timed_insert(store, "warm", [c[:1000] for c in cols])  # first-use costs
            plain = _timed_insert(store, "plain", cols)
            views = _timed_insert(store, "metrics", cols)
            assert store.scalar("SELECT count() FROM b.plain") == rows
    print(orjson.dumps({"rows": rows, "plain": plain, "with_rollups": views}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
