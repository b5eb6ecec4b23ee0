"""Service incidents: trouble across a service fleet, with its ranked suspects.

Alerts of service rules (a `signal` label) are correlated per service domain (a cluster,
or the whole fleet; see events.routes_for), not per place: in a service fleet the
culprit and its victims are in different pods on different nodes. Trouble that starts
within `service_burst_ms` of the newest start in an open service incident joins it, and
so does a further alert of a service whose trouble in it goes on; later trouble (a new
episode of an alert it already had included) is a new burst and opens a new incident.
An incident is held back `service_grace_ms`, so the alerts of the same samples on the
culprit and on its callers are in it when its suspects are first ranked
(streams.incidents.suspects); `suspect` names the first of them.
"""

from __future__ import annotations

import logging
from typing import Any

from streams.core.timefmt import ms_to_rfc3339
from streams.incidents.callgraph import CallGraph, labelled_callees, learn_edge
from streams.incidents.events import Signal
from streams.incidents.history import iter_series, minute_rows
from streams.incidents.lifecycle import Step, add_member, new_incident
from streams.incidents.state import IncidentState
from streams.incidents.suspects import OWN_SIGNALS, Evidence, rank_suspects

__all__ = ["on_service_signal", "refresh_service", "series_changes"]

log = logging.getLogger(__name__)

_LABELLED_WEIGHT = 1000.0  # an edge a host's `calls` label states is as good as known
# Evidence of a service incident: how its members' key series moved (series_changes).
_DESCRIBED = ("serving.", "log.", "cpu.usage", "mem.usage")
_MIN_CHANGE = 0.5  # the last minute at least double the earlier ones, or at most half
_MAX_SERIES_DESCRIBED = 4
_MAX_HOSTS_DESCRIBED = 8
_MAX_SUSPECTS = 10


def on_service_signal(step: Step, sig: Signal, domain: str) -> None:
    """A service alert of `domain`: evidence, and an incident to join or open."""
    st = step.st
    if sig.firing:
        for callee in labelled_callees(sig.labels):
            st.learned_graph().setdefault(sig.host, {})[callee] = _LABELLED_WEIGHT
    if not sig.affects_host:
        return
    start = sig.started_ms if sig.started_ms is not None else sig.ts
    if step.config.learn_call_graph:
        _learn(step, sig, start)
    inc = _incident_for(step, sig, start, domain)
    if inc is None:
        inc = new_incident(step, "service", domain, start,
                           sig.ts + step.config.service_grace_ms)
        inc.evidence["domain"] = domain
    add_member(step, inc, sig)
    inc.onset_ms = max(inc.onset_ms or start, start)
    changes = series_changes(sig.context)
    if changes:
        seen = inc.evidence.setdefault("changes", {})
        if sig.host in seen or len(seen) < _MAX_HOSTS_DESCRIBED:
            seen[sig.host] = changes
    refresh_service(step, inc)


def series_changes(context: dict[str, Any] | None) -> dict[str, list[float]]:
    """The host's serving, log, CPU and memory series that moved most in its context:
    {series: [average of the earlier minutes, the last minute]}, the largest relative
    changes first (what an operator looks at first on the suspect's dashboard)."""
    moved: list[tuple[float, str, list[float]]] = []
    for name, labels, summary in iter_series(context):
        if not name.startswith(_DESCRIBED) or labels:
            continue
        rows = minute_rows(summary)
        if len(rows) < 3:
            continue
        before = sum(r[3] for r in rows[:-1]) / (len(rows) - 1)
        now = rows[-1][3]
        scale = max(abs(before), abs(now), 1e-9)
        change = abs(now - before) / scale
        if change >= _MIN_CHANGE:
            moved.append((-change, name, [round(before, 6), round(now, 6)]))
    return {name: pair for _, name, pair in sorted(moved)[:_MAX_SERIES_DESCRIBED]}


def _incident_for(step: Step, sig: Signal, start: int, domain: str) -> IncidentState | None:
    """The open service incident this trouble belongs to, if any, newest first: the one
    that holds this episode of the alert already (a re-send); one where the service's
    trouble goes on (an alert of it that started within `window_ms` still firing) and
    this alert is new to it (a rule that took longer to fire); else the newest whose
    latest start of trouble is at most `service_burst_ms` before this one. A new
    episode of an alert the incident already had is new trouble: it only joins within
    the burst window."""
    cands = sorted((i for i in step.st.incidents.values()
                    if i.scope == "service" and i.value == domain),
                   key=lambda i: i.opened_ms, reverse=True)
    fp = sig.fingerprint
    for inc in cands:
        if fp in inc.alerts and inc.onset_ms is not None and start <= inc.onset_ms:
            return inc
    for inc in cands:
        if fp not in inc.alerts and _still_in_trouble(step, inc, sig.host, start):
            return inc
    burst = step.config.service_burst_ms
    for inc in cands:
        if start <= (inc.onset_ms or inc.opened_ms) + burst:
            return inc
    return None


def _still_in_trouble(step: Step, inc: IncidentState, host: str, start: int) -> bool:
    """Does `host` have an alert in the incident that is still firing and started at
    most `window_ms` before `start` (trouble that goes on, not an old level shift)?"""
    since = start - step.config.window_ms
    for fp, firing in inc.alerts.items():
        a = step.st.alerts.get(fp)
        if firing and a is not None and a.host == host and a.firing \
                and (a.started_ms if a.started_ms is not None else a.ts) >= since:
            return True
    return False


def _learn(step: Step, sig: Signal, start: int) -> None:
    """Calls of one service suffering as another's own trouble starts: caller -> callee."""
    st, cfg = step.st, step.config
    tol = cfg.onset_tolerance_ms
    mine = sig.signal_class
    for a in st.alerts.values():
        if a.host == sig.host or not a.firing or a.signal is None:
            continue
        other = a.started_ms if a.started_ms is not None else a.ts
        if abs(other - start) > tol:
            continue
        if mine == "calls" and a.signal in OWN_SIGNALS:
            learn_edge(st.learned_graph(), sig.host, a.host, cfg.max_graph_edges)
        elif mine in OWN_SIGNALS and a.signal == "calls":
            learn_edge(st.learned_graph(), a.host, sig.host, cfg.max_graph_edges)


def refresh_service(step: Step, inc: IncidentState) -> None:
    """Suspects, suspect, hint and evidence of a service incident."""
    st, cfg = step.st, step.config
    evidence = []
    for fp in sorted(inc.alerts):
        a = st.alerts.get(fp)
        if a is None or a.signal is None:
            continue
        start = a.started_ms if a.started_ms is not None else a.ts
        evidence.append(Evidence(a.host, a.signal, start, a.rule))
    graph = CallGraph(cfg.call_graph, st.graph)
    ranked = rank_suspects(evidence, graph, cfg.onset_tolerance_ms)
    inc.suspects = ranked[:_MAX_SUSPECTS]  # the message stays small in a big fleet
    if not inc.suspects:
        return
    top = inc.suspects[0]
    inc.suspect = f"host {top.host}"
    others = ", ".join(s.host for s in inc.suspects[1:4])
    inc.hint = (f"Service {top.host}: {top.reason}."
                + (f" Also affected: {others}." if others else ""))
    inc.evidence["onset"] = ms_to_rfc3339(min(e.start_ms for e in evidence))
    inc.evidence["services"] = len(ranked)
