"""Live changes to pages: one FleetState, and the batches of changes sent to each page.

Changes (alerts, incidents, hosts, pruned entries) collect between pushes and go out as
one `changes` event every `push_interval_s`, serialised once for every page, so 50
alerts a second cost a page about four small messages a second rather than fifty. A
page that connects first gets a `snapshot` (the whole picture, with the sequence number
of the last change it includes), then only changes. A page too slow to keep up (its
queue full) is sent a fresh snapshot instead of the changes it missed. `health` events
carry the latest health summary as it is scraped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import orjson

from console.state import FleetState, HostEntry, alert_from_message, incident_from_message

__all__ = ["Hub", "sse_frame"]

_QUEUE_FRAMES = 64


def sse_frame(event: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event (the JSON has no newline, so one `data:` line)."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class Hub:
    """The shared live picture and its subscribers; every method runs on the event loop."""

    def __init__(self, state: FleetState) -> None:
        self.state = state
        self.seq = 0
        self.health: dict[str, Any] | None = None
        self.status: dict[str, Any] = {}
        self._alerts: dict[str, dict[str, Any]] = {}
        self._incidents: dict[str, dict[str, Any]] = {}
        self._hosts: dict[str, HostEntry] = {}
        self._removed_alerts: list[str] = []
        self._removed_incidents: list[str] = []
        self._subscribers: set[asyncio.Queue[bytes | None]] = set()
        self.messages = 0
        self.bad_messages = 0

    # --- input --------------------------------------------------------------------------

    def take_alert(self, view: dict[str, Any], now_ms: int) -> None:
        changed, host = self.state.apply_alert(view, now_ms)
        if changed is not None:
            self._alerts[changed["fingerprint"]] = changed
        if host is not None:
            self._hosts[host.host] = host

    def take_incident(self, view: dict[str, Any], now_ms: int) -> None:
        changed = self.state.apply_incident(view, now_ms)
        if changed is not None:
            self._incidents[changed["incident_id"]] = changed

    def take_message(self, kind: str, value: Mapping[str, Any], now_ms: int) -> None:
        """An alert or incident message from its topic (malformed ones are counted)."""
        self.messages += 1
        try:
            if kind == "alerts":
                self.take_alert(alert_from_message(value), now_ms)
            else:
                self.take_incident(incident_from_message(value), now_ms)
        except (KeyError, TypeError, ValueError, AttributeError):
            self.bad_messages += 1

    def take_host(self, host: str, labels: Mapping[str, str], gpus: list[str]) -> None:
        entry = self.state.add_host(host, labels, gpus)
        if entry is not None:
            self._hosts[host] = entry

    def prune(self, now_ms: int) -> None:
        alerts, incidents = self.state.prune(now_ms)
        for fp in alerts:
            self._alerts.pop(fp, None)
        for iid in incidents:
            self._incidents.pop(iid, None)
        self._removed_alerts.extend(alerts)
        self._removed_incidents.extend(incidents)

    def set_health(self, summary: dict[str, Any], now_ms: int) -> None:
        self.health = summary
        self._broadcast(sse_frame("health", {**summary, "sent_ms": now_ms}))

    # --- output -------------------------------------------------------------------------

    def _with_group(self, alert: dict[str, Any]) -> dict[str, Any]:
        return {**alert, "group": self.state.group_of_host(alert.get("host"))}

    def snapshot(self, now_ms: int) -> dict[str, Any]:
        return {"seq": self.seq, "sent_ms": now_ms,
                "hosts": [h.view() for h in sorted(self.state.hosts.values(),
                                                   key=lambda h: h.host)],
                "alerts": self.state.alert_list(),
                "incidents": self.state.incident_list(),
                "health": self.health, "status": self.status}

    def pending(self) -> bool:
        return bool(self._alerts or self._incidents or self._hosts or self._removed_alerts
                    or self._removed_incidents)

    def flush(self, now_ms: int) -> dict[str, Any] | None:
        """Send the changes collected since the last flush (None when there were none)."""
        if not self.pending():
            return None
        self.seq += 1
        changes = {"seq": self.seq, "sent_ms": now_ms,
                   "hosts": [h.view() for h in self._hosts.values()],
                   "alerts": [self._with_group(a) for a in self._alerts.values()],
                   "incidents": list(self._incidents.values()),
                   "removed_alerts": self._removed_alerts,
                   "removed_incidents": self._removed_incidents}
        self._alerts, self._incidents, self._hosts = {}, {}, {}
        self._removed_alerts, self._removed_incidents = [], []
        self._broadcast(sse_frame("changes", changes))
        return changes

    def _broadcast(self, frame: bytes) -> None:
        for q in list(self._subscribers):
            try:
                q.put_nowait(frame)
            except asyncio.QueueFull:  # too slow: replace what it missed by a snapshot
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(None)

    def subscribe(self) -> asyncio.Queue[bytes | None]:
        """A queue of frames for one page; None in it means "send a fresh snapshot"."""
        q: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUE_FRAMES)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[bytes | None]) -> None:
        self._subscribers.discard(q)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        for q in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(b"")
        self._subscribers.clear()
