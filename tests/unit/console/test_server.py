"""The console's HTTP side: read-only, guarded, errors as JSON, live events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from common.config import Config
from console.api import Api
from console.app import console_info
from console.hub import Hub
from console.queries import Query
from console.reader import StoreUnavailable
from console.server import SCHEMAS, build_app
from console.settings import ConsoleSettings
from console.state import FleetState
from streams.rules import default_rules
from tests.browser.fakes import FakeReader, alert_message
from tests.unit.console.apischema import validate

T0 = 1_800_000_000_000


class DownReader:
    """A store that never answers."""

    async def rows(self, query: Query) -> list[dict[str, Any]]:
        raise StoreUnavailable("connection refused")

    def close(self) -> None:
        pass


def make_api(reader: Any = None) -> Api:
    hub = Hub(FleetState())
    return Api(hub, reader or FakeReader(16, 0), default_rules(), ConsoleSettings(),
               lambda: T0 / 1000, console_info(Config(), ["http://127.0.0.1:1/metrics"], T0))


def serve(api: Api, test: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with TestClient(TestServer(build_app(api))) as client:
            await test(client)
    asyncio.run(main())


class TestReadOnly:
    """Only GET and HEAD; a strict policy on every answer; localhost names only."""

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
    def test_writes_are_refused(self, method: str) -> None:
        """Any other method is 405 on every path, known or not."""
        async def t(c: TestClient[Any, Any]) -> None:
            for path in ("/", "/api/alerts", "/api/nothing"):
                r = await c.request(method, path)
                assert r.status == 405, path
        serve(make_api(), t)

    def test_page_and_headers(self) -> None:
        """The page, its scripts and the policy headers."""
        async def t(c: TestClient[Any, Any]) -> None:
            r = await c.get("/")
            assert r.status == 200 and "<main" in await r.text()
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            js = await c.get("/static/js/main.js")
            assert js.status == 200 and "EventSource" in await (
                await c.get("/static/js/model.js")).text()
            api = await c.get("/api/fleet")
            assert api.headers["Cache-Control"] == "no-store"
        serve(make_api(), t)

    def test_foreign_host_header(self) -> None:
        """A request naming another host (DNS rebinding) is refused."""
        async def t(c: TestClient[Any, Any]) -> None:
            r = await c.get("/api/alerts", headers={"Host": "evil.example:8470"})
            assert r.status == 403
            ok = await c.get("/api/alerts", headers={"Host": "localhost:8470"})
            assert ok.status == 200
        serve(make_api(), t)


class TestErrors:
    """Bad parameters are 400, a store that does not answer 503, both as JSON."""

    def test_bad_parameters(self) -> None:
        """Each names the parameter."""
        async def t(c: TestClient[Any, Any]) -> None:
            for path, word in (("/api/alerts?severity=fatal", "severity"),
                               ("/api/hosts/a'b", "host"),
                               ("/api/hosts/h1/series?metric=x;y", "metric"),
                               ("/api/logs/templates?range=1y", "range")):
                r = await c.get(path)
                assert r.status == 400, path
                assert word in (await r.json())["error"]
        serve(make_api(), t)

    def test_store_down(self) -> None:
        """The store's failure is a 503 with its reason; live views still answer."""
        async def t(c: TestClient[Any, Any]) -> None:
            r = await c.get("/api/hosts/h1/logs")
            assert r.status == 503 and "connection refused" in (await r.json())["error"]
            assert (await c.get("/api/fleet")).status == 200
        serve(make_api(DownReader()), t)


class TestSchemas:
    """The schemas are served for scripts."""

    def test_listed_and_served(self) -> None:
        """Every schema file is listed and served; unknown names are 404."""
        async def t(c: TestClient[Any, Any]) -> None:
            names = (await (await c.get("/api/schemas")).json())["schemas"]
            assert sorted(names) == sorted(p.name.removesuffix(".schema.json")
                                           for p in SCHEMAS.glob("*.schema.json"))
            doc = json.loads(await (await c.get("/api/schemas/fleet")).text())
            assert doc["title"] == "GET /api/fleet"
            assert (await c.get("/api/schemas/nope")).status == 404
        serve(make_api(), t)

    def test_answers_fit(self) -> None:
        """The fake-store answers of every API fit their schemas too."""
        async def t(c: TestClient[Any, Any]) -> None:
            for path, schema in (("/api/status", "status"), ("/api/health", "health"),
                                 ("/api/hosts/r00-gpu01", "host"),
                                 ("/api/hosts/r00-gpu01/series?metric=gpu.temperature",
                                  "series"),
                                 ("/api/logs/templates?order=novelty", "log_templates")):
                validate(await (await c.get(path)).json(), schema)
        serve(make_api(), t)


async def _frame(resp: Any) -> tuple[str, dict[str, Any]]:
    """The next server-sent event: (event name, its data)."""
    event, data = "", ""
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and event:
            return event, json.loads(data)


class TestEvents:
    """/api/events: a snapshot first, then batched changes."""

    def test_snapshot_then_changes(self) -> None:
        """A page sees the picture, then one batch holding the new alerts."""
        api = make_api()
        api.hub.take_host("r01-gpu05", {"rack": "r01"}, ["3"])

        async def t(c: TestClient[Any, Any]) -> None:
            resp = await c.get("/api/events")
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            event, snap = await _frame(resp)
            assert event == "snapshot" and [h["host"] for h in snap["hosts"]] == ["r01-gpu05"]
            validate(snap, "events")
            for i in range(3):
                api.hub.take_message("alerts", alert_message(
                    "r01-gpu05", "r01", "GpuTooHot", "critical", "firing", T0 + i,
                    fingerprint=f"f{i}", gpu="3"), T0)
            api.hub.flush(T0)
            event, changes = await _frame(resp)
            assert event == "changes" and len(changes["alerts"]) == 3
            assert changes["alerts"][0]["group"] == "r01"
            validate(changes, "events")
            resp.close()
        serve(api, t)
