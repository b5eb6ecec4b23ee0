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


# ---------------------------------------------------------------- the handling record
RULE_OF = {"CpuHot": "ops", "GpuXid": "gpu-oncall", "ServingLatencyHigh": "ml-serving"}


class Episode:
    """One firing episode of an alert, and what was done about it (times in ms)."""

    def __init__(self, fp: str, rule: str, rack: str, host: str, started: int) -> None:
        self.fp, self.rule, self.rack, self.host, self.started = fp, rule, rack, host, started
        self.assignee = RULE_OF[rule]
        self.acks: list[int] = []
        self.resolves: list[tuple[int, str]] = []  # (at, by)
        self.escalations: list[int] = []

    @property
    def first_ack(self) -> int | None:
        return min(self.acks) if self.acks else None

    @property
    def first_resolve(self) -> int | None:
        return min(at for at, _ in self.resolves) if self.resolves else None


def handling_record(now_ms: int, seed: int = 17) -> tuple[list[Episode], list[dict[str, Any]]]:
    """Episodes of 12 alerts over the last six days, and their actions as the topic has
    them: people's acknowledgements and resolutions name only the fingerprint, some
    alerts fire again, rackwatch's own actions come twice now and then (re-sends), and an
    episode from before the window must not count."""
    import random

    from streams.core.timefmt import ms_to_rfc3339
    from streams.handling.actions import make_action

    rnd = random.Random(seed)
    episodes: list[Episode] = []
    actions: list[dict[str, Any]] = []
    rules, racks = sorted(RULE_OF), ["r01", "r02", "r07"]

    def own(kind: str, e: Episode, at: int, **kw: Any) -> None:
        a = make_action(kind, e.fp, "rackwatch", at, "", ident=(e.started, kind, at),
                        starts_at=ms_to_rfc3339(e.started), rule=e.rule, host=e.host, **kw)
        actions.extend([a, a] if rnd.random() < 0.3 else [a])

    for i in range(12):
        fp = f"{i:016x}"
        rule, rack = rules[i % 3], racks[(i // 3) % 3]
        host = f"{rack}-h{i:02d}"
        t = now_ms - 6 * 86_400_000 + rnd.randrange(0, 3_600_000)
        for n in range(rnd.randint(1, 4)):
            e = Episode(fp, rule, rack, host, t - t % 1000)
            episodes.append(e)
            own("assigned", e, e.started, assignee=e.assignee, priority="P2",
                labels={"rack": rack, "alertname": rule})
            last = n == 3 or rnd.random() < 0.25
            if rnd.random() < 0.6:
                e.acks.append(e.started + rnd.randrange(30, 3_600) * 1000)
                if rnd.random() < 0.3:
                    e.acks.append(e.acks[0] + 600_000)
            for k in range(rnd.randint(0, 2)):
                e.escalations.append(e.started + (k + 1) * 900_000)
                own("escalated", e, e.escalations[-1], level=k + 1, assignee=e.assignee)
            end = max([e.started + 60_000, *e.acks, *e.escalations])
            if not last or rnd.random() < 0.5:
                if rnd.random() < 0.5:
                    e.resolves.append((end + rnd.randrange(60, 7_200) * 1000, "alice"))
                e.resolves.append((end + rnd.randrange(7_200, 9_000) * 1000, "rackwatch"))
            for at in e.acks:
                actions.append(make_action("acknowledged", fp, "bob", at, "on it"))
            for at, by in e.resolves:
                if by == "rackwatch":
                    own("resolved", e, at)
                else:
                    actions.append(make_action("resolved", fp, by, at, "fixed"))
            if last or not e.resolves:
                break
            t = max(at for at, _ in e.resolves) + rnd.randrange(600, 40_000) * 1000
    old = Episode("ffffffffffffffff", "CpuHot", "r01", "r01-h99", now_ms - 9 * 86_400_000)
    own("assigned", old, old.started, assignee="ops", priority="P2", labels={"rack": "r01"})
    actions.append(make_action("acknowledged", old.fp, "bob", old.started + 5_000))
    return episodes, actions


_STORES: dict[int, Store] = {}


def _store_of(episodes: list[Episode]) -> Store:
    return _STORES[id(episodes)]


@pytest.fixture(scope="module")
def handled(loaded: Store) -> list[Episode]:
    """The sample store with a handling record in alert_actions (some rows twice)."""
    from sinks.rows import ACTION_COLUMNS, Limits, action_row

    episodes, actions = handling_record(_now_ms())
    lim = Limits()
    for i in range(0, len(actions), 25):
        rows = [action_row(a, lim) for a in actions[i:i + 25]]
        loaded.insert_rows("alert_actions", rows, ACTION_COLUMNS, f"handling-{i}")
    _STORES[id(episodes)] = loaded
    return episodes


def _mean_min(values: list[float]) -> float | None:
    return round(sum(values) / len(values) / 60, 2) if values else None


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

    def test_mtta_mttr(self, handled: list[Episode]) -> None:
        """Episodes, acknowledgements and mean times by owner, rule and rack, as counted
        by hand from the record (re-sent rows once; the old episode left out)."""
        loaded = _store_of(handled)
        rows = run(loaded, "mtta_mttr")
        got = {(r["by"], r["value"]): r for r in rows}
        for dim in ("assignee", "rule", "rack"):
            groups: dict[str, list[Episode]] = defaultdict(list)
            for e in handled:
                groups[getattr(e, dim)].append(e)
            for value, eps in groups.items():
                row = got.pop((dim, value))
                acks = [(e.first_ack - e.started) / 1000 for e in eps if e.first_ack]
                res = [(e.first_resolve - e.started) / 1000 for e in eps if e.first_resolve]
                assert row["episodes"] == len(eps), (dim, value)
                assert row["acknowledged"] == len(acks) and row["resolved"] == len(res)
                for key, want in (("mtta_min", _mean_min(acks)), ("mttr_min", _mean_min(res))):
                    if want is None:
                        assert row[key] != row[key] or row[key] == 0  # nan: none to average
                    else:
                        assert row[key] == pytest.approx(want, abs=0.011), (dim, value, key)
        assert not got, f"groups nobody has: {sorted(got)}"

    def test_noisiest_rules(self, handled: list[Episode]) -> None:
        """Episodes, alerts, escalations and the acknowledged share per rule."""
        rows = run(_store_of(handled), "noisiest_rules")
        for row in rows:
            eps = [e for e in handled if e.rule == row["rule"]]
            fps = {e.fp for e in eps}
            acked = {e.fp for e in eps if e.acks}
            assert row["episodes"] == len(eps)
            assert row["alerts"] == len(fps)
            assert row["escalations"] == sum(len(e.escalations) for e in eps)
            assert row["acked_share"] == pytest.approx(round(len(acked) / len(fps), 2))
        assert {r["rule"] for r in rows} == {e.rule for e in handled}
        assert [r["episodes"] for r in rows] == sorted((r["episodes"] for r in rows),
                                                       reverse=True)

    def test_never_acknowledged(self, handled: list[Episode]) -> None:
        """Exactly the episodes without an acknowledgement, with their end and escalations."""
        rows = run(_store_of(handled), "never_acknowledged")
        want = {(e.fp, e.started): e for e in handled if not e.acks}
        assert len(rows) == len(want)
        for row in rows:
            e = want[(row["fingerprint"], _ms(row["started"]))]
            assert row["assignee"] == e.assignee and row["escalations"] == len(e.escalations)
            end = e.first_resolve
            assert (None if row["resolved_at"] is None else _ms(row["resolved_at"])) == end


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
