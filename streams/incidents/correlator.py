"""Alerts and fault events -> incidents, per host, place, group and service domain.

The correlator is a pure state machine over one plain-JSON state per state key (the
worker keeps one per key in a changelogged table; see events.routes_for for the keys).
It answers each event, and each tick, with the incident messages to publish. Time is
event time only: the same events in the same order give the same messages, whatever
the wall clock or the cadence of ticks.

Scopes, each in its own module:
- host (hostscope): one host's own trouble, held back `grace_ms` in case its place fails;
- place (placescope): several hosts of one rack (node, zone...) failing together;
- group (groupscope): hosts sharing a job (or another group label), pointing at the
  member with the first hard fault;
- service (servicescope): alerts of service rules across a service domain, with ranked
  suspects (suspects, callgraph).
The state is a typed record (state.ScopeState) read from and written back to the
caller's dict on each call; lifecycle times publishing, updates and resolution, and
pruning keeps the state bounded.
"""

from __future__ import annotations

import logging
from typing import Any

from streams.incidents.callgraph import learn_from_traces
from streams.incidents.config import CorrelatorConfig
from streams.incidents.events import FLEET, Signal, read_event
from streams.incidents.features import features_from_context
from streams.incidents.groupscope import on_group_signal
from streams.incidents.hostscope import on_host_signal
from streams.incidents.lifecycle import CorrelatorCounters, Step, advance, emit_updates
from streams.incidents.model import FaultModel, ModelError
from streams.incidents.pruning import prune
from streams.incidents.servicescope import on_service_signal, refresh_service
from streams.incidents.state import AlertRecord, HostRecord, ScopeState

__all__ = ["Correlator", "CorrelatorCounters"]

log = logging.getLogger(__name__)


def _load_default_model() -> FaultModel | None:
    try:
        return FaultModel.default()
    except (OSError, ModelError, ValueError) as e:
        log.warning("no default fault model (%s); incidents carry no fault probability", e)
        return None


class Correlator:
    """Groups correlation events into incidents; all state lives in the dict passed in."""

    def __init__(self, config: CorrelatorConfig | None = None,
                 model: FaultModel | None = None) -> None:
        self.config = config or CorrelatorConfig()
        self.model = model if model is not None else _load_default_model()
        self.counters = CorrelatorCounters()

    def on_event(self, state: dict[str, Any], event: dict[str, Any]) -> list[dict[str, Any]]:
        """One correlation event -> the incident messages it causes (state updated in place)."""
        self.counters.events += 1
        cfg = self.config
        sig = read_event(event, cfg.group_labels, cfg.place_labels)
        if isinstance(sig, str):
            self.counters.ignored += 1
            log.debug("correlation event ignored: %s", sig)
            return []
        if sig.kind == "traces" and _quiet(state, sig.ts):
            self._traces_only(state, sig)
            return []
        step = Step(ScopeState(state), cfg, self.model, self.counters)
        st = step.st
        now = max(st.watermark_ms, sig.ts)
        advance(step, now)
        st.watermark_ms = now
        if sig.kind != "traces":  # trace ids say nothing about the host itself
            _observe(step, sig)
        route = sig.route
        if sig.kind == "traces":
            if cfg.learn_call_graph and (route is None or route[0] == "service"):
                learn_from_traces(st.learned_graph(), st.seen_traces(), sig.host, sig.traces,
                                  cfg.trace_window_ms, cfg.max_graph_edges, cfg.max_trace_ids)
        elif sig.service:
            if route is None or route[0] == "service":
                domain = route[1] if route is not None else _domain(cfg, sig)
                on_service_signal(step, sig, domain)
        else:
            if route is None or route[0] in ("host", *cfg.place_labels):
                on_host_signal(step, sig)
            for label, value in sorted(sig.groups.items()):
                if route is None or route == (label, value):
                    on_group_signal(step, sig, label, value)
        emit_updates(step, now)
        advance(step, now)
        prune(step)
        return [dict(m) for m in step.out]

    def _traces_only(self, state: dict[str, Any], sig: Signal) -> None:
        """A `traces` event when nothing is due: learn from it on the plain state, without
        reading the whole state into records (every service sends one a minute)."""
        cfg = self.config
        state["wm"] = max(state.get("wm", 0), sig.ts)
        if cfg.learn_call_graph and (sig.route is None or sig.route[0] == "service"):
            learn_from_traces(state.setdefault("cg", {}), state.setdefault("tr", {}), sig.host,
                              sig.traces, cfg.trace_window_ms, cfg.max_graph_edges,
                              cfg.max_trace_ids)

    def tick(self, state: dict[str, Any], now_ms: int) -> list[dict[str, Any]]:
        """Time passing: publish held-back incidents, resolve quiet ones."""
        step = Step(ScopeState(state), self.config, self.model, self.counters)
        now = max(step.st.watermark_ms, now_ms)
        advance(step, now)
        step.st.watermark_ms = now
        prune(step)
        return [dict(m) for m in step.out]


def _quiet(state: dict[str, Any], ts: int) -> bool:
    """Nothing is due in this state up to `ts`: no incident to publish, update or resolve,
    no pruning (what `advance` and `prune` would find)."""
    if state.get("inc"):
        nx = state.get("nx")
        if not isinstance(nx, int) or ts >= nx:
            return False
    np_ = state.get("np")
    return isinstance(np_, int) and max(state.get("wm", 0), ts) < np_


def _domain(cfg: CorrelatorConfig, sig: Signal) -> str:
    """The service domain of a signal seen without a route (one state for everything)."""
    return next((sig.labels[lab] for lab in cfg.service_domain_labels if sig.labels.get(lab)),
                FLEET)


def _observe(step: Step, sig: Signal) -> None:
    """Remember the host, its scores, its alerts and faults."""
    st = step.st
    h = st.hosts.get(sig.host)
    if h is None:
        h = st.hosts[sig.host] = HostRecord.new()
    h.seen_ms = max(h.seen_ms, sig.ts)
    if sig.place:
        h.place, h.place_label = sig.place, sig.place_label
        if sig.rack_size:
            st.place_sizes[sig.place] = sig.rack_size
    if sig.rank is not None:
        for label, value in sig.groups.items():
            h.set_rank(f"{label}={value}", sig.rank)
    if sig.affects_host:
        h.affected_ms = max(h.affected_ms or 0, sig.ts)
    signature = sig.signature
    if signature is not None and not sig.service:
        h.note_signature(signature, sig.ts)
    if sig.silent:
        h.silent_ms = max(h.silent_ms or 0, sig.ts)
    if sig.network and sig.affects_host:
        h.network_ms = max(h.network_ms or 0, sig.ts)
    if step.model is not None and sig.context is not None:
        feats = features_from_context(sig.context)
        h.probability = round(step.model.score(feats), 6)
        h.drivers = step.model.contributions(feats)
    if sig.kind == "alert" and sig.fingerprint is not None:
        _observe_alert(step, sig)
    if sig.kind == "fault" and sig.fault_class is not None:
        st.faults.append([sig.ts, sig.host, sig.fault_class, sig.gpu, sig.rank,
                          dict(sig.groups), sig.severity])


def _observe_alert(step: Step, sig: Signal) -> None:
    """A firing alert is remembered; a resolve marks it cleared in its incidents."""
    st = step.st
    assert sig.fingerprint is not None
    a = st.alerts.get(sig.fingerprint)
    if sig.affects_host:
        started = sig.started_ms if sig.service else None
        if a is not None and a.firing and a.started_ms is not None and sig.service:
            started = a.started_ms  # a re-send of the same episode
        st.alerts[sig.fingerprint] = AlertRecord.new(
            host=sig.host, severity=sig.severity, ts=sig.ts,
            summary=sig.summary, gpu=sig.gpu, groups=dict(sig.groups),
            signal=sig.signal_class, started_ms=started,
            rule=sig.rule if sig.service else "")
    elif a is not None and not sig.firing:
        a.firing = False
        a.ts = max(a.ts, sig.ts)
        for inc in st.incidents.values():
            if sig.fingerprint in inc.alerts:
                inc.alerts[sig.fingerprint] = False
                inc.cleared_ms = max(inc.cleared_ms or 0, sig.ts)
                step.touch(inc)
                if inc.scope == "service":
                    refresh_service(step, inc)
