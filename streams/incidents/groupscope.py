"""Group incidents: hosts sharing a configured label value (a job, a switch) in trouble.

Opened when `group_min_hosts` hosts sharing a value are affected or report a job-wide
symptom (NCCL) within the window, unless open place incidents already cover them all.
It points at the member whose host had the first hard fault (looking back
`fault_lookback_ms`: NCCL gives up minutes after the rank that caused it died).
"""

from __future__ import annotations

import logging
from typing import Any

from streams.core.timefmt import ms_to_rfc3339
from streams.incidents.config import SYMPTOM_FAULTS
from streams.incidents.events import Signal
from streams.incidents.hints import group_hint
from streams.incidents.lifecycle import (
    Step,
    add_member,
    covered_by_places,
    new_incident,
    refresh_probability,
)
from streams.incidents.messages import max_severity
from streams.incidents.state import FaultRecord, IncidentState

__all__ = ["on_group_signal"]

log = logging.getLogger(__name__)

_MAX_RANKS_SHOWN = 64


def on_group_signal(step: Step, sig: Signal, label: str, value: str) -> None:
    """A signal of a member of group `label=value`: join its incident, or open one."""
    if not (sig.affects_host or sig.symptom):
        return
    st, cfg = step.st, step.config
    active = st.groups.setdefault(f"{label}={value}", {})
    active[sig.host] = max(active.get(sig.host, 0), sig.ts)
    inc = st.incidents.get(f"{label}:{value}")
    if inc is not None:
        joined = sig.host not in inc.hosts
        add_member(step, inc, sig)
        if joined:  # its earlier faults may hold the first hard fault
            _scan_first_fault(step, inc, label, value, host=sig.host)
        elif sig.kind == "fault" and sig.affects_host:
            _scan_first_fault(step, inc, label, value, entries=[st.faults[-1]])
        _refresh_group(step, inc, label, value)
        return
    since = st.watermark_ms - cfg.window_ms
    members = sorted(h for h, t in active.items() if t >= since)
    if len(members) < cfg.group_min_hosts:
        return
    if covered_by_places(st, members):
        step.counters.inhibited += 1
        return
    first = min(active[h] for h in members)
    inc = new_incident(step, label, value, first, first + cfg.grace_ms)
    for h in members:
        inc.hosts.append(h)
        inc.members = [*(inc.members or []), h]
        inc.joined_at[h] = active[h]
    for ts, _host, cls, _gpu, _rank, groups, sev in st.faults:
        if ts >= since and groups.get(label) == value and cls not in inc.faults:
            inc.faults.append(cls)
            inc.severity = max_severity(inc.severity, sev)
    for fp, a in sorted(st.alerts.items()):
        if a.firing and a.ts >= since and a.groups.get(label) == value:
            inc.alerts[fp] = True
            inc.severity = max_severity(inc.severity, a.severity)
    add_member(step, inc, sig)
    _scan_first_fault(step, inc, label, value)
    _refresh_group(step, inc, label, value)


def _scan_first_fault(step: Step, inc: IncidentState, label: str, value: str, *,
                      host: str | None = None,
                      entries: list[FaultRecord] | None = None) -> None:
    """Fold remembered faults (all, one host's, or the given ones) into the group's
    earliest hard fault of a member."""
    since = inc.opened_ms - step.config.fault_lookback_ms
    members = set(inc.hosts)
    best = inc.group_first_fault
    for f in step.st.faults if entries is None else entries:
        ts, fhost, cls, _gpu, _rank, groups, sev = f
        if ts < since or cls in SYMPTOM_FAULTS or sev == "info":
            continue
        if host is not None and fhost != host:
            continue
        if groups.get(label) != value and fhost not in members:
            continue
        if best is None or (ts, fhost) < (best[0], best[1]):
            best = f
    inc.group_first_fault = best


def _first_hard_fault(step: Step, inc: IncidentState, label: str,
                      value: str) -> dict[str, Any] | None:
    best = inc.group_first_fault
    if best is None:
        return None
    ts, host, cls, gpu, rank, _groups, _sev = best
    if rank is None:
        rec = step.st.hosts.get(host)
        rank = rec.ranks.get(f"{label}={value}") if rec is not None else None
    return {"host": host, "rank": rank, "gpu": gpu, "fault_class": cls,
            "at": ms_to_rfc3339(ts), "ts": ts}


def _refresh_group(step: Step, inc: IncidentState, label: str, value: str) -> None:
    """Suspect, hint and evidence of a group incident from what it holds now."""
    first = _first_hard_fault(step, inc, label, value)
    symptoms = sorted(f for f in inc.faults if f in SYMPTOM_FAULTS)
    if first is not None:
        if first["host"] not in inc.hosts:
            inc.hosts.append(first["host"])
        if first["fault_class"] not in inc.faults:
            inc.faults.append(first["fault_class"])
        who = f"host {first['host']}"
        if first["gpu"] is not None:
            who += f" gpu {first['gpu']}"
        if first["rank"] is not None:
            who += f" (rank {first['rank']})"
        inc.suspect = who
        inc.evidence["first_fault"] = {k: v for k, v in first.items() if k != "ts"}
    else:
        inc.suspect = f"{label} {value}"
        inc.evidence.pop("first_fault", None)
    ranks: dict[str, str | None] = {}
    for h in sorted(inc.hosts):
        rec = step.st.hosts.get(h)
        ranks[h] = rec.ranks.get(f"{label}={value}") if rec is not None else None
    known = {h: r for h, r in ranks.items() if r is not None}
    inc.evidence["ranks"] = dict(list(known.items())[:_MAX_RANKS_SHOWN])
    if len(known) > _MAX_RANKS_SHOWN:  # a 4096-rank job must not bloat every message
        inc.evidence["ranks_not_shown"] = len(known) - _MAX_RANKS_SHOWN
    inc.hint = group_hint(label, value, sorted(inc.members or []), symptoms, first)
    refresh_probability(step, inc)
