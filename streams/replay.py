"""`rackwatch replay`: the processing core over a JSON-lines file, event time as the clock.

Lines are exactly what the topics carry (metric batches and log records, and the
actions of rackwatch.actions: acknowledgements and silences apply from where they
stand in the file, as a worker applies them when it reads them), processed in file
order. Time-driven rule work runs whenever event time has advanced by the
worker's tick interval, and once more at the end, as a live worker's timer would.
Output: the alert state changes exactly as they would go to the alerts topic and, as
asked, the processed records that would go to ClickHouse, one JSON object per line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from schemas.ids import ACTION, LOGS
from streams.core.block import block_rows
from streams.core.metrics import HostState
from streams.core.smoothing import SmoothingParams
from streams.handling.routing import RoutingTree
from streams.incidents.config import CorrelatorConfig
from streams.rules import RuleSet
from streams.runtime import Outputs, Runtime

__all__ = ["EMITTABLE", "ReplayStats", "replay", "replay_lines"]

log = logging.getLogger(__name__)

EMITTABLE = ("alerts", "metrics", "logs", "deadletter", "incidents", "actions")
TICK_MS = 1000


@dataclass
class ReplayStats:
    """What a replay read and did: the summary `rackwatch replay` prints."""

    lines: int = 0  # non-empty input lines
    metric_batches: int = 0  # processed (not rejected, not duplicates)
    log_events: int = 0
    deadlettered: int = 0  # messages or samples dead-lettered, by reason below
    deadletter_reasons: dict[str, int] = field(default_factory=dict)
    dedup: dict[str, int] = field(default_factory=dict)  # reason -> count (streams.core.dedupbook)
    alerts: int = 0

    def describe(self) -> str:
        """The one-paragraph summary for the terminal."""
        text = (f"replay: {self.lines} lines read, {self.metric_batches} metric batches and "
                f"{self.log_events} log events processed, {self.deadlettered} dead-lettered")
        if self.deadletter_reasons:
            text += " (" + ", ".join(f"{r} {n}" for r, n in
                                     sorted(self.deadletter_reasons.items())) + ")"
        if self.dedup:
            text += "; dedup: " + ", ".join(f"{r} {n}" for r, n in sorted(self.dedup.items()))
        return text + f"; {self.alerts} alert messages"


def _schema_of(raw: bytes) -> str | None:
    # Cheap routing without a full parse: the schema id is near the start of every event.
    i = raw.find(b'"schema"')
    if i < 0:
        return None
    j = raw.find(b'"', raw.find(b":", i) + 1)
    k = raw.find(b'"', j + 1)
    return raw[j + 1:k].decode("utf-8", "replace") if j >= 0 and k > j else None


def replay_lines(lines: Iterable[bytes], rules: RuleSet,
                 emit: set[str] = frozenset({"alerts"}),  # type: ignore[assignment]
                 stats: ReplayStats | None = None,
                 smoothing: SmoothingParams | None = None,
                 correlator: CorrelatorConfig | None = None,
                 routing: RoutingTree | None = None) -> Iterator[bytes]:
    """Process raw JSON lines; yield the output lines (serialised JSON, no newline).
    `stats`, when given, is filled in as the lines are read; `smoothing` is the worker's
    (`[worker] ewma_tau_s`, `wma_window`), so replay judges as the live worker does;
    `correlator` the worker's correlator settings (default: CorrelatorConfig());
    `routing` the worker's routing tree (default: the shipped one)."""
    runtime = Runtime(rules, smoothing=smoothing, check_wall_clock=False,
                      correlator=correlator, routing=routing)
    states: dict[str, HostState] = {}
    scopes: dict[bytes, dict[str, Any]] = {}  # correlation state per scope key, as live
    last_tick: int | None = None
    clock = 0

    def state_of(host: str) -> HostState | None:
        return states.get(host)

    def collect(out: Outputs) -> Iterator[bytes]:
        if out.state is not None and out.host is not None:
            states[out.host] = out.state
        if "deadletter" in emit:
            for _, dl in out.deadletters:
                yield dl
        if "metrics" in emit and out.metric_block is not None:
            yield from (orjson.dumps(r) for r in block_rows(orjson.loads(out.metric_block)))
        if "logs" in emit and out.log_rows is not None:
            yield from (orjson.dumps(r) for r in orjson.loads(out.log_rows))
        for name, pairs in (("alerts", out.alerts), ("actions", out.actions)):
            if name in emit:
                yield from (value for _, value in pairs)
        for key, event in out.correlate:
            incidents = runtime.on_correlate(scopes.setdefault(key, {}), event)
            if "incidents" in emit:
                yield from (m for _, m in incidents)

    def tick(now: int) -> Iterator[bytes]:
        for host in sorted(states):
            yield from collect(runtime.on_tick(states[host], host, now))
        for key in sorted(scopes):
            incidents = runtime.on_correlate_tick(scopes[key], now)
            if "incidents" in emit:
                yield from (m for _, m in incidents)

    for lineno, raw in enumerate(lines, 1):
        raw = raw.strip()
        if not raw:
            continue
        if stats is not None:
            stats.lines += 1
        schema = _schema_of(raw)
        if schema == ACTION:  # people's actions, into the book as a worker reads them
            runtime.on_action(raw)
            continue
        if schema == LOGS:
            out = runtime.on_log(raw, state_of, wall_ms=clock, offset=lineno)
        else:  # metrics, and anything unknown (the metric decoder rejects it precisely)
            out = runtime.on_metrics(raw, state_of, wall_ms=clock, offset=lineno)
        ts = _event_ts(out, states)
        if ts is not None and ts > clock:
            clock = ts
        if last_tick is None:
            last_tick = clock
        elif clock - last_tick >= TICK_MS:
            yield from tick(clock)
            last_tick = clock
        yield from collect(out)
    if states:
        yield from tick(clock)
    if stats is not None:
        stats.metric_batches = runtime.metrics.counters.batches
        stats.log_events = runtime.log_records
        stats.deadlettered = runtime.deadlettered
        stats.deadletter_reasons = dict(runtime.deadletter_reasons)
        for (stream, reason), n in runtime.dedup.since_last().totals.items():
            stats.dedup[f"{stream} {reason}"] = n


def _event_ts(out: Outputs, states: dict[str, HostState]) -> int | None:
    if out.state is not None:
        return out.state.event_ms
    return None


def replay(path: str | Path, rules: RuleSet, emit: set[str], out: IO[bytes],
           smoothing: SmoothingParams | None = None,
           correlator: CorrelatorConfig | None = None,
           routing: RoutingTree | None = None) -> ReplayStats:
    """Replay a file (or "-" for stdin) and write the output lines."""
    stats = ReplayStats()
    src: Any = sys.stdin.buffer if str(path) == "-" else open(path, "rb")  # noqa: SIM115
    try:
        for line in replay_lines(src, rules, emit, stats, smoothing, correlator, routing):
            out.write(line + b"\n")
            if b'"rackwatch.alert/v1"' in line[:40]:
                stats.alerts += 1
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    return stats
