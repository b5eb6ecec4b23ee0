"""Ranking the services of an incident as candidate causes, as an SRE reads a dashboard.

Each service's alerts in the incident are evidence of a kind (their rule's `signal`
label, see CorrelatorConfig / docs/rules.md) and a start (the sample the alert's episode
began with). The ranking asks three questions:

1. Is it the service's *own* trouble? Server-side latency, errors, saturation (CPU,
   memory, throttling), restarts or silence, its logs: yes. Its *calls* being slow
   (client-side latency) is evidence against what it calls, not against it.
2. Is that trouble *explained* by something else in the incident? A service whose only
   own symptom is latency, while its calls slowed from the same moment, is waiting on a
   callee. A service with latency, errors or new log lines (what spreads to callers,
   unlike saturation or restarts) while a service it is known to call (per the call
   graph, streams.incidents.callgraph) had own trouble from no later is downstream of
   it: the deepest service in trouble is the likeliest cause. A service whose calls
   suffer while another service it may call has own trouble (not merely waiting) that
   started no later is a victim of it.
3. Whose trouble *started first*? Causes precede their effects; starts within
   `onset_tolerance_ms` count as the same moment (callers slow down in the very sample
   their callee does).

Points: unexplained own trouble 1 (+0.5 for each further kind of it), explained own
trouble 0.4, unexplained slow calls 0.5 (the service's own network, or a callee without
alerts), explained slow calls 0.1, traffic changes alone 0.1; plus 0.5 for the earliest
start in the incident and 0.2 per victim the service explains through a known edge.
Ties go to the earlier start, then the name. A suspect's score is its share of all
points. The weights are round numbers set by these rules, not fitted to any dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from streams.core.timefmt import ms_to_rfc3339
from streams.incidents.callgraph import CallGraph
from streams.incidents.state import Suspect

__all__ = ["OWN_SIGNALS", "Evidence", "rank_suspects"]

log = logging.getLogger(__name__)

OWN_SIGNALS = ("errors", "latency", "saturation", "down", "logs")
# What a callee's trouble does to its callers: slow them, fail them, make them log new
# errors. Not saturate them or restart them: that trouble is their own.
_PROPAGATING = frozenset({"latency", "errors", "logs"})
_OWN_BASE, _OWN_EXTRA, _OWN_EXPLAINED = 1.0, 0.5, 0.4
_CALLS, _CALLS_EXPLAINED, _LOAD = 0.5, 0.1, 0.1
_FIRST, _PER_VICTIM = 0.5, 0.2


@dataclass(frozen=True, slots=True)
class Evidence:
    """One alert of a service in the incident: what kind, and since when."""

    host: str
    signal: str  # one of config.SIGNAL_CLASSES
    start_ms: int
    rule: str = ""


@dataclass(slots=True)
class _Service:
    """What one service's evidence adds up to."""

    own: dict[str, int] = field(default_factory=dict)  # signal -> earliest start
    calls: int | None = None
    load: int | None = None
    explained_latency: bool = False
    causes: list[str] = field(default_factory=list)  # services its slow calls wait on
    upstream_of: list[str] = field(default_factory=list)  # known callees in trouble first

    @property
    def onset(self) -> int:
        starts = [*self.own.values(), *(t for t in (self.calls, self.load) if t is not None)]
        return min(starts)

    @property
    def own_onset(self) -> int | None:
        return min(self.own.values()) if self.own else None

    @property
    def unexplained_own(self) -> bool:
        return bool(self.own) and not self.explained_latency and not self.upstream_of


def _collect(evidence: Iterable[Evidence]) -> dict[str, _Service]:
    out: dict[str, _Service] = {}
    for e in evidence:
        s = out.setdefault(e.host, _Service())
        if e.signal in OWN_SIGNALS:
            s.own[e.signal] = min(s.own.get(e.signal, e.start_ms), e.start_ms)
        elif e.signal == "calls":
            s.calls = e.start_ms if s.calls is None else min(s.calls, e.start_ms)
        else:
            s.load = e.start_ms if s.load is None else min(s.load, e.start_ms)
    return out


def _explain(services: dict[str, _Service], graph: CallGraph, tol: int) -> None:
    """Mark latency explained by slow calls, own trouble explained by a known callee's
    (trouble spreads up the call graph: the deepest service in trouble is the likeliest
    cause), and slow calls explained by callees."""
    for s in services.values():
        lat = s.own.get("latency")
        s.explained_latency = (set(s.own) == {"latency"} and s.calls is not None
                               and lat is not None and s.calls <= lat + tol)
    for name, s in services.items():
        mine = s.own_onset
        if mine is None or not set(s.own) <= _PROPAGATING:
            continue
        for other, o in sorted(services.items()):
            theirs = o.own_onset
            if other != name and theirs is not None and theirs <= mine + tol \
                    and graph.calls(name, other):
                s.upstream_of.append(other)
    for name, s in services.items():
        if s.calls is None:
            continue
        for other, o in sorted(services.items()):
            start = o.own_onset
            if other != name and start is not None and not o.explained_latency \
                    and start <= s.calls + tol and graph.may_explain(name, other):
                s.causes.append(other)


def _points(name: str, s: _Service, services: dict[str, _Service], graph: CallGraph,
            first: int, tol: int) -> float:
    if s.unexplained_own:
        p = _OWN_BASE + _OWN_EXTRA * (len(s.own) - 1)
    elif s.own:
        p = _OWN_EXPLAINED
    else:
        p = 0.0
    if s.calls is not None and not s.unexplained_own:
        p += _CALLS_EXPLAINED if s.causes else _CALLS
    if p == 0.0 and s.load is not None:
        p = _LOAD
    if s.onset <= first + tol:
        p += _FIRST
    victims = sum(1 for other, o in services.items()
                  if other != name and graph.calls(other, name)
                  and (name in o.causes or name in o.upstream_of))
    return p + _PER_VICTIM * victims


def _reason(name: str, s: _Service, services: dict[str, _Service]) -> str:
    """One line on why the service is where it is in the ranking."""
    since = ms_to_rfc3339(s.onset)
    if s.unexplained_own:
        kinds = ", ".join(sorted(s.own))
        callers = sorted(o for o, v in services.items()
                     if name in v.causes or name in v.upstream_of)
        tail = f"; callers suffering with it: {', '.join(callers[:5])}" if callers else ""
        return f"own trouble ({kinds}) since {since}{tail}"
    if s.upstream_of:
        kinds = ", ".join(sorted(s.own))
        return (f"own trouble ({kinds}) since {since}, as its callee "
                f"{', '.join(s.upstream_of[:3])} had trouble from the same moment")
    if s.own and s.calls is not None:
        return f"latency since {since}, with its own calls slow: waiting on a callee"
    if s.calls is not None and s.causes:
        return f"its calls slow since {since}, as {', '.join(s.causes[:3])} had trouble"
    if s.calls is not None:
        return (f"its calls slow since {since}, no callee in trouble: its network or an "
                "unseen callee")
    return f"traffic changed since {since}"


def rank_suspects(evidence: Iterable[Evidence], graph: CallGraph | None = None,
                  tolerance_ms: int = 60_000) -> list[Suspect]:
    """The services of the evidence as ranked suspects, best first (see module doc)."""
    services = _collect(evidence)
    if not services:
        return []
    g = graph or CallGraph()
    _explain(services, g, tolerance_ms)
    first = min(s.onset for s in services.values())
    points = {n: _points(n, s, services, g, first, tolerance_ms) for n, s in services.items()}
    total = sum(points.values()) or 1.0
    order = sorted(services, key=lambda n: (-points[n], services[n].onset, n))
    return [Suspect(n, round(points[n] / total, 4), _reason(n, services[n], services))
            for n in order]
