"""LogProcessor: one log event in, one processed record out (parse, mine, classify).

This is the logs part of the processing core: plain data in and out, no clock,
no I/O. The caller (the faust worker or `rackwatch replay`) owns persistence: it
asks `dirty` after each event and stores `snapshot()` when it is true, and hands
the stored bytes back as `miner_state=` after a restart.

Severity of a record, in order of trust: what the line itself declares (syslog
PRI, kernel level, JSON level field); else the more severe of the matched fault's
severity and a level word at the start of the text ("ERROR:", "NCCL WARN"); else
"info". A line that declares nothing is far more often routine than not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

import orjson

from schemas.events import LogRecord
from schemas.ids import LOG_RECORD
from streams.logs.catalogue import FaultCatalogue, FaultMatch
from streams.logs.drain import MinerConfig, TemplateMiner
from streams.logs.parsing import parse_line
from streams.logs.severity import rank, sniff_content

__all__ = ["MAX_ANALYSED_CHARS", "LogProcessor"]

logger = logging.getLogger(__name__)

MAX_ANALYSED_CHARS = 4096


def _severity(declared: str | None, fault: FaultMatch | None, message: str) -> str:
    if declared is not None:
        return declared
    found = [s for s in (fault.severity if fault else None, sniff_content(message)) if s]
    return min(found, key=rank) if found else "info"


class LogProcessor:
    """Turns `rackwatch.logs/v1` events into `rackwatch.log_record/v1` records."""

    def __init__(self, *, catalogue: FaultCatalogue | None = None,
                 miner_state: bytes | None = None, config: MinerConfig | None = None) -> None:
        self.catalogue = catalogue or FaultCatalogue.default()
        self.state_error: str | None = None
        self.miner = TemplateMiner(config)
        if miner_state:
            try:
                self.miner = TemplateMiner.from_state(orjson.loads(miner_state), config)
            except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as e:
                # A worker that cannot read its state must still process logs; it
                # re-learns templates (same ids for masked-complete templates).
                self.state_error = f"{type(e).__name__}: {e}"
                logger.error("log miner state unreadable, starting empty: %s", self.state_error)
        self._dirty = False
        self._last_ts: int | None = None

    @property
    def dirty(self) -> bool:
        """True when templates were created, generalised or evicted since the last snapshot.

        Per-template counts and recency change on every line but are not worth a
        write each time: they are saved with the next snapshot, and losing them
        changes no template and no id.
        """
        return self._dirty

    def snapshot(self) -> bytes:
        """The miner state as JSON bytes; pass it back as `miner_state=` to restore."""
        self._dirty = False
        return orjson.dumps(self.miner.to_state())

    def process(self, event: Mapping[str, Any]) -> LogRecord:
        """One log event -> its processed record (see schemas.events.LogRecord).

        Besides the LogRecord fields, a record whose line matched the fault
        catalogue carries `fault_severity`, `fault_action` and, for NVIDIA XID
        events, `xid` (an int).
        """
        raw = event.get("message")
        text = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
        event_ts = event.get("ts")
        has_ts = isinstance(event_ts, int) and not isinstance(event_ts, bool)
        reference = cast(int, event_ts) if has_ts else self._last_ts
        parsed = parse_line(text, reference_ms=reference)
        message = parsed.message
        # Templates and faults are read from the start of very long lines only: it bounds
        # the cost and the state of one line; the record keeps the whole message.
        analysed = message[:MAX_ANALYSED_CHARS]
        mined = self.miner.add(analysed)
        if mined.changed:  # eviction only ever happens when a template is created
            self._dirty = True
        fault = self.catalogue.classify(analysed, parsed.program)
        if has_ts:
            ts = cast(int, event_ts)
        else:
            ts = parsed.ts if parsed.ts is not None else (self._last_ts or 0)
        self._last_ts = ts
        labels: dict[str, str] = {}
        if fault is not None:
            labels.update(fault.labels)
        event_labels = event.get("labels")
        if isinstance(event_labels, Mapping):
            labels.update({str(k): str(v) for k, v in event_labels.items()})
        host = event.get("host") or parsed.host or "unknown"
        record: dict[str, Any] = {
            "schema": LOG_RECORD,
            "host": str(host),
            "ts": ts,
            "seq": event.get("seq", 0),
            "message": message,
            "severity": _severity(parsed.severity, fault, message),
            "program": parsed.program,
            "pid": parsed.pid,
            "template_id": mined.template_id,
            "template": mined.template,
            "fault_class": fault.fault_class if fault else None,
            "labels": labels,
            "component": fault.component if fault else None,
        }
        if "source" in event:
            record["source"] = event["source"]
        if fault is not None:
            record["fault_severity"] = fault.severity
            record["fault_action"] = fault.action
            if fault.xid is not None:
                record["xid"] = fault.xid
        return cast(LogRecord, record)
