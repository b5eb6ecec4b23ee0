"""Place incidents: several hosts of one rack (or node, zone...) failing together.

A place incident opens when `rack_min_hosts` hosts (or `rack_min_fraction` of a place
of known size) of one place show the same kind of trouble (Signal.signature) within
`window_ms`. It names the place as the suspect, takes over those hosts (host incidents
already published are resolved with a pointer to it) and absorbs hosts of that place
that fail while it is open. The place is the first of `CorrelatorConfig.place_labels`
a host has; a host with none is in no place incident, ever.
"""

from __future__ import annotations

import logging

from streams.incidents.events import SHARED
from streams.incidents.hints import rack_hint
from streams.incidents.lifecycle import Step, new_incident, publish, refresh_probability
from streams.incidents.messages import max_severity
from streams.incidents.state import IncidentState

__all__ = ["maybe_place", "refresh_place"]

log = logging.getLogger(__name__)


def _affected_by_kind(step: Step, label: str, place: str, since: int) -> dict[str, list[str]]:
    """Hosts of the place per kind of trouble (signature) seen since `since`."""
    by_kind: dict[str, list[str]] = {}
    for name in sorted(step.st.hosts):
        h = step.st.hosts[name]
        if h.place != place or h.place_label != label:
            continue
        for kind, ts in h.signatures.items():
            if ts >= since:
                by_kind.setdefault(kind, []).append(name)
    return by_kind


def maybe_place(step: Step, label: str, place: str, now: int) -> None:
    """Open a place incident when enough hosts of the place show the same kind of
    trouble (see Signal.signature) within the window."""
    st, cfg = step.st, step.config
    since = now - cfg.window_ms
    by_kind = _affected_by_kind(step, label, place, since)
    size = st.place_sizes.get(place) or cfg.rack_sizes.get(place)

    def enough(n: int) -> bool:
        return n >= cfg.rack_min_hosts or (
            size is not None and n >= cfg.rack_fraction_floor
            and n >= cfg.rack_min_fraction * size)

    kinds = sorted((k for k, hosts in by_kind.items() if enough(len(hosts))),
                   key=lambda k: (k != SHARED, -len(by_kind[k]), k))
    if not kinds:
        return
    common = kinds[0]
    affected = by_kind[common]
    first = min((_host_first(step, h, since) for h in affected), default=now)
    inc = new_incident(step, label, place, first, first)
    merged = _take_over(step, inc, affected, label, place)
    for host in affected:  # silent hosts without a host incident of their own
        if (st.hosts[host].silent_ms or -1) >= since and host not in (inc.silent or []):
            inc.silent = [*(inc.silent or []), host]
    if size is not None:
        inc.evidence["rack_size"] = size
    if common != SHARED:
        inc.evidence["common"] = common.split(":", 1)[1]
    if merged:  # host incidents already published, now resolved into this one
        inc.evidence["merged"] = [h.id for h in merged]
    refresh_place(step, inc)
    publish(step, inc, "open", now)
    for hinc in merged:  # after the place incident, so the pointer is never dangling
        publish(step, hinc, "resolved", now)


def _take_over(step: Step, inc: IncidentState, affected: list[str], label: str,
               place: str) -> list[IncidentState]:
    """The affected hosts join; their host incidents fold in (the published ones are
    returned, to be resolved with a pointer to the place incident)."""
    st = step.st
    merged: list[IncidentState] = []
    for host in affected:
        inc.hosts.append(host)
        hinc = st.incidents.pop(f"host:{host}", None)
        if hinc is None:
            inc.joined_at[host] = st.hosts[host].affected_ms or 0
            continue
        step.counters.merged += 1
        inc.alerts.update(hinc.alerts)
        inc.faults += [f for f in hinc.faults if f not in inc.faults]
        inc.silent = sorted(set(inc.silent or []) | set(hinc.silent or []))
        inc.severity = max_severity(inc.severity, hinc.severity)
        inc.last_ms = max(inc.last_ms, hinc.last_ms)
        inc.joined_at[host] = hinc.joined_at.get(host, hinc.opened_ms)
        if hinc.published:
            hinc.evidence = {**hinc.evidence, "merged_into": inc.id}
            hinc.hint += f" Merged into {label} incident {inc.id} ({label} {place})."
            merged.append(hinc)
    return merged


def _host_first(step: Step, host: str, since: int) -> int:
    inc = step.st.incidents.get(f"host:{host}")
    if inc is not None:
        return inc.opened_ms
    aff = step.st.hosts[host].affected_ms
    return aff if aff is not None else since


def refresh_place(step: Step, inc: IncidentState) -> None:
    """Suspect, hint and evidence of a place incident from what it holds now."""
    place, label = inc.value, inc.scope
    at = inc.joined_at
    span = max(at.values()) - min(at.values()) if at else 0
    size = step.st.place_sizes.get(place) or step.config.rack_sizes.get(place)
    hosts = sorted(inc.hosts)
    since = inc.opened_ms - step.config.window_ms
    network = [h for h in hosts
               if (getattr(step.st.hosts.get(h), "network_ms", None) or -1) >= since]
    inc.suspect = f"{label} {place}"
    inc.hint = rack_hint(place, hosts, sorted(inc.silent or []), size, span,
                         inc.evidence.get("common"), network, place_label=label)
    inc.evidence["affected_hosts"] = len(hosts)
    inc.evidence["silent_hosts"] = sorted(inc.silent or [])
    inc.evidence["span_ms"] = span
    refresh_probability(step, inc)
