"""An incident's life: created, joined, held back, published, updated, resolved.

Every scope (host, place, group, service) builds its incidents with these functions and
leaves their timing to `advance`: an incident is published when its grace period ends,
updated (at most every `update_interval_ms`) when what it says changes, and resolved
when it has been quiet for the window (or `max_open_ms` with an alert still firing,
whose resolve may have been lost). `Step` is one call's working set: the state, what
the call touched, the messages it produces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.events import Incident
from streams.incidents.config import CorrelatorConfig
from streams.incidents.events import Signal
from streams.incidents.messages import incident_id, incident_message, max_severity
from streams.incidents.model import FaultModel
from streams.incidents.state import IncidentState, ScopeState, incident_key

__all__ = ["NEVER", "CorrelatorCounters", "Step", "add_member", "advance", "covered_by_places",
           "emit_updates", "new_incident", "publish", "refresh_probability", "resolve"]

log = logging.getLogger(__name__)

NEVER = 2**62
Status = Literal["open", "updated", "resolved"]


@dataclass
class CorrelatorCounters:
    """What the correlator did, for the books."""

    events: int = 0
    ignored: int = 0  # unusable events (bad shape): counted, never raised
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    merged: int = 0  # host incidents folded into a place incident (published or not)
    inhibited: int = 0  # group incidents not opened because a place incident covers them
    evicted: int = 0  # hosts, alerts or faults dropped to keep the state bounded


@dataclass
class Step:
    """One call's working set."""

    st: ScopeState
    config: CorrelatorConfig
    model: FaultModel | None
    counters: CorrelatorCounters
    # Keys of the incidents this call changed: only they can need an `updated`, and
    # only a call that changed something needs the full due/resolve scan.
    touched: set[str] = field(default_factory=set)
    out: list[Incident] = field(default_factory=list)

    def touch(self, inc: IncidentState) -> None:
        self.touched.add(inc.key)


def new_incident(step: Step, scope: str, value: str, ts: int, due: int) -> IncidentState:
    """A new incident of `scope` (held back until `due`), registered in the state."""
    st = step.st
    id_key = f"{scope}:{value}"
    # The id hashes the opening time: never reuse the one of the previous incident of
    # the same scope (a new one may date its start back before that one closed).
    ts = max(ts, st.ids.get(id_key, -1) + 1)
    st.ids[id_key] = ts
    inc = IncidentState.new(id=incident_id(scope, value, ts), scope=scope, value=value,
                        opened_ms=ts, last_ms=ts, due_ms=max(due, ts),
                        suspect=f"{scope} {value}")
    st.incidents[incident_key(scope, value, ts)] = inc
    step.touch(inc)
    return inc


def add_member(step: Step, inc: IncidentState, sig: Signal) -> None:
    """The host of `sig` and what it reported join the incident."""
    step.touch(inc)
    if sig.host not in inc.hosts:
        inc.hosts.append(sig.host)
    inc.joined_at.setdefault(sig.host, sig.ts)
    if sig.kind == "alert" and sig.fingerprint is not None and sig.affects_host:
        inc.alerts[sig.fingerprint] = True
    if sig.fault_class is not None and sig.fault_class not in inc.faults:
        inc.faults.append(sig.fault_class)
    # hosts that reported, as opposed to being named
    if (sig.symptom or sig.affects_host) and sig.host not in (inc.members or []):
        inc.members = [*(inc.members or []), sig.host]
    if sig.silent and sig.host not in (inc.silent or []):
        inc.silent = [*(inc.silent or []), sig.host]
    inc.severity = max_severity(inc.severity, sig.severity)
    inc.last_ms = max(inc.last_ms, sig.ts)


def covered_by_places(st: ScopeState, hosts: list[str]) -> bool:
    """Is every one of these hosts part of an open place incident in this state?"""
    for h in hosts:
        rec = st.hosts.get(h)
        inc = st.incidents.get(f"{rec.place_label}:{rec.place}") \
            if rec is not None and rec.place else None
        if inc is None or h not in inc.hosts:
            return False
    return bool(hosts)


def _signature(inc: IncidentState) -> list[Any]:
    return [sorted(inc.hosts), sorted(inc.alerts), sorted(inc.faults), inc.suspect,
            inc.severity] + ([[s.host for s in inc.suspects]] if inc.suspects else [])


def publish(step: Step, inc: IncidentState, status: Status, at: int) -> None:
    c = step.counters
    if status == "open":
        inc.published = True
        c.opened += 1
    elif status == "updated":
        c.updated += 1
    else:
        c.resolved += 1
    inc.signature = _signature(inc)
    inc.sent_ms = at
    inc.update_due_ms = None
    step.out.append(incident_message(inc, status, at))


def emit_updates(step: Step, now: int) -> None:
    """`updated` for published incidents whose members changed: now, or (to coalesce
    a burst of changes) `update_interval_ms` after the previous message."""
    for key in sorted(step.touched):
        inc = step.st.incidents.get(key)
        if inc is None or not inc.published or _signature(inc) == inc.signature:
            continue
        next_ok = (inc.sent_ms or 0) + step.config.update_interval_ms
        if now >= next_ok:
            publish(step, inc, "updated", now)
        else:
            inc.update_due_ms = next_ok


def _ready(cfg: CorrelatorConfig, inc: IncidentState) -> int:
    """When a published incident is resolved if nothing more happens."""
    if any(inc.alerts.values()):
        return inc.last_ms + cfg.max_open_ms
    return max(inc.last_ms + cfg.window_ms, inc.cleared_ms or 0)


def _next_action(cfg: CorrelatorConfig, inc: IncidentState) -> int:
    """When this incident is next due to be published or resolved."""
    ready = _ready(cfg, inc)
    nxt = ready if inc.published else min(ready, inc.due_ms)
    if inc.update_due_ms is not None:
        nxt = min(nxt, inc.update_due_ms)
    return nxt


def advance(step: Step, now: int) -> None:
    """Publish incidents whose grace ended and resolve quiet ones, in time order."""
    st, cfg = step.st, step.config
    if not step.touched and now < (st.next_due_ms if st.next_due_ms is not None else 0):
        return  # nothing changed since the last scan, and nothing is due yet
    due: list[tuple[int, int, str]] = []
    for key, inc in st.incidents.items():
        if not inc.published and inc.due_ms <= now:
            due.append((inc.due_ms, 0, key))
        ready = _ready(cfg, inc)
        if ready <= now:
            due.append((ready, 1, key))
        if inc.update_due_ms is not None and inc.update_due_ms <= now:
            due.append((inc.update_due_ms, 2, key))
    for at, what, key in sorted(due):
        found = st.incidents.get(key)
        if found is None:
            continue
        if what == 2:
            if found.update_due_ms == at and _signature(found) != found.signature:
                publish(step, found, "updated", at)
            found.update_due_ms = None
        elif what == 0:
            if found.scope not in ("host", "service", *cfg.place_labels) \
                    and covered_by_places(st, found.hosts):
                del st.incidents[key]  # the place failed under the group while it waited
                step.counters.inhibited += 1
                continue
            publish(step, found, "open", at)
        else:
            resolve(step, key, at)
    st.next_due_ms = min((_next_action(cfg, inc) for inc in st.incidents.values()),
                         default=NEVER)


def resolve(step: Step, key: str, at: int) -> None:
    """Resolve the incident under `key` now (published first if it never was)."""
    inc = step.st.incidents.pop(key)
    if not inc.published:
        publish(step, inc, "open", min(at, inc.due_ms))
    publish(step, inc, "resolved", at)


def refresh_probability(step: Step, inc: IncidentState) -> None:
    """The incident's fault probability: its most likely host's, with what drove it."""
    best: float | None = None
    drivers: dict[str, float] = {}
    for host in sorted(inc.hosts):
        rec = step.st.hosts.get(host)
        p = rec.probability if rec is not None else None
        if rec is not None and p is not None and (best is None or p > best):
            best, drivers = p, rec.drivers
    inc.probability = best
    if drivers:
        inc.evidence["probability_drivers"] = drivers
