"""One host's state, as the worker keeps it in its `hosts` table and replay in a dict.

Everything a host's next event needs (dedup windows, smoothing of every series,
event-time windows, rule and alert state, recent log faults, its topology and job) is
one record, owned here, with readable names. It travels through the changelog as one
JSON object with the short keys the worker has always written, so a changelog written
before this record existed is read as it is:

    "d" dedup (metric batches, streams.core.dedup)   "ld" log_dedup (log records)
    "s" series (streams.core.series columns)         "r" rules (the rule engine's state)
    "t" event_ms (newest event time seen)            "l" topology (labels of the newest batch)
    "w" windows (streams.core.windows)               "wc" windows_due_ms (next close)
    "f" faults ({fault class: [times]}, the last ten minutes)
    "job" job ({"job", "rank"} from the host's job log lines)
    "lc" log_counts ([lines, errors, new templates] since the last metric batch,
         streams.core.logseries; absent until the host logs)
    "tr" trace_sample ([[id hash, ms], ...] sampled since the last metric batch,
         streams.core.traceids; absent when there are none)
    "h" handling (the escalation clock of each firing alert, streams.handling.book;
         absent when none fires)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.core.dedup import DedupState
from streams.core.series import SeriesColumns

__all__ = ["HostState"]


@dataclass(slots=True)
class HostState:
    """One host's state (see the module docstring for what each part holds)."""

    dedup: DedupState | None = None
    log_dedup: DedupState | None = None
    series: SeriesColumns | None = None
    rules: dict[str, Any] = field(default_factory=dict)
    event_ms: int | None = None
    topology: dict[str, str] = field(default_factory=dict)
    windows: dict[str, Any] | None = None
    windows_due_ms: int | None = None  # when the next window closes (None: work it out)
    faults: dict[str, list[int]] = field(default_factory=dict)
    job: dict[str, str] | None = None
    log_counts: list[int] | None = None
    trace_sample: list[list[object]] | None = None
    handling: dict[str, list[Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The changelog form: short keys, absent parts left out."""
        out: dict[str, Any] = {"d": self.dedup, "r": self.rules,
                               "s": self.series.to_json() if self.series is not None else {}}
        if self.log_dedup is not None:
            out["ld"] = self.log_dedup
        if self.event_ms is not None:
            out["t"] = self.event_ms
        if self.topology:
            out["l"] = self.topology
        if self.windows is not None:
            out["w"] = self.windows
            out["wc"] = self.windows_due_ms
        if self.faults:
            out["f"] = self.faults
        if self.job is not None:
            out["job"] = self.job
        if self.log_counts is not None:
            out["lc"] = self.log_counts
        if self.trace_sample:
            out["tr"] = self.trace_sample
        if self.handling:
            out["h"] = self.handling
        return out

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HostState:
        """A state as the changelog holds it (written by this code or by earlier code)."""
        return cls(dedup=d.get("d"), log_dedup=d.get("ld"),
                   series=SeriesColumns.from_json(d.get("s")), rules=d.get("r") or {},
                   event_ms=d.get("t"), topology=d.get("l") or {}, windows=d.get("w"),
                   windows_due_ms=d.get("wc"), faults=d.get("f") or {}, job=d.get("job"),
                   log_counts=d.get("lc"), trace_sample=d.get("tr"),
                   handling=d.get("h") or {})

    @classmethod
    def loads(cls, raw: bytes) -> HostState:
        return cls.from_json(orjson.loads(raw))
