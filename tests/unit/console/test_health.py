"""Pipeline health from the roles' own metrics: the names they write, rates, tolerance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from console.health import RATES, Scrape, parse_prometheus, parse_sink_ping, summarise
from sinks.stats import SinkStats
from streams.rules import default_rules
from streams.runtime import Runtime
from streams.worker.stats import WorkerCollector, WorkerStats

W, S = "http://127.0.0.1:9464/metrics", "http://127.0.0.1:18123/ping"


def worker_text(records: int, samples: int, dead: dict[str, int],
                lag: dict[tuple[str, int], int]) -> str:
    """What a real worker's collector exposes with these counts."""
    rt = Runtime(default_rules())
    rt.metrics.counters.samples = samples
    rt.deadletter_reasons.update(dead)
    stats = WorkerStats(records=records, lag=dict(lag))
    reg = CollectorRegistry()
    reg.register(WorkerCollector(stats, rt, lambda: 4))
    return generate_latest(reg).decode()


def worker_scrape(at_ms: int, records: int, samples: int, dead: dict[str, int] | None = None,
                  lag: dict[tuple[str, int], int] | None = None) -> Scrape:
    text = worker_text(records, samples, dead or {}, lag or {})
    return Scrape(W, at_ms, parse_prometheus(text), kind="prometheus")


def sink_scrape(at_ms: int, rows: int, dead: int = 0) -> Scrape:
    snap = SinkStats(rows_inserted_total=rows, messages_total=rows // 10, inserts_total=rows // 100,
                     dead_letters_total=dead).snapshot()
    return Scrape(S, at_ms, parse_sink_ping({"service": "rackwatch-sink",
                                             "status": {"stats": snap}}), kind="sink")


class TestNames:
    """The console reads the names the worker and the sink really write."""

    def test_worker_counters_are_found(self) -> None:
        """Every worker rate's counter is in a real worker's exposition."""
        names = {s.name for s in worker_scrape(0, 1, 1).samples}
        for metric in RATES.values():
            if metric.startswith("rackwatch_worker_"):
                assert metric in names, metric

    def test_sink_counters_are_found(self) -> None:
        """Every sink rate's counter comes from the sink's own stats fields."""
        names = {s.name for s in sink_scrape(0, 100).samples}
        for metric in RATES.values():
            if metric.startswith("rackwatch_sink_"):
                assert metric in names, metric

    def test_ping_without_stats(self) -> None:
        """A /ping without status (an older sink) gives no samples, not an error."""
        assert parse_sink_ping({"service": "rackwatch-sink"}) == []


class TestSummary:
    """Rates from two scrapes, lag per partition, dead letters by reason."""

    def test_rates(self) -> None:
        """Counter deltas over the scrape interval, summed over endpoints."""
        prev = {W: worker_scrape(0, 100, 10_000), S: sink_scrape(0, 5_000)}
        cur = [worker_scrape(2_000, 140, 16_000), sink_scrape(2_000, 11_000)]
        r = summarise(prev, cur)["rates"]
        assert (r["events_in"], r["samples_in"], r["sink_rows"]) == (20.0, 3000.0, 3000.0)
        assert r["log_records_in"] == 0.0

    def test_first_scrape_has_no_rates(self) -> None:
        """One scrape alone gives counts but no rates (None, shown as unknown)."""
        summary = summarise({}, [worker_scrape(0, 100, 10_000)])
        assert set(summary["rates"].values()) == {None}

    def test_restart_gives_no_negative_rate(self) -> None:
        """A counter that went down (the process restarted) gives no rate that interval."""
        r = summarise({W: worker_scrape(0, 500, 9_000)}, [worker_scrape(2_000, 10, 100)])["rates"]
        assert r["events_in"] is None

    def test_absent_endpoint_is_reported_not_summed(self) -> None:
        """An endpoint that did not answer is down, and the others still count."""
        prev = {W: worker_scrape(0, 100, 0)}
        cur = [worker_scrape(1_000, 150, 0), Scrape(S, 1_000, error="ConnectionRefused")]
        out = summarise(prev, cur)
        assert out["rates"]["events_in"] == 50.0 and out["rates"]["sink_rows"] is None
        assert [(e["url"], e["up"]) for e in out["endpoints"]] == [(W, True), (S, False)]

    def test_lag_and_dead_letters(self) -> None:
        """Lag per partition as the worker reports it; dead letters by reason with rates."""
        prev = {W: worker_scrape(0, 0, 0, {"bad_json": 3})}
        cur = [worker_scrape(1_000, 0, 0, {"bad_json": 5, "too_large": 1},
                             {("rackwatch.metrics", 1): 7, ("rackwatch.metrics", 0): 2})]
        out = summarise(prev, cur)
        assert [(x["partition"], x["lag"]) for x in out["lag"]] == [(0, 2), (1, 7)]
        assert out["lag_total"] == 9
        dead = {d["reason"]: (d["count"], d["per_s"]) for d in out["dead_letters"]}
        assert dead == {"bad_json": (5, 2.0), "too_large": (1, 1.0)}
