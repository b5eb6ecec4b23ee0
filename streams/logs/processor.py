"""LogProcessor: one log event in, one processed record out (parse, mine, classify).

This is the logs part of the processing core: plain data in and out, no clock,
no I/O. The caller (the faust worker or `rackwatch replay`) owns persistence: it
asks `dirty` after each event and stores `snapshot()` when it is true, and hands
the stored bytes back as `miner_state=` after a restart.

Faults come from three layers (streams.logs.judge): the catalogue, then the generic
reading of the line's words (streams.logs.generic), then novelty (a weak candidate
whose template is new on its host, streams.logs.novelty). The record's severity is
the line's declared level, else what its text says (see streams.logs.judge).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

import orjson

from schemas.events import LogRecord
from schemas.ids import LOG_RECORD
from streams.logs.catalogue import FaultCatalogue
from streams.logs.drain import MinerConfig, TemplateMiner
from streams.logs.generic import CANDIDATE, analyse
from streams.logs.judge import Judgement, judge, own_level
from streams.logs.novelty import NoveltyConfig, NoveltyTracker
from streams.logs.parsing import parse_line
from streams.logs.severity import rank

__all__ = ["MAX_ANALYSED_CHARS", "LogProcessor"]

logger = logging.getLogger(__name__)

MAX_ANALYSED_CHARS = 4096


class LogProcessor:
    """Turns `rackwatch.logs/v1` events into `rackwatch.log_record/v1` records."""

    def __init__(self, *, catalogue: FaultCatalogue | None = None,
                 miner_state: bytes | None = None, config: MinerConfig | None = None,
                 generic: bool = True, novelty: NoveltyConfig | None = None) -> None:
        """generic=False keeps to the catalogue alone (no generic or novel faults)."""
        self.catalogue = catalogue or FaultCatalogue.default()
        self.generic = generic
        self.state_error: str | None = None
        self.miner = TemplateMiner(config)
        self.novelty = NoveltyTracker(novelty)
        if miner_state:
            try:
                state = orjson.loads(miner_state)
                self.miner = TemplateMiner.from_state(state, config)
            except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as e:
                # A worker that cannot read its state must still process logs; it
                # re-learns templates (same ids for masked-complete templates).
                self.state_error = f"{type(e).__name__}: {e}"
                logger.error("log miner state unreadable, starting empty: %s", self.state_error)
            else:
                self._restore_novelty(state.get("novelty"), novelty)
        self._dirty = False
        self._last_ts: int | None = None
        # Whether the last processed line created a template (the per-host count of new
        # templates, streams.core.logseries, reads it; the record does not carry it).
        self.last_new_template = False

    @property
    def dirty(self) -> bool:
        """True when templates were created, generalised or evicted since the last snapshot.

        Per-template counts and recency change on every line but are not worth a
        write each time: they are saved with the next snapshot, and losing them
        changes no template and no id.
        """
        return self._dirty or self.novelty.changed

    def snapshot(self) -> bytes:
        """The miner state as JSON bytes; pass it back as `miner_state=` to restore.

        The novelty state rides along under the key "novelty", which the miner's own
        reader ignores, so older and newer workers read each other's snapshots.
        """
        self._dirty = False
        self.novelty.changed = False
        return orjson.dumps({**self.miner.to_state(), "novelty": self.novelty.to_state()})

    def _restore_novelty(self, state: Any, config: NoveltyConfig | None) -> None:
        if state is None:  # a snapshot from before novelty: hosts warm up again
            return
        try:
            self.novelty = NoveltyTracker.from_state(state, config)
        except ValueError as e:
            logger.warning("novelty state unreadable, hosts warm up again: %s", e)

    def process(self, event: Mapping[str, Any]) -> LogRecord:
        """One log event -> its processed record (see schemas.events.LogRecord).

        Besides the LogRecord fields, a record with a fault carries `fault_source`
        (catalogue | generic | novel), `fault_severity`, `fault_action` and, for NVIDIA
        XID events, `xid` (an int).
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
        self.last_new_template = mined.created
        if mined.changed:  # eviction only ever happens when a template is created
            self._dirty = True
        if has_ts:
            ts = cast(int, event_ts)
        else:
            ts = parsed.ts if parsed.ts is not None else (self._last_ts or 0)
        self._last_ts = ts
        host = str(event.get("host") or parsed.host or "unknown")
        found = self._judge(analysed, parsed.severity, parsed.program, host, ts,
                            mined.template_id)
        labels: dict[str, str] = dict(found.labels) if found.labels else {}
        event_labels = event.get("labels")
        if isinstance(event_labels, Mapping):
            labels.update({str(k): str(v) for k, v in event_labels.items()})
        record: dict[str, Any] = {
            "schema": LOG_RECORD,
            "host": host,
            "ts": ts,
            "seq": event.get("seq", 0),
            "message": message,
            "severity": found.severity,
            "program": parsed.program,
            "pid": parsed.pid,
            "template_id": mined.template_id,
            "template": mined.template,
            "fault_class": found.fault_class,
            "labels": labels,
            "component": found.component,
        }
        if "source" in event:
            record["source"] = event["source"]
        if found.fault_class is not None:
            record["fault_source"] = found.source
            record["fault_severity"] = found.fault_severity
            record["fault_action"] = found.action
            if found.xid is not None:
                record["xid"] = found.xid
        return cast(LogRecord, record)

    def _judge(self, analysed: str, declared: str | None, program: str | None, host: str,
               ts: int, template_id: str) -> Judgement:
        """Catalogue, then (unless generic=False) the line's words, then novelty."""
        fault = self.catalogue.classify(analysed, program)
        own, header_word = own_level(declared, analysed)
        verdict = None
        novel = False
        if self.generic:
            self.novelty.watch(host, ts)
            if fault is None:
                verdict = analyse(analysed, rank(own) if own is not None else None,
                                  ignore=header_word)
                if verdict is not None and verdict.status == CANDIDATE:
                    novel = self.novelty.is_novel(host, template_id, ts)
        return judge(declared, own, fault, verdict, novel)
