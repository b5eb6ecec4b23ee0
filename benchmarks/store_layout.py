"""Store layout: "one host" and "one metric across the fleet" on a store of >= 10M rows,
before and after migration 0015 (a projection of `metrics` ordered by name, ts, host),
and what the projection adds to each insert.

A fresh embedded store at the schema before 0015 is filled with `--rows` samples (hosts
x series x 10-second steps, in time order, through `metrics`' views as the sink writes
them), merged to one part per day as an old store would be; then each query runs
`--runs` times (rows and marks read from the engine's own counters, median wall time),
and inserts of `--insert-rows` new samples are timed (CPU of the process: the engine
runs in it; background merges stopped meanwhile). Migration 0015 is then applied as a
sink applies it at start, its materialisation awaited, and the same queries (same
answers, checked) and inserts measured again; last, the projection's own cost: the
same rows into copies of `metrics` without views, with and without it, alternating.
Run in a process of its own (the embedded engine is one per process):

    python -m benchmarks.store_layout [--rows 10000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common.config import ClickHouseConfig, Config, SinkConfig
from sinks.connection import Connection
from sinks.ddl import load_migrations
from sinks.migrations import apply_migrations
from sinks.settings import StoreSettings
from sinks.store import Store, _client

__all__ = ["QUERIES", "main"]

STEP_S = 10
VERSION = 15  # the migration measured
# 20 series per host: 8 GPUs' temperature and power, and four host-level metrics.
SERIES = ([("gpu.temperature", {"gpu": str(g)}) for g in range(8)] +
          [("gpu.power", {"gpu": str(g)}) for g in range(8)] +
          [("cpu.usage", {}), ("mem.used", {}), ("disk.used", {"mount": "/"}),
           ("net.rx_bytes", {"interface": "eth0"})])

# {host}: the fleet's middle host; {mid}: three hours into the filled data; {end}: its
# end (epoch seconds; the timed inserts write later times: the answers stay the same).
QUERIES = {
    "one host, every series, 1 hour":
        "SELECT name, labels, round(avg(value), 4), max(value), count() FROM {db}.metrics "
        "WHERE host = '{host}' AND ts >= toDateTime64({mid}, 3) AND "
        "ts < toDateTime64({mid} + 3600, 3) GROUP BY name, labels ORDER BY name, labels",
    "one host, one metric, 1 hour":
        "SELECT labels['gpu'] AS gpu, round(avg(value), 4), count() FROM {db}.metrics "
        "WHERE host = '{host}' AND name = 'gpu.temperature' AND ts >= toDateTime64({mid}, 3) "
        "AND ts < toDateTime64({mid} + 3600, 3) GROUP BY gpu ORDER BY gpu",
    "one metric across the fleet, 5 minutes":
        "SELECT host, labels['gpu'] AS gpu, round(avg(value), 4), max(value) "
        "FROM {db}.metrics WHERE name = 'gpu.temperature' AND ts >= toDateTime64({mid}, 3) "
        "AND ts < toDateTime64({mid} + 300, 3) GROUP BY host, gpu ORDER BY host, gpu",
    "one metric across the fleet, 1 hour (docs: top hosts by p95)":
        "SELECT host, any(rack) AS rack, round(quantile(0.95)(value), 3) AS p95, "
        "round(avg(value), 3), count() FROM {db}.metrics WHERE name = 'cpu.usage' "
        "AND ts >= toDateTime64({mid}, 3) AND ts < toDateTime64({mid} + 3600, 3) "
        "GROUP BY host ORDER BY p95 DESC, host LIMIT 10",
    "one metric across the fleet, all of it":
        "SELECT host, max(value), count() FROM {db}.metrics WHERE name = 'mem.used' "
        "AND ts < toDateTime64({end}, 3) GROUP BY host ORDER BY host",
}


def _fill_sql(db: str, hosts: int, first: int, n: int, t0: int, table: str = "metrics") -> str:
    """Samples `first`..`first + n` of the synthetic fleet, in time order: each 10-second
    step holds every series of every host; values are deterministic per sample."""
    names = "[" + ",".join(f"'{nm}'" for nm, _ in SERIES) + "]"
    labels = "[" + ",".join("map(" + ",".join(f"'{k}','{v}'" for k, v in
                                               {"rack": "", **lab}.items()) + ")"
                            for _, lab in SERIES) + "]"
    s = len(SERIES)
    return (f"INSERT INTO {db}.{table} (host, ts, name, labels, rack, value, raw, ewma, wma, "
            "outlier, seq) SELECT host, ts, name, mapUpdate(lab, map('rack', rack)), rack, v, "
            "v, v, v, false, step FROM (SELECT number AS i, "
            f"intDiv(i, {hosts * s}) AS step, intDiv(i % {hosts * s}, {s}) AS h, "
            f"(i % {s}) + 1 AS k, concat('h', toString(h)) AS host, "
            f"concat('r', toString(h % 20)) AS rack, "
            f"toDateTime64({t0} + step * {STEP_S}, 3) AS ts, "
            f"arrayElement({names}, k) AS name, arrayElement({labels}, k) AS lab, "
            f"(cityHash64(i) % 100000) / 1000.0 AS v "
            f"FROM numbers({first}, {n}))")


def _wait_mutations(store: Store, db: str) -> float:
    t = time.perf_counter()
    while store.scalar("SELECT count() FROM system.mutations WHERE database = {d:String} "
                       "AND NOT is_done", {"d": db}):
        time.sleep(0.5)
    return time.perf_counter() - t


_EVENTS = ("SELECT event, value FROM system.events WHERE event IN "
           "('SelectedRows', 'SelectedMarks')")


def _events(store: Store) -> dict[str, int]:
    return {str(k): int(v) for k, v in store.rows(_EVENTS)}


def _read(store: Store, sql: str) -> tuple[float, int, int, list[list[str]]]:
    """Wall seconds, rows and marks the query read from tables (the engine's own
    counters: it runs in this process; the counters' own read is taken out), result."""
    a = _events(store)
    b = _events(store)
    w = time.perf_counter()
    rows = store.rows(sql)
    wall = time.perf_counter() - w
    c = _events(store)
    over = b.get("SelectedRows", 0) - a.get("SelectedRows", 0)
    read = c.get("SelectedRows", 0) - b.get("SelectedRows", 0) - over
    marks = c.get("SelectedMarks", 0) - b.get("SelectedMarks", 0)
    return wall, read, marks, [list(map(str, r)) for r in rows]


def _queries(store: Store, db: str, t0: int, end: int, hosts: int, runs: int
             ) -> dict[str, dict[str, Any]]:
    mid, host = t0 + 3 * 3600, f"h{hosts // 2}"
    out: dict[str, dict[str, Any]] = {}
    for label, sql in QUERIES.items():
        q = sql.format(db=db, mid=mid, end=end, host=host)
        got = [_read(store, q) for _ in range(runs)]
        out[label] = {"read_rows": statistics.median(g[1] for g in got),
                      "marks": statistics.median(g[2] for g in got),
                      "ms": round(statistics.median(g[0] for g in got) * 1000, 2),
                      "result": got[-1][3]}
    return out


def _timed(store: Store, sql: str, n: int) -> float:
    """CPU of the process (the engine's threads included) per row of one insert, with
    background merges stopped, so that merges of earlier inserts are not counted."""
    store.command("SYSTEM STOP MERGES")
    try:
        c = time.process_time()
        store.command(sql)
        return (time.process_time() - c) / n * 1e6
    finally:
        store.command("SYSTEM START MERGES")


def _inserts(store: Store, db: str, hosts: int, first: int, n: int, t0: int,
             repeats: int) -> dict[str, Any]:
    """CPU per stored row of `repeats` inserts of `n` new samples each into `metrics`
    (its views and, after the migration, its projection)."""
    cpu = [_timed(store, _fill_sql(db, hosts, first + k * n, n, t0), n)
           for k in range(repeats)]
    return {"cpu_us_per_row": round(statistics.median(cpu), 3),
            "cpu_us_each": [round(x, 3) for x in cpu]}


def _projection_alone(store: Store, db: str, hosts: int, n: int, t0: int,
                      repeats: int) -> dict[str, Any]:
    """The projection's own cost: the same rows into two copies of `metrics` without
    views, one without the projection, alternating."""
    store.command(f"CREATE TABLE {db}.ab_plain AS {db}.metrics")
    store.command(f"ALTER TABLE {db}.ab_plain DROP PROJECTION IF EXISTS by_name")
    store.command(f"CREATE TABLE {db}.ab_proj AS {db}.metrics")
    out: dict[str, list[float]] = {"ab_plain": [], "ab_proj": []}
    for k in range(repeats):
        for table in out:
            out[table].append(_timed(store, _fill_sql(db, hosts, k * n, n, t0, table), n))
    return {"plain_us_per_row": round(statistics.median(out["ab_plain"]), 3),
            "projection_us_per_row": round(statistics.median(out["ab_proj"]), 3),
            "each": {t: [round(x, 3) for x in v] for t, v in out.items()}}


def _bytes(store: Store, db: str) -> dict[str, int]:
    """Bytes and rows of `metrics`' active parts, and of its projection's parts."""
    d = {"d": db}
    size, rows = store.rows("SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE "
                            "database = {d:String} AND table = 'metrics' AND active", d)[0]
    proj = store.scalar("SELECT sum(bytes_on_disk) FROM system.projection_parts WHERE "
                        "database = {d:String} AND table = 'metrics' AND active", d)
    return {"bytes": int(size), "rows": int(rows), "projection_bytes": int(proj or 0)}


def measure(rows: int, hosts: int, runs: int, insert_rows: int, repeats: int,
            chunk: int) -> dict[str, Any]:
    t0 = (int(time.time()) // 86400 - 1) * 86400  # yesterday 00:00 UTC: one daily part
    per_step = hosts * len(SERIES)
    if rows // per_step * STEP_S < 4 * 3600 or rows // per_step * STEP_S > 86400 - 3600 * 4:
        raise SystemExit("--rows / --hosts: the data must span 4 to 20 hours of one day")
    with tempfile.TemporaryDirectory(prefix="rackwatch-layout-") as tmp:
        cfg = Config(home=Path(tmp), sink=SinkConfig(serve_port=0),
                     clickhouse=ClickHouseConfig(dsn=f"chdb://{tmp}/store", database="b"))
        settings = StoreSettings.from_config(cfg)
        migs = load_migrations()
        dsn = Connection.of(cfg)
        with Store(_client(dsn, None), dsn, settings) as store:
            apply_migrations(store, settings, [m for m in migs if m.version < VERSION])
            store.client.database = settings.database
            c, w = time.process_time(), time.perf_counter()
            for first in range(0, rows, chunk):
                store.command(_fill_sql("b", hosts, first, min(chunk, rows - first), t0))
            fill = {"cpu_s": time.process_time() - c, "wall_s": time.perf_counter() - w}
            store.command("OPTIMIZE TABLE b.metrics FINAL")
            # inserts go after the filled range (new times), the queries' range unchanged
            extra = (rows // per_step + 1) * per_step
            end = t0 + extra // per_step * STEP_S
            out: dict[str, Any] = {"rows": rows, "hosts": hosts, "series": len(SERIES),
                                   "fill": fill}
            out["before"] = {"queries": _queries(store, "b", t0, end, hosts, runs),
                             "size": _bytes(store, "b"),
                             "insert": _inserts(store, "b", hosts, extra, insert_rows, t0,
                                                repeats)}
            store.command("OPTIMIZE TABLE b.metrics FINAL")
            c, w = time.process_time(), time.perf_counter()
            applied = apply_migrations(store, settings, migs)
            wait = _wait_mutations(store, "b")
            out["migration"] = {"applied": applied, "cpu_s": time.process_time() - c,
                                "wall_s": time.perf_counter() - w, "mutation_wait_s": wait}
            out["after"] = {"queries": _queries(store, "b", t0, end, hosts, runs),
                            "size": _bytes(store, "b"),
                            "insert": _inserts(store, "b", hosts,
                                               extra + repeats * insert_rows, insert_rows,
                                               t0, repeats),
                            "projection_alone": _projection_alone(store, "b", hosts,
                                                                  insert_rows, t0, repeats)}
            for label in QUERIES:
                before, after = out["before"]["queries"][label], out["after"]["queries"][label]
                if before.pop("result") != after.pop("result"):
                    raise SystemExit(f"{label}: the answer changed with the projection")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--hosts", type=int, default=250)
    ap.add_argument("--runs", type=int, default=5, help="runs of each query")
    ap.add_argument("--insert-rows", type=int, default=200_000,
                    help="rows per timed insert (a round of the sink is 10^4-10^5)")
    ap.add_argument("--repeats", type=int, default=5, help="timed inserts before and after")
    ap.add_argument("--chunk", type=int, default=1_000_000, help="rows per insert when filling")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    out = measure(args.rows, args.hosts, args.runs, args.insert_rows, args.repeats, args.chunk)
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
