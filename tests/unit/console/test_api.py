"""Every API against a real store holding the sample fleet: hand-computed answers, schemas."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from console.api import Api
from console.hub import Hub
from console.live import bootstrap, refresh_inventory
from console.params import ParamError
from console.queries import ALERT_PERIODS, Query
from console.settings import ConsoleSettings
from console.state import FleetState
from streams.rules import default_rules
from tests.support.samples import (
    FAULTY_GPU,
    FAULTY_HOST,
    FLAPPING_RULE,
    HOT_CPU_HOST,
    MINUTE,
    Fleet,
)
from tests.unit.console.apischema import validate
from tests.unit.console.conftest import StoreReader

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def api(reader: StoreReader, fleet: Fleet) -> Api:
    """The handlers over the store, the clock at the fleet's `now`, the picture loaded."""
    settings = ConsoleSettings(gpu_metric="gpu.temperature")
    hub = Hub(FleetState(settings.group_labels, int(settings.fade_s * 1000)))
    clock = lambda: fleet.now_ms / 1000  # noqa: E731
    a = Api(hub, reader, default_rules(), settings, clock, {"version": "test"})
    run(bootstrap(reader, hub, settings, clock))
    run(refresh_inventory(reader, hub, settings, clock))
    return a


class TestLivePicture:
    """The bootstrap and inventory fill the picture the live APIs show."""

    def test_bootstrap_keeps_what_is_active(self, api: Api) -> None:
        """Only the firing GPU alert and the open incident: resolutions long ago are not news."""
        alerts = run(api.alerts({}))
        validate(alerts, "alerts")
        assert [(a["rule"], a["host"], a["status"]) for a in alerts["alerts"]] == [
            ("GpuXidError", FAULTY_HOST, "firing")]
        incidents = run(api.incidents({}))
        validate(incidents, "incidents")
        assert [i["incident_id"] for i in incidents["incidents"]] == ["inc-0001"]

    def test_fleet(self, api: Api, fleet: Fleet) -> None:
        """Twelve hosts in three racks; the faulty host critical; its live GPU listed."""
        doc = run(api.fleet({}))
        validate(doc, "fleet")
        assert [g["group"] for g in doc["groups"]] == ["r01", "r02", "r03"]
        hosts = {h["host"]: h for g in doc["groups"] for h in g["hosts"]}
        assert sorted(hosts) == sorted(fleet.hosts)
        assert hosts[FAULTY_HOST]["worst"] == "critical"
        assert hosts[FAULTY_HOST]["gpus"] == ["0"]  # GPU 1 fell off the bus 10 minutes ago
        assert hosts["r01-h01"]["gpus"] == ["0", "1"]
        assert doc["counts"] == {"hosts": 12, "critical": 1, "warning": 0, "info": 0}

    def test_filters_are_validated(self, api: Api) -> None:
        """A bad filter value is a ParamError (HTTP 400), not an empty answer."""
        with pytest.raises(ParamError):
            run(api.alerts({"severity": "fatal"}))
        assert run(api.alerts({"rack": "r01"}))["alerts"] == []


class TestHostPage:
    """The host page's APIs read the store with hand-checkable answers."""

    def test_host(self, api: Api) -> None:
        """Its metrics in the range, its active alert and incident, a metric to chart."""
        doc = run(api.host(FAULTY_HOST, {"range": "1h"}))
        validate(doc, "host")
        assert [m["name"] for m in doc["metrics"]] == ["cpu.usage", "gpu.temperature", "mem.usage"]
        assert doc["suggested_metric"] == "gpu.temperature"
        assert [i["incident_id"] for i in doc["incidents"]] == ["inc-0001"]
        assert doc["group"] == "r03"

    def test_series(self, api: Api, fleet: Fleet) -> None:
        """One series per GPU; the faulty GPU climbs to ~85 and stops at the fault."""
        doc = run(api.series(FAULTY_HOST, {"metric": "gpu.temperature", "range": "1h"}))
        validate(doc, "series")
        assert [s["key"] for s in doc["series"]] == ["gpu=0", f"gpu={FAULTY_GPU}"]
        gpu0, gpu1 = doc["series"]
        assert doc["step_ms"] == 5_000 and len(gpu0["ts"]) == 120  # a sample per 30 s
        sampled = {m["ts"] for m in fleet.metrics
                   if m["host"] == FAULTY_HOST and m["name"] == "gpu.temperature"}
        assert set(gpu0["ts"]) <= sampled  # points sit at the samples' own times
        assert max(t for t in gpu1["ts"]) < fleet.fault_ms
        assert 80 < max(v for v in gpu1["raw"] if v is not None) < 87
        assert all(s == r for s, r in zip(gpu1["smoothed"], gpu1["raw"], strict=True))
        assert [(x["rule"], x["threshold"], x["clear"]) for x in doc["lines"]] == [
            ("GpuTooHot", 85.0, 80.0)]

    def test_alert_periods(self, reader: StoreReader, fleet: Fleet) -> None:
        """Episodes overlapping the range, with their ends: two of the flapping four."""
        now = fleet.now_ms
        rows = run(reader.rows(Query("alert_periods", ALERT_PERIODS, {
            "host": HOT_CPU_HOST, "rules": [FLAPPING_RULE], "from": now - 40 * MINUTE,
            "to": now, "since": now - 86_400_000})))
        assert [(r["start_ms"], r["end_ms"]) for r in rows] == [
            (now - 35 * MINUTE, now - 31 * MINUTE), (now - 25 * MINUTE, now - 20 * MINUTE)]

    def test_logs_and_history(self, api: Api) -> None:
        """Fault lines only by default; the history has the alert and the incident."""
        faults = run(api.host_logs(FAULTY_HOST, {"range": "1h"}))
        validate(faults, "host_logs")
        assert [x["fault_class"] for x in faults["lines"]] == ["gpu_xid_79"]
        every = run(api.host_logs(FAULTY_HOST, {"range": "1h", "lines": "all"}))
        assert len(every["lines"]) == 2
        hist = run(api.host_history(FAULTY_HOST, {}))
        validate(hist, "host_history")
        assert [(a["rule"], a["status"]) for a in hist["alerts"]] == [("GpuXidError", "firing")]
        assert [i["suspect"] for i in hist["incidents"]] == [f"{FAULTY_HOST}/gpu{FAULTY_GPU}"]

    @pytest.mark.parametrize(("host", "q"), [
        ("r03-h02'--", {}), (FAULTY_HOST, {"metric": "gpu temperature"}),
        (FAULTY_HOST, {"metric": "gpu.temperature", "range": "1y"})])
    def test_bad_parameters(self, api: Api, host: str, q: dict[str, str]) -> None:
        """Malformed hosts, metrics and ranges never reach the store."""
        with pytest.raises(ParamError):
            run(api.series(host, q))


class TestLogs:
    """Templates by count and by novelty; a template's lines."""

    def test_by_count(self, api: Api) -> None:
        """Over the last hour: the session line on 12 hosts, then the XID once."""
        doc = run(api.log_templates({"range": "1h"}))
        validate(doc, "log_templates")
        assert [(t["template_id"], t["lines"], t["hosts"]) for t in doc["templates"]] == [
            ("t-info", 12, 12), ("t-xid", 1, 1)]

    def test_by_novelty(self, api: Api) -> None:
        """Over 24 h against the week before: the XID, seen before, is less novel."""
        doc = run(api.log_templates({"range": "24h", "order": "novelty"}))
        validate(doc, "log_templates")
        got = [(t["template_id"], t["lines"], t["before"], round(t["novelty"], 3))
               for t in doc["templates"]]
        # the range [now - 24 h, now) holds today's XID and the two of exactly a day ago;
        # the week before it, the one of two days ago: (3 / 24) / (3 / 24 + 1 / 168) = 0.955
        assert got == [("t-info", 12, 0, 1.0), ("t-xid", 3, 1, 0.955)]

    def test_lines(self, api: Api) -> None:
        """The XID template's lines: three in the last 24 h, four over the week, newest first."""
        day = run(api.log_lines({"template_id": "t-xid", "range": "24h"}))
        validate(day, "log_lines")
        hosts = [x["host"] for x in day["lines"]]
        assert hosts[0] == FAULTY_HOST and sorted(hosts[1:]) == ["r01-h01", "r01-h02"]
        week = run(api.log_lines({"template_id": "t-xid", "range": "7d"}))
        assert [x["host"] for x in week["lines"]][::3] == [FAULTY_HOST, "r01-h01"]
        assert len(week["lines"]) == 4
        assert run(api.log_lines({"template_id": "t-xid", "range": "7d",
                                  "host": "r01-h02"}))["lines"][0]["host"] == "r01-h02"
