"""metrics_1m / metrics_1h against a hand computation over the same samples, one row per
series (host, name and every label) and bucket."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime

import orjson

from sinks.batch import Batcher
from sinks.rows import table_specs
from sinks.store import Store
from sinks.writer import BatchWriter
from tests.support.samples import Fleet

Key = tuple[str, str, tuple[tuple[str, str], ...], int]  # host, name, labels, bucket (epoch s)
Stats = tuple[int, float, float, float, list[float]]  # count, min, max, mean, quantiles


def _load(store: Store, fleet: Fleet) -> None:
    b = Batcher(table_specs(), batch_rows=3000, batch_interval_s=1.0)
    for off, i in enumerate(range(0, len(fleet.metrics), 40)):
        b.add("processed.metrics", 0, off, None, orjson.dumps(fleet.metrics[i:i + 40]), 0.0)
    BatchWriter(store).write_all(b.drain())


def _by_hand(fleet: Fleet, bucket_s: int) -> dict[Key, list[float]]:
    groups: dict[Key, list[float]] = defaultdict(list)
    for r in fleet.metrics:
        start = r["ts"] // 1000 // bucket_s * bucket_s
        groups[(r["host"], r["name"], tuple(sorted(r["labels"].items())), start)].append(
            r["value"])
    return groups


def _from_store(store: Store, table: str) -> dict[Key, Stats]:
    rows = store.rows(
        f"SELECT host, name, labels, ts, sum(samples), min(min_value), max(max_value), "
        f"sum(sum_value) / sum(samples), "
        f"quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(quantiles) "
        f"FROM {table} GROUP BY host, name, labels, ts")
    out = {}
    for host, name, labels, ts, n, lo, hi, avg, qs in rows:
        epoch = int(ts.replace(tzinfo=UTC).timestamp()) if isinstance(ts, datetime) else int(ts)
        out[(host, name, tuple(sorted(labels.items())), epoch)] = (int(n), lo, hi, avg,
                                                                   list(qs))
    return out


class TestRollups:
    def test_minute_and_hour_rollups_match_hand_computation(self, store: Store,
                                                           fleet: Fleet) -> None:
        """Count, min, max and mean per series (host, metric, labels) and bucket are exact
        in both rollups; the fleet's GPUs are series of their own."""
        _load(store, fleet)
        for table, bucket in (("metrics_1m", 60), ("metrics_1h", 3600)):
            want = _by_hand(fleet, bucket)
            got = _from_store(store, table)
            assert set(got) == set(want), table
            gpus = {dict(k[2]).get("gpu") for k in got if k[1].startswith("gpu.")}
            assert len(gpus - {None}) >= 2, table  # the GPUs of a host did not merge
            for key, values in want.items():
                n, lo, hi, avg, _ = got[key]
                assert n == len(values)
                assert lo == min(values) and hi == max(values)
                assert abs(avg - statistics.fmean(values)) < 1e-9

    def test_quantiles_are_close_to_exact(self, store: Store, fleet: Fleet) -> None:
        """The t-digest p50/p95 of an hour are within a few ranks of the exact ones: the
        share of samples at or below each estimate is within 5 points of its target."""
        _load(store, fleet)
        want = _by_hand(fleet, 3600)
        got = _from_store(store, "metrics_1h")
        checked = 0
        for key, values in want.items():
            if len(values) < 20:
                continue
            qs = got[key][4]
            for estimate, target in ((qs[0], 0.50), (qs[2], 0.95)):
                share = sum(v <= estimate * (1 + 1e-6) for v in values) / len(values)
                assert abs(share - target) <= 0.05, (key, target, share)
            checked += 1
        assert checked > 10
