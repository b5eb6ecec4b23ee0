"""Alert messages (`rackwatch.alert/v1`) and the fingerprint that names an alert.

The fingerprint is a stable hash of the alert's identity: the rule name, the rule's
static labels, the host and the series' identifying labels. The host's topology
labels (rack, cluster...) are carried in the message but left out of the hash, so
re-labelling a rack does not turn every open alert into a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from schemas.ids import ALERT
from streams.rules.model import AbsentCond, LogBurstCond, LogCountCond, Rule
from streams.rules.values import format_rfc3339_ms

__all__ = ["alert_labels", "build_message", "fingerprint", "rule_durations"]


def fingerprint(rule: Rule, host: str, ident: Mapping[str, str]) -> str:
    """16 hex digits over the sorted identity labels; stable across processes and runs."""
    labels = {**ident, "host": host, **rule.labels, "alertname": rule.alert}
    material = "\x1e".join(f"{k}\x1f{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def alert_labels(rule: Rule, host: str, host_labels: Mapping[str, str],
                 ident: Mapping[str, str]) -> dict[str, str]:
    """Topology labels, then series labels, then host, rule labels and alertname (last wins)."""
    return {**host_labels, **ident, "host": host, **rule.labels, "alertname": rule.alert}


def rule_durations(rule: Rule) -> dict[str, float]:
    """The rule's durations in seconds, as annotations name them ($for, $duration...)."""
    c = rule.condition
    out = {"for": rule.for_ms / 1000, "keep_firing_for": rule.keep_firing_for_ms / 1000}
    if isinstance(c, AbsentCond):
        out["duration"] = c.duration_ms / 1000
    elif isinstance(c, LogCountCond | LogBurstCond):
        out["window"] = c.window_ms / 1000
    return out


def build_message(rule: Rule, host: str, labels: dict[str, str], fp: str, status: str,
                  value: float | None, threshold: float | None, starts_at: int,
                  ends_at: int | None, updated_at: int,
                  values: Mapping[str, float] | None = None) -> dict[str, Any]:
    """One alert state change, shaped as schemas.events.Alert."""
    durations = rule_durations(rule)
    annotations = {name: t.render(labels, value, threshold, values, durations)
                   for name, t in rule.annotations.items()}
    annotations.setdefault("summary", f"{rule.alert} on {host}")
    annotations.setdefault("description", "")
    return {
        "schema": ALERT,
        "fingerprint": fp,
        "status": status,
        "rule": rule.alert,
        "severity": rule.severity,
        "host": host,
        "labels": labels,
        "annotations": annotations,
        "value": value,
        "threshold": threshold,
        "starts_at": format_rfc3339_ms(starts_at),
        "ends_at": format_rfc3339_ms(ends_at) if ends_at is not None else None,
        "updated_at": format_rfc3339_ms(updated_at),
    }
