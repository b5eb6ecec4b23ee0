"""Batching live changes for pages, and what a page too slow to follow gets."""

from __future__ import annotations

import asyncio

import orjson

from console.hub import Hub, sse_frame
from console.state import FleetState
from tests.browser.fakes import alert_message

T0 = 1_800_000_000_000


def hub_with_alerts(n: int) -> Hub:
    hub = Hub(FleetState())
    for i in range(n):
        hub.take_message("alerts", alert_message(f"h{i}", "r1", "CpuHigh", "warning", "firing",
                                                 T0 + i, fingerprint=f"f{i}"), T0)
    return hub


class TestBatching:
    """Changes between pushes go out as one frame; nothing new sends nothing."""

    def test_one_frame_per_flush(self) -> None:
        """Fifty alerts and their hosts become one `changes` event."""
        async def main() -> None:
            hub = Hub(FleetState())
            q = hub.subscribe()
            for i in range(50):
                hub.take_message("alerts", alert_message(
                    f"h{i}", "r1", "CpuHigh", "warning", "firing", T0 + i, fingerprint=f"f{i}"),
                    T0)
            changes = hub.flush(T0)
            assert changes is not None and len(changes["alerts"]) == 50
            assert len(changes["hosts"]) == 50
            assert q.qsize() == 1 and hub.flush(T0) is None
        asyncio.run(main())

    def test_malformed_messages_are_counted(self) -> None:
        """A message missing fields is counted, not raised."""
        hub = Hub(FleetState())
        hub.take_message("alerts", {"fingerprint": "x"}, T0)
        hub.take_message("incidents", {"incident_id": "i"}, T0)
        assert (hub.messages, hub.bad_messages, hub.pending()) == (2, 2, False)

    def test_pruned_alerts_are_sent_as_removed(self) -> None:
        """An alert pruned after its fade goes out in `removed_alerts`."""
        hub = Hub(FleetState(fade_ms=1_000))
        hub.take_message("alerts", alert_message("h", "r1", "CpuHigh", "warning", "resolved",
                                                 T0, fingerprint="f"), T0)
        hub.flush(T0)
        hub.prune(T0 + 5_000)
        changes = hub.flush(T0 + 5_000)
        assert changes is not None and changes["removed_alerts"] == ["f"]


class TestSlowPages:
    """A page whose queue is full is told to take a fresh snapshot instead."""

    def test_overflow_becomes_a_snapshot_marker(self) -> None:
        """After an overflow the queue holds only the marker (None)."""
        async def main() -> None:
            hub = hub_with_alerts(1)
            q = hub.subscribe()
            for i in range(200):
                hub.take_message("alerts", alert_message(
                    "h", "r1", "CpuHigh", "warning", "firing", T0 + 10 + i, fingerprint="g"), T0)
                hub.flush(T0)
            items = [q.get_nowait() for _ in range(q.qsize())]
            assert None in items
            assert len(items) < 200
        asyncio.run(main())

    def test_frame_format(self) -> None:
        """An event is `event:` then one `data:` line of JSON, then a blank line."""
        frame = sse_frame("health", {"a": "x\ny"})
        head, data, blank = frame.split(b"\n", 2)
        assert head == b"event: health" and orjson.loads(data[6:]) == {"a": "x\ny"}
        assert blank == b"\n"
