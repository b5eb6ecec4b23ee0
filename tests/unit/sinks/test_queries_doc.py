"""Every query of docs/queries.md runs and gives the answer computed by hand."""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sinks.rows import rfc3339_ms
from sinks.store import Store
from tests.support.samples import FAULTY_GPU, FAULTY_HOST, FLAPPING_RULE, HOT_CPU_HOST, Fleet
from tests.unit.sinks.helpers import fill

DOC = Path(__file__).resolve().parents[3] / "docs" / "queries.md"
_QUERY = re.compile(r"<!-- query: (\w+) -->\s*```sql\n(.*?)```", re.DOTALL)
HOUR_MS = 3_600_000

Rows = list[dict[str, Any]]


def documented_queries() -> dict[str, str]:
    return dict(_QUERY.findall(DOC.read_text()))


@pytest.fixture(scope="module")
def loaded(base_store: Store, fleet: Fleet) -> Iterator[Store]:
    """The package store holding the sample fleet, in every table."""
    from sinks.settings import TABLES
    for table in TABLES:
        base_store.command(f"TRUNCATE TABLE rackwatch.{table}")
    fill(base_store, fleet)
    yield base_store
    for table in TABLES:
        base_store.command(f"TRUNCATE TABLE rackwatch.{table}")


def run(store: Store, qid: str) -> Rows:
    result = store.query(documented_queries()[qid])
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def _ms(value: datetime) -> int:
    return int(value.replace(tzinfo=value.tzinfo or UTC).timestamp() * 1000)


def _now_ms() -> int:
    return int(time.time() * 1000)


class TestDocumentedQueries:
    def test_every_documented_query_has_a_check_here(self) -> None:
        """A query added to the docs without a check in this file fails this test."""
        checks = {name[len("test_"):] for name in dir(self) if name.startswith("test_")}
        missing = set(documented_queries()) - checks
        assert documented_queries(), "no queries found in docs/queries.md"
        assert not missing, f"documented queries without a test: {sorted(missing)}"

    def test_top_hosts_p95_cpu(self, loaded: Store, fleet: Fleet) -> None:
        """The hot host leads, and each p95 matches the exact p95 of its last hour."""
        rows = run(loaded, "top_hosts_p95_cpu")
        assert rows[0]["host"] == HOT_CPU_HOST
        assert len(rows) == 10
        since = _now_ms() - HOUR_MS
        by_host: dict[str, list[float]] = defaultdict(list)
        for r in fleet.metrics:
            if r["name"] == "cpu.usage" and r["ts"] >= since:
                by_host[r["host"]].append(r["value"])
        for row in rows:
            exact = statistics.quantiles(by_host[row["host"]], n=20, method="inclusive")[18]
            assert abs(row["p95_cpu"] - exact) < 0.01, row
        assert [r["p95_cpu"] for r in rows] == sorted((r["p95_cpu"] for r in rows),
                                                      reverse=True)

    def test_top_hosts_p95_cpu_rollup(self, loaded: Store, fleet: Fleet) -> None:
        """From the rollup, the same host leads and the sample counts are exact."""
        rows = run(loaded, "top_hosts_p95_cpu_rollup")
        assert rows[0]["host"] == HOT_CPU_HOST
        counts = Counter(r["host"] for r in fleet.metrics if r["name"] == "cpu.usage")
        for row in rows:
            assert row["samples"] == counts[row["host"]]

    def test_gpu_temperature_per_gpu_rollup(self, loaded: Store, fleet: Fleet) -> None:
        """Each GPU of the faulty host has its own rows: max, mean and count per GPU and
        ten minutes equal those of its own samples, by hand."""
        rows = run(loaded, "gpu_temperature_per_gpu_rollup")
        since = (_now_ms() // 60_000 * 60_000) - 2 * HOUR_MS
        want: dict[tuple[str, int], list[float]] = defaultdict(list)
        for r in fleet.metrics:
            if (r["host"] == FAULTY_HOST and r["name"] == "gpu.temperature"
                    and r["ts"] // 60_000 * 60_000 >= since):
                want[(r["labels"]["gpu"], r["ts"] // 600_000 * 600_000)].append(r["value"])
        got = {(r["gpu"], _ms(r["t"])): r for r in rows}
        assert set(got) == set(want)
        assert len({gpu for gpu, _ in got}) == 2
        for key, values in want.items():
            assert got[key]["n"] == len(values)
            assert got[key]["max_temp"] == pytest.approx(round(max(values), 2), abs=0.006)
            assert got[key]["avg_temp"] == pytest.approx(statistics.fmean(values), abs=0.006)

    def test_rack_cpu_10m(self, loaded: Store, fleet: Fleet) -> None:
        """Per rack and ten-minute bucket, mean and max equal the hand computation."""
        rows = run(loaded, "rack_cpu_10m")
        groups: dict[tuple[int, str], list[float]] = defaultdict(list)
        for r in fleet.metrics:
            if r["name"] == "cpu.usage":
                groups[(r["ts"] // 600_000 * 600_000, r["labels"]["rack"])].append(r["value"])
        got = {(_ms(r["t"]), r["rack"]): r for r in rows}
        # the oldest bucket may be cut by the two-hour window; the fleet spans 90 minutes
        assert set(got) == set(groups)
        for key, values in groups.items():
            assert got[key]["avg_cpu"] == pytest.approx(statistics.fmean(values), abs=1e-4)
            assert got[key]["max_cpu"] == pytest.approx(max(values), abs=1e-4)

    def test_gpu_xids_per_rack_per_day(self, loaded: Store, fleet: Fleet) -> None:
        """XID counts per (day, rack, class) equal a count over the sample logs."""
        rows = run(loaded, "gpu_xids_per_rack_per_day")
        want: Counter[tuple[str, str, str]] = Counter()
        for r in fleet.logs:
            if (r["fault_class"] or "").startswith("gpu_xid_"):
                day = datetime.fromtimestamp(r["ts"] / 1000, UTC).date().isoformat()
                want[(day, r["labels"]["rack"], r["fault_class"] or "")] += 1
        got = {(r["day"].isoformat(), r["rack"], r["fault_class"]): r["xids"] for r in rows}
        assert got == dict(want)
        assert rows[0]["day"] >= rows[-1]["day"]

    def test_gpu_temperature_trend_before_fault(self, loaded: Store, fleet: Fleet) -> None:
        """Only the GPU that heated up before its XID 79 is found, at about 1 °C/min."""
        rows = run(loaded, "gpu_temperature_trend_before_fault")
        assert [(r["host"], r["gpu"], r["fault_class"]) for r in rows] == [
            (FAULTY_HOST, FAULTY_GPU, "gpu_xid_79")]
        assert rows[0]["c_per_min"] == pytest.approx(1.0, abs=0.15)
        assert _ms(rows[0]["fault_ts"]) == fleet.fault_ms
        assert rows[0]["temp_last"] > rows[0]["temp_before"] + 20

    def test_alerts_by_rule(self, loaded: Store, fleet: Fleet) -> None:
        """Episodes, resolutions and mean/max time to resolve per rule, by hand."""
        rows = {r["rule"]: r for r in run(loaded, "alerts_by_rule")}
        episodes: dict[str, dict[tuple[str, str], int | None]] = defaultdict(dict)
        for a in fleet.alerts:
            key = (a["fingerprint"], a["starts_at"])
            ends = a["ends_at"]
            took = None if ends is None else (rfc3339_ms(ends) - rfc3339_ms(a["starts_at"]))
            episodes[a["rule"]][key] = took if took is not None else \
                episodes[a["rule"]].get(key)
        assert set(rows) == set(episodes)
        for rule, eps in episodes.items():
            done = [v for v in eps.values() if v is not None]
            row = rows[rule]
            assert row["episodes"] == len(eps)
            assert row["resolved"] == len(done)
            assert row["still_firing"] == len(eps) - len(done)
            if done:
                assert row["avg_min_to_resolve"] == pytest.approx(
                    statistics.fmean(done) / 60_000, abs=0.01)
                assert row["max_min_to_resolve"] == pytest.approx(max(done) / 60_000, abs=0.01)
            else:
                assert row["avg_min_to_resolve"] is None  # NULL when nothing resolved

    def test_flapping_rules(self, loaded: Store, fleet: Fleet) -> None:
        """The rule that fired four times in the hour is flapping; nothing else is."""
        rows = run(loaded, "flapping_rules")
        assert [(r["rule"], r["host"], r["episodes"]) for r in rows] == [
            (FLAPPING_RULE, HOT_CPU_HOST, 4)]

    def test_firing_now(self, loaded: Store, fleet: Fleet) -> None:
        """Only alerts whose latest change is 'firing' are listed."""
        latest: dict[str, tuple[str, str]] = {}
        for a in sorted(fleet.alerts, key=lambda a: rfc3339_ms(a["updated_at"])):
            latest[a["fingerprint"]] = (a["status"], a["rule"])
        want = sorted(fp for fp, (status, _) in latest.items() if status == "firing")
        rows = run(loaded, "firing_now")
        assert sorted(r["fingerprint"] for r in rows) == want
        assert rows[0]["severity"] == "critical"

    def test_error_lines_per_minute(self, loaded: Store, fleet: Fleet) -> None:
        """Lines and error lines per host and minute, by hand over the sample logs."""
        rows = run(loaded, "error_lines_per_minute")
        since = _now_ms() - 24 * HOUR_MS
        lines: Counter[tuple[str, int]] = Counter()
        errors: Counter[tuple[str, int]] = Counter()
        for r in fleet.logs:
            if r["ts"] < since:
                continue
            key = (r["host"], r["ts"] // 60_000 * 60_000)
            lines[key] += 1
            if r["severity"] in ("emergency", "alert", "critical", "error"):
                errors[key] += 1
        assert errors, "the sample fleet logs no errors: the check would be empty"
        got = {(r["host"], _ms(r["minute"])): (r["lines"], r["errors"]) for r in rows}
        assert got == {k: (lines[k], n) for k, n in errors.items()}
        assert all(r["errors_per_s"] == round(r["errors"] / 60, 3) for r in rows)

    def test_deadletter_reasons(self, loaded: Store, fleet: Fleet) -> None:
        """Dead letters are counted per reason and source topic."""
        rows = run(loaded, "deadletter_reasons")
        want = Counter((d["reason_code"], d["source_topic"]) for d in fleet.deadletters)
        assert {(r["reason_code"], r["source_topic"]): r["rejected"] for r in rows} == want
        assert {r["origin"] for r in rows} == {"stream"}


class TestShortWindows:
    def test_gpu_temperature_trend_over_a_demo_length_lead(self, store: Store) -> None:
        """A GPU heating for 40 s before its XID (a demo's lead, 2 s samples): the slope is
        found. Over raw epoch seconds the regression lost its precision and gave NULL."""
        from tests.support.samples import _log, _metric

        now = _now_ms() - 60_000
        fault = now - now % 1000
        fleet = Fleet(now_ms=now, hosts=["d01-h01"], racks={"d01-h01": "d01"}, fault_ms=fault)
        fleet.metrics = [_metric("d01-h01", "d01", fault - 40_000 + 2_000 * i, i,
                                 "gpu.temperature", 60.0 + 0.5 * i, {"gpu": "3"})
                         for i in range(20)]
        fleet.logs = [_log("d01-h01", "d01", fault, 1, "NVRM: Xid (PCI:0000:9a:00): 79, pid=0, "
                           "GPU has fallen off the bus.", "gpu_xid_79", severity="error")]
        fill(store, fleet)
        rows = run(store, "gpu_temperature_trend_before_fault")
        assert [(r["host"], r["gpu"]) for r in rows] == [("d01-h01", "3")]
        assert rows[0]["c_per_min"] == pytest.approx(15.0, abs=0.01)
