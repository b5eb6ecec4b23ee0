"""Sending one batch to one target over HTTP, and what the answer means.

2xx: delivered. 408, 429, 5xx, 401, 403, 404, a timeout or no connection: try again
later (a target that is down, overloaded or misconfigured must not lose alerts; its lag
and `rackwatch_forwarder_failed_total` say so). 400, 413, 422: the target refuses this
content; the batch is halved until the one alert it refuses is dropped (delivery.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from forwarder.payloads import alertmanager_alert, webhook_payload
from forwarder.targets import ALERTMANAGER, Target

__all__ = ["REFUSED", "Outcome", "Sender"]

log = logging.getLogger(__name__)

REFUSED = frozenset({400, 413, 422})


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    refused: bool  # the target will never take this content
    reason: str  # ok, connection, timeout, http_<status>
    detail: str
    seconds: float


@dataclass
class Sender:
    """Turns a batch into the target's payload and posts it."""

    target: Target
    session: aiohttp.ClientSession
    timeout_s: float = 10.0
    token: str = ""
    generator: str = ""
    ends_after_s: float = 240.0
    user_agent: str = "rackwatch-forwarder"

    def body(self, alerts: Sequence[Mapping[str, Any]], now_ms: int) -> bytes:
        if self.target.kind == ALERTMANAGER:
            ends_after_ms = round(self.ends_after_s * 1000)
            return orjson.dumps([alertmanager_alert(a, now_ms, ends_after_ms, self.generator)
                                 for a in alerts])
        return orjson.dumps(webhook_payload(alerts, receiver="rackwatch",
                                            group_key=f"{{}}:{{target={self.target.name!r}}}",
                                            generator=self.generator))

    async def send(self, alerts: Sequence[Mapping[str, Any]], now_ms: int) -> Outcome:
        headers = {"Content-Type": "application/json", "User-Agent": self.user_agent}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        started = time.monotonic()
        try:
            async with self.session.post(
                    self.target.url, data=self.body(alerts, now_ms), headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as resp:
                text = (await resp.text(errors="replace"))[:300]
                status = resp.status
        except TimeoutError:
            return Outcome(False, False, "timeout", f"no answer within {self.timeout_s:g}s",
                           time.monotonic() - started)
        except (aiohttp.ClientError, OSError) as e:
            return Outcome(False, False, "connection", str(e) or type(e).__name__,
                           time.monotonic() - started)
        took = time.monotonic() - started
        if 200 <= status < 300:
            return Outcome(True, False, "ok", "", took)
        return Outcome(False, status in REFUSED, f"http_{status}", text.strip(), took)
