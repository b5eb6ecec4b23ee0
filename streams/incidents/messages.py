"""Incident identity and the `rackwatch.incident/v1` messages built from incident state.

An incident id is derived from what the incident is about and when it began, so the
same input always yields the same id, and a replay of history reproduces the ids the
live pipeline published (idempotent writes to ClickHouse rely on it).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Literal

from schemas.events import Incident, Severity
from schemas.ids import INCIDENT
from streams.core.timefmt import ms_to_rfc3339
from streams.incidents.state import IncidentState

__all__ = ["SEVERITY_RANK", "incident_id", "incident_message", "max_severity"]

log = logging.getLogger(__name__)

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


def incident_id(scope: str, scope_value: str, opened_ms: int) -> str:
    """"inc-" + 12 hex digits of a hash of scope, scope value and opening time."""
    digest = hashlib.sha256(f"{scope}\x1f{scope_value}\x1f{opened_ms}".encode()).hexdigest()
    return "inc-" + digest[:12]


def max_severity(a: str, b: str) -> Severity:
    """The more severe of two severities (unknown ones count as info)."""
    best = a if SEVERITY_RANK.get(a, 0) >= SEVERITY_RANK.get(b, 0) else b
    if best == "critical":
        return "critical"
    if best == "warning":
        return "warning"
    return "info"


def incident_message(inc: IncidentState, status: Literal["open", "updated", "resolved"],
                     at_ms: int) -> Incident:
    """The message for one incident state at event time `at_ms`. `suspects` (ranked
    candidate causes, best first) is there only for incidents that rank them."""
    prob = inc.probability
    msg: Incident = {
        "schema": INCIDENT,
        "incident_id": inc.id,
        "status": status,
        "scope": inc.scope,
        "scope_value": inc.value,
        "suspect": inc.suspect,
        "root_cause_hint": inc.hint,
        "fault_probability": None if prob is None else round(float(prob), 4),
        "hosts": sorted(inc.hosts),
        "alerts": sorted(inc.alerts),
        "fault_classes": sorted(inc.faults),
        "severity": max_severity(inc.severity, "info"),
        "opened_at": ms_to_rfc3339(inc.opened_ms),
        "updated_at": ms_to_rfc3339(at_ms),
        "resolved_at": ms_to_rfc3339(at_ms) if status == "resolved" else None,
        "evidence": dict(inc.evidence),
    }
    if inc.suspects:
        msg["suspects"] = [{"host": s.host, "score": s.score, "reason": s.reason}
                           for s in inc.suspects]
    return msg
