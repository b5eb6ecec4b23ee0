"""What one worker does with one message, independent of faust.

The faust agents (streams/worker/) and the offline `replay` command (streams/replay.py)
both drive a `Runtime`: it decodes, dead-letters, runs the metric and log cores, and
returns the messages to publish. Keeping this out of the faust module is what makes
"replay gives the same alerts as the live pipeline" true by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from schemas.events import DeadLetter
from streams.core import dedup
from streams.core.deadletter import Rejected, deadletter_record
from streams.core.decode import Limits, decode_log_event, decode_metric_batch
from streams.core.dedupbook import DedupBook
from streams.core.logseries import LOG_SERIES, count_line, log_samples, reset_counts
from streams.core.metrics import HostState, MetricsCore, host_context, note_fault
from streams.core.smoothing import SmoothingParams
from streams.core.timefmt import ms_to_rfc3339, rfc3339_to_ms
from streams.core.traceids import sample_ids, take_sample
from streams.handling.actions import for_alert
from streams.handling.book import ActionBook, escalate, track
from streams.handling.routing import default_routing, match_labels
from streams.rules import RuleEngine, RuleSet

if TYPE_CHECKING:
    from streams.handling.routing import RoutingTree
    from streams.incidents.config import CorrelatorConfig

__all__ = ["Outputs", "Runtime"]

DERIVED_SERIES = frozenset(LOG_SERIES)

log = logging.getLogger(__name__)


@dataclass
class Outputs:
    """Messages to publish for one input, already serialised. Topic short names as keys."""

    metric_block: bytes | None = None  # the rows as one metric_block/v1, key = host
    log_rows: bytes | None = None  # JSON array of log records, key = host
    alerts: list[tuple[bytes, bytes]] = field(default_factory=list)  # (fingerprint, alert)
    deadletters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    correlate: list[tuple[bytes, bytes]] = field(default_factory=list)  # (route key, event)
    actions: list[tuple[bytes, bytes]] = field(default_factory=list)  # (fingerprint, action)
    state: HostState | None = None  # new host state to store (None: unchanged)
    host: str | None = None


def _log_processor_factory() -> Callable[[bytes | None], Any]:
    from streams.logs import LogProcessor

    def make(miner_state: bytes | None) -> Any:
        return LogProcessor(miner_state=miner_state)

    return make


def _conflict(event: Any, windows: dedup.DedupState) -> Rejected:
    """Why a batch of an older producer epoch is dead-lettered (streams.core.dedup)."""
    current = windows[0][0] if windows else ""
    return Rejected("host_conflict",
                    f"host {event['host']!r} is claimed by two producers: epoch "
                    f"{dedup.epoch_of(event)!r} sent seq {event['seq']} after epoch "
                    f"{current!r} took the host over; the newest epoch owns it (rename one "
                    f"of the hosts, or stop the stale producer)")


class Runtime:
    """Processing for one worker (or one replay): rules, cores, counters."""

    def __init__(self, rules: RuleSet, *, smoothing: SmoothingParams | None = None,
                 limits: Limits | None = None, check_wall_clock: bool = True,
                 correlator: CorrelatorConfig | None = None,
                 routing: RoutingTree | None = None) -> None:
        self.engine = RuleEngine(rules)
        # Every alert leaves with its owner and priority (streams.handling.routing): a
        # pure function of its labels, so replay assigns as the worker does. None: the
        # tree shipped with rackwatch.
        self.routing = routing if routing is not None else default_routing()
        # People's actions (acknowledged, silenced ...), from the whole actions topic (the
        # worker) or the input's action lines (replay): streams.handling.book.
        self.book = ActionBook()
        self.metrics = MetricsCore(self.engine, smoothing)
        self.limits = limits or Limits()
        self.check_wall_clock = check_wall_clock
        self.deadlettered = 0
        self.deadletter_reasons: dict[str, int] = {}
        self._make_log_processor = _log_processor_factory()
        self.log_processors: dict[int, Any] = {}  # partition -> LogProcessor
        # Where a partition's persisted template-miner state comes from (the worker's table).
        self.miner_state_of: Callable[[int], bytes | None] = lambda partition: None
        self.log_records = 0
        self.log_duplicates = 0
        self.dedup = DedupBook()
        from streams.incidents import Correlator

        self.correlator = Correlator(correlator)

    def _correlate(self, out: Outputs, kind: str, host: str, ts: int, st: HostState,
                   payload: dict[str, Any], *, context: bool = True) -> None:
        """Send an alert or fault on to the correlator, once per state key it concerns."""
        from streams.incidents import route_event, routes_for

        # A host's job and rank come from its job's log lines; stamped on all its events
        # (a kernel XID line knows no job), so the job's scope sees the culprit host too.
        labels = {**st.topology, **(st.job or {})}
        event: dict[str, Any] = {"kind": kind, "ts": ts, "host": host, "labels": labels,
                                 **payload}
        if context:
            event["context"] = host_context(st, ts)
        for key in routes_for(event, self.correlator.config):
            out.correlate.append((key.encode(), orjson.dumps(route_event(event, key))))

    def _alerts(self, out: Outputs, found: Iterable[Mapping[str, Any]],
                st: HostState) -> list[dict[str, Any]]:
        """The alerts routed (assignee, priority), marked when a silence holds them,
        serialised into `out` with rackwatch's own actions (assigned, resolved); their
        escalation clocks kept in the host's state."""
        alerts = []
        for found_alert in found:
            routed = self.routing.route(found_alert)
            a = {**found_alert, "assignee": routed.assignee, "priority": routed.priority}
            until = self.book.silenced_until(match_labels(a), rfc3339_to_ms(a["updated_at"]))
            if until is not None:
                a["silenced_until"] = ms_to_rfc3339(until)
            track(st.handling, a, routed)
            alerts.append(a)
            fp = a["fingerprint"].encode()
            out.alerts.append((fp, orjson.dumps(a)))
            action = for_alert(a, routed.group)
            if action is not None:
                out.actions.append((fp, orjson.dumps(action)))
        return alerts

    def on_action(self, raw: bytes) -> bool:
        """One message from the actions topic (or replay's input) into the book."""
        return self.book.apply(raw)

    def replace_rules(self, rules: RuleSet) -> None:
        self.engine.replace_rules(rules)

    def _dead(self, out: Outputs, raw: bytes | str, e: Rejected, wall_ms: int, *,
              topic: str | None, partition: int | None, offset: int | None,
              key: bytes | None) -> None:
        self.deadlettered += 1
        self.deadletter_reasons[e.code] = self.deadletter_reasons.get(e.code, 0) + 1
        rec: DeadLetter = deadletter_record(raw, e, now_ms=wall_ms, topic=topic,
                                            partition=partition, offset=offset, key=key)
        out.deadletters.append((key, orjson.dumps(rec)))

    def on_metrics(self, raw: bytes, state_of: Callable[[str], HostState | None], *,
                   wall_ms: int, topic: str | None = None, partition: int | None = None,
                   offset: int | None = None, key: bytes | None = None) -> Outputs:
        """One message from the metrics topic -> everything it causes."""
        out = Outputs()
        try:
            batch = decode_metric_batch(raw, wall_ms if self.check_wall_clock else None,
                                        self.limits)
        except Rejected as e:
            self._dead(out, raw, e, wall_ms, topic=topic, partition=partition, offset=offset,
                       key=key)
            return out
        host = batch["host"]
        state = state_of(host)
        logs = log_samples(state, batch["ts"])  # the host's log counts ride on its batch
        if logs:
            batch = {**batch, "samples": [*batch["samples"], *logs]}
        new_state, res = self.metrics.process(state, batch)
        out.host = host
        self.dedup.note("metrics", res.verdict, host)
        if res.verdict is dedup.Verdict.CONFLICT:
            out.state = new_state  # the conflicting epoch is remembered as alive
            self._dead(out, raw, _conflict(batch, new_state.dedup or []), wall_ms, topic=topic,
                       partition=partition, offset=offset, key=key)
            return out
        if res.duplicate:
            return out
        out.state = new_state
        if logs:
            reset_counts(new_state)
        traces = take_sample(new_state)
        if traces:  # sampled trace ids of its logs, for learning the call graph
            self._correlate(out, "traces", host, batch["ts"], new_state, {"traces": traces},
                            context=False)
        for sample_raw, why in res.rejected:
            self._dead(out, sample_raw, why, wall_ms, topic=topic, partition=partition,
                       offset=offset, key=key)
        if res.block:
            # The log series are judged here but not stored: the metrics table holds
            # what producers sent, one row per sample (the exactly-once books count it
            # so); their rates are a query over the logs table (docs/queries.md).
            block = res.block.without(DERIVED_SERIES) if logs else res.block
            if len(block):
                out.metric_block = block.to_json()
        for a in self._alerts(out, res.alerts, new_state):
            self._correlate(out, "alert", host, batch["ts"], new_state, {"alert": a})
        return out

    def log_processor(self, partition: int, miner_state: bytes | None = None) -> Any:
        lp = self.log_processors.get(partition)
        if lp is None:
            lp = self._make_log_processor(miner_state or self.miner_state_of(partition))
            self.log_processors[partition] = lp
        return lp

    def on_log(self, raw: bytes, state_of: Callable[[str], HostState | None], *, wall_ms: int,
               partition: int = 0, topic: str | None = None, offset: int | None = None,
               key: bytes | None = None) -> Outputs:
        """One message from the logs topic -> the processed record, log-rule alerts."""
        out = Outputs()
        try:
            ev = decode_log_event(raw, wall_ms if self.check_wall_clock else None, self.limits)
        except Rejected as e:
            self._dead(out, raw, e, wall_ms, topic=topic, partition=partition, offset=offset,
                       key=key)
            return out
        host = ev["host"]
        out.host = host
        st = state_of(host)
        if st is None:
            st = HostState(topology=dict(ev.get("labels") or {}))
        # Records are numbered per host like metric batches; a record seen before (a
        # producer's re-send, or a partition re-read after a crash or a rebalance) is
        # dropped before it reaches the template miner, the rules or the store.
        verdict, st.log_dedup = dedup.check(st.log_dedup, ev["seq"], dedup.epoch_of(ev),
                                            ev["ts"])
        self.dedup.note("logs", verdict, host)
        if verdict is dedup.Verdict.DUPLICATE:
            self.log_duplicates += 1
            return out
        if verdict is dedup.Verdict.CONFLICT:
            out.state = st
            self._dead(out, raw, _conflict(ev, st.log_dedup or []), wall_ms, topic=topic,
                       partition=partition, offset=offset, key=key)
            return out
        processor = self.log_processor(partition)
        record = processor.process(ev)
        count_line(st, record.get("severity"), bool(processor.last_new_template))
        if isinstance(ev.get("message"), str):
            sample_ids(st, ev["message"], record["ts"])
        self.log_records += 1
        out.log_rows = orjson.dumps([record])
        fault = record.get("fault_class")
        if fault:
            note_fault(st, fault, record["ts"])
        rlabels = record.get("labels") or {}
        if rlabels.get("job"):
            st.job = {k: rlabels[k] for k in ("job", "rank") if rlabels.get(k)}
        alerts = self.engine.evaluate_logs(st.rules, host, st.topology or ev.get("labels") or {},
                                           [record], record["ts"])
        out.state = st  # log rules keep window counts in the state: always persist
        routed = self._alerts(out, alerts, st)
        if fault:
            self._correlate(out, "fault", host, record["ts"], st, {"record": record})
        for a in routed:
            self._correlate(out, "alert", host, record["ts"], st, {"alert": a})
        return out

    def on_tick(self, state: HostState, host: str, now_ms: int) -> Outputs:
        """Time-driven work for one host; the state dict is updated in place."""
        out = Outputs(host=host)
        for a in self._alerts(out, self.metrics.tick(state, host, now_ms), state):
            self._correlate(out, "alert", host, now_ms, state, {"alert": a})
        if state.handling:
            out.actions += [(a["fingerprint"].encode(), orjson.dumps(a))
                            for a in escalate(state.handling, self.book, now_ms)]
        return out

    def on_correlate(self, state: dict[str, Any], raw: bytes) -> list[tuple[bytes, bytes]]:
        """One correlation event into its scope's state -> incident messages."""
        return self._incidents(self.correlator.on_event(state, orjson.loads(raw)))

    def on_correlate_tick(self, state: dict[str, Any], now_ms: int) -> list[tuple[bytes, bytes]]:
        return self._incidents(self.correlator.tick(state, now_ms))

    @staticmethod
    def _incidents(msgs: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
        return [(m["incident_id"].encode(), orjson.dumps(m)) for m in msgs]
