"""The store side of the live picture: bootstrap, inventory, and a store that comes back."""

from __future__ import annotations

import asyncio
from typing import Any

from console.hub import Hub
from console.live import store_loop
from console.queries import Query
from console.reader import StoreUnavailable
from console.settings import ConsoleSettings
from console.state import FleetState
from tests.browser.fakes import FakeReader

T0 = 1_800_000_000.0


class FlakyReader(FakeReader):
    """Down for the first `down` queries, then the fake fleet; one alert row to load."""

    def __init__(self, down: int) -> None:
        super().__init__(hosts=20, rackless=4)
        self.down = down

    async def rows(self, query: Query) -> list[dict[str, Any]]:
        if self.down > 0:
            self.down -= 1
            raise StoreUnavailable("connection refused")
        return await super().rows(query)

    def _alerts_latest(self, p: Any) -> list[dict[str, Any]]:
        return [{"fingerprint": "f1", "status": "firing", "rule": "CpuHigh",
                 "severity": "warning", "host": "r00-gpu02", "rack": "r00",
                 "labels": {"rack": "r00"}, "annotations": {"summary": "hot"}, "value": 0.9,
                 "threshold": 0.8, "starts_ms": 1, "ends_ms": None, "updated_ms": 2,
                 "incident_id": ""}]


def run_loop(reader: FlakyReader, seconds: float) -> Hub:
    hub = Hub(FleetState())
    settings = ConsoleSettings(inventory_interval_s=0.05)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(store_loop(reader, hub, settings, stop, lambda: T0))
        await asyncio.sleep(seconds)
        stop.set()
        await task

    asyncio.run(main())
    return hub


class TestStoreLoop:
    """Bootstrap once, keep the host list fresh, recover from a store outage."""

    def test_bootstrap_and_inventory(self) -> None:
        """The alert is loaded once; hosts and their groups arrive, rack-less by cluster."""
        reader = FlakyReader(down=0)
        hub = run_loop(reader, 0.3)
        assert list(hub.state.alerts) == ["f1"]
        assert reader.asked.count("alerts_latest") == 1
        assert reader.asked.count("host_inventory") >= 2
        groups = {h.group for h in hub.state.hosts.values()}
        assert groups == {"r00", "cluster c0"}
        assert hub.status["store"] == {"ok": True, "error": None}

    def test_store_that_comes_back(self) -> None:
        """Down at first: said in the status, retried, then loaded."""
        reader = FlakyReader(down=2)
        hub = run_loop(reader, 4.0)  # backoff 1 s, then 2 s
        assert list(hub.state.alerts) == ["f1"]
        assert hub.status["store"]["ok"] is True
        assert len(hub.state.hosts) == 20
