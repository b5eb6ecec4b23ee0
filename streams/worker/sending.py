"""What one input record (or tick) causes, sent in the worker's delivery order.

Alerts, dead letters and correlation events are sent as they happen; the processed
records are collected, to be sent once those are delivered (a record names its input's
alerts, so a record on the broker must imply they are too). streams.worker.processing
decides when they go; this is the base it (and streams.worker.ticking) build on.
"""

from __future__ import annotations

import orjson

from schemas.ids import ACTION, ALERT, message_headers
from streams.runtime import Outputs
from streams.worker.contract import Topics
from streams.worker.offsets import ALERTS_HEADER, SOURCE_HEADER, alert_digest
from streams.worker.outbox import Outbox
from streams.worker.stats import WorkerStats

__all__ = ["ALERT_HEADERS", "Row", "Sending"]

# Every alert message says what it is in its headers (schemas.ids).
ALERT_HEADERS = message_headers(ALERT)
ACTION_HEADERS = message_headers(ACTION)
Row = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # a processed record to send


class Sending:
    """Outputs of records and ticks onto the worker's outbox."""

    outbox: Outbox
    topics: Topics
    stats: WorkerStats

    async def emit(self, out: Outputs) -> None:
        """Outputs that no input record carries (a timer tick's alerts)."""
        send, t = self.outbox.send, self.topics
        for key, value in out.deadletters:
            await send(t.deadletter, key, value)
        for fp, alert in out.alerts:
            await send(t.alerts, fp, alert, headers=ALERT_HEADERS)
            self._count_transition(alert)
        for key, value in out.correlate:
            await send(t.correlate, key, value)
        for key, value in out.actions:
            await send(t.actions, key, value, headers=ACTION_HEADERS)

    def _count_transition(self, alert: bytes) -> None:
        a = orjson.loads(alert)
        self.stats.count_transition(str(a.get("status")), str(a.get("severity")))

    async def emit_record(self, before: list[Outputs], out: Outputs, after: list[Outputs],
                          offset: int, landed: frozenset[str] | None,
                          rows: list[Row]) -> None:
        """What one input record caused, and the in-stream ticks just `before` and `after`
        it, in that order (the order they happened in). Its alerts, dead letters and
        correlation events are sent now; its processed records are appended to `rows`, to
        be sent once those are delivered: a record carries the input offset and the
        digests of its alerts, so a record on the broker must imply its alerts are too.
        When the previous owner already delivered this offset (`landed`), the records and
        those very alerts are not sent again; everything else is (identical re-sends)."""
        send, t = self.outbox.send, self.topics
        for key, value in out.deadletters:
            await send(t.deadletter, key, value)
        ordered = [*before, out, *after]
        alerts = [a for o in ordered for a in o.alerts]
        digests = [alert_digest(value) for _, value in alerts]
        for (fp, alert), digest in zip(alerts, digests, strict=True):
            if landed is not None and digest in landed:
                self.stats.alerts_suppressed += 1
                continue
            await send(t.alerts, fp, alert, headers=ALERT_HEADERS)
            self._count_transition(alert)
        for o in ordered:
            for key, value in o.correlate:
                await send(t.correlate, key, value)
            # rackwatch's own handling actions: identical when sent again (same
            # action_id), so the store keeps one (streams.handling.actions)
            for key, value in o.actions:
                await send(t.actions, key, value, headers=ACTION_HEADERS)
        if out.host is not None and landed is None:
            headers = [(SOURCE_HEADER, str(offset).encode())]
            if digests:
                headers.append((ALERTS_HEADER, ",".join(digests).encode()))
            if out.metric_block is not None:
                rows.append((t.rows, out.host.encode(), out.metric_block, headers))
            if out.log_rows is not None:
                rows.append((t.log_rows, out.host.encode(), out.log_rows, headers))
