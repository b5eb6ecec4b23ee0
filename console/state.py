"""The console's picture of the fleet: hosts, active alerts and incidents, as plain data.

It is fed from two places that overlap on purpose: a bootstrap read from the store (the
latest row of each alert and incident) and the alerts and incidents topics, read from a
little before the bootstrap so nothing falls between them. Applying a change is
therefore idempotent and ordered by the change's own `updated` time: an older or equal
state of an alert or incident than the one held is ignored, whichever source brought it
and in whatever order.

Resolved alerts and incidents stay for `fade_ms` after the console saw them resolve, so
a page can fade them out, then `prune(now_ms)` drops them. Hosts come from the store's
inventory and from alerts; a host is grouped by the first topology label it has among
`group_labels` (rack, then cluster, zone, role), or "no rack": a group is never
invented. No clock is read here: every method that needs the time takes `now_ms`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "DEFAULT_GROUP_LABELS",
    "NO_GROUP",
    "SEVERITY_RANK",
    "FleetState",
    "HostEntry",
    "alert_from_message",
    "alert_from_row",
    "group_of",
    "incident_from_message",
    "incident_from_row",
    "rfc3339_ms",
    "worst",
]

DEFAULT_GROUP_LABELS = ("rack", "cluster", "zone", "role")
NO_GROUP = "no rack"
SEVERITY_RANK = {"critical": 3, "warning": 2, "info": 1}
# Labels an alert carries that are not the host's topology.
_NOT_TOPOLOGY = frozenset({"host", "severity", "alertname"})

View = dict[str, Any]


def rfc3339_ms(text: str | None) -> int | None:
    """Epoch milliseconds of an RFC 3339 time (`2026-12-03T10:00:00.000Z`); None stays None."""
    if text is None:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def group_of(labels: Mapping[str, str], keys: Iterable[str] = DEFAULT_GROUP_LABELS
             ) -> tuple[str, str]:
    """(label it is grouped by, display name): ("rack", "r00"), ("cluster", "cluster c1"),
    or ("", "no rack") when none of `keys` has a value."""
    for i, key in enumerate(keys):
        value = labels.get(key, "")
        if value:
            return key, value if i == 0 else f"{key} {value}"
    return "", NO_GROUP


def worst(severities: Iterable[str]) -> str | None:
    """The most severe of `severities` (critical > warning > info), None if empty."""
    best, rank = None, 0
    for s in severities:
        r = SEVERITY_RANK.get(s, 0)
        if r > rank:
            best, rank = s, r
    return best


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def alert_from_message(msg: Mapping[str, Any]) -> View:
    """An alert view from a `rackwatch.alert/v1` message."""
    labels = {str(k): str(v) for k, v in (msg.get("labels") or {}).items()}
    ann = msg.get("annotations") or {}
    updated = rfc3339_ms(msg["updated_at"])
    return {
        "fingerprint": str(msg["fingerprint"]), "status": str(msg["status"]),
        "rule": str(msg["rule"]), "severity": str(msg["severity"]),
        "host": msg.get("host"), "rack": labels.get("rack", ""), "labels": labels,
        "summary": str(ann.get("summary", "")), "description": str(ann.get("description", "")),
        "value": _num(msg.get("value")), "threshold": _num(msg.get("threshold")),
        "starts_ms": rfc3339_ms(msg["starts_at"]), "ends_ms": rfc3339_ms(msg.get("ends_at")),
        "updated_ms": updated, "incident_id": msg.get("incident_id") or None,
    }


def alert_from_row(row: Mapping[str, Any]) -> View:
    """An alert view from a row of console.queries.ALERTS_LATEST."""
    labels = {str(k): str(v) for k, v in (row.get("labels") or {}).items()}
    ann = row.get("annotations") or {}
    return {
        "fingerprint": str(row["fingerprint"]), "status": str(row["status"]),
        "rule": str(row["rule"]), "severity": str(row["severity"]),
        "host": row.get("host") or None, "rack": str(row.get("rack") or ""), "labels": labels,
        "summary": str(ann.get("summary", "")), "description": str(ann.get("description", "")),
        "value": _num(row.get("value")), "threshold": _num(row.get("threshold")),
        "starts_ms": int(row["starts_ms"]),
        "ends_ms": None if row.get("ends_ms") is None else int(row["ends_ms"]),
        "updated_ms": int(row["updated_ms"]), "incident_id": row.get("incident_id") or None,
    }


def incident_from_message(msg: Mapping[str, Any]) -> View:
    """An incident view from a `rackwatch.incident/v1` message."""
    view: View = {
        "incident_id": str(msg["incident_id"]), "status": str(msg["status"]),
        "scope": str(msg["scope"]), "scope_value": str(msg["scope_value"]),
        "suspect": str(msg["suspect"]), "root_cause_hint": str(msg["root_cause_hint"]),
        "fault_probability": _num(msg.get("fault_probability")),
        "hosts": [str(h) for h in msg.get("hosts") or []],
        "alerts": [str(a) for a in msg.get("alerts") or []],
        "fault_classes": [str(c) for c in msg.get("fault_classes") or []],
        "severity": str(msg["severity"]), "opened_ms": rfc3339_ms(msg["opened_at"]),
        "updated_ms": rfc3339_ms(msg["updated_at"]),
        "resolved_ms": rfc3339_ms(msg.get("resolved_at")),
    }
    if isinstance(msg.get("suspects"), list):
        view["suspects"] = [dict(s) for s in msg["suspects"] if isinstance(s, Mapping)]
    return view


def incident_from_row(row: Mapping[str, Any]) -> View:
    """An incident view from a row of console.queries.INCIDENTS_LATEST."""
    return {
        "incident_id": str(row["incident_id"]), "status": str(row["status"]),
        "scope": str(row["scope"]), "scope_value": str(row["scope_value"]),
        "suspect": str(row["suspect"]), "root_cause_hint": str(row["root_cause_hint"]),
        "fault_probability": _num(row.get("fault_probability")),
        "hosts": [str(h) for h in row.get("hosts") or []],
        "alerts": [str(a) for a in row.get("alerts") or []],
        "fault_classes": [str(c) for c in row.get("fault_classes") or []],
        "severity": str(row["severity"]), "opened_ms": int(row["opened_ms"]),
        "updated_ms": int(row["updated_ms"]),
        "resolved_ms": None if row.get("resolved_ms") is None else int(row["resolved_ms"]),
    }


@dataclass
class HostEntry:
    """One host of the fleet grid: its topology labels, its group, its GPUs."""

    host: str
    labels: dict[str, str]
    group_by: str
    group: str
    gpus: list[str] = field(default_factory=list)

    def view(self) -> View:
        return {"host": self.host, "labels": dict(self.labels), "group_by": self.group_by,
                "group": self.group, "gpus": list(self.gpus)}


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    """r2 before r10: digit runs compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.findall(r"\d+|\D+", text))


def _gpu_order(g: str) -> tuple[int, str]:
    return (int(g), g) if g.isdigit() else (1 << 30, g)


class FleetState:
    """Hosts, alerts and incidents as the console shows them (see the module docstring)."""

    def __init__(self, group_labels: tuple[str, ...] = DEFAULT_GROUP_LABELS,
                 fade_ms: int = 120_000, max_alerts: int = 50_000) -> None:
        self.group_labels = group_labels
        self.fade_ms = fade_ms
        self.max_alerts = max_alerts
        self.hosts: dict[str, HostEntry] = {}
        self.alerts: dict[str, View] = {}
        self.incidents: dict[str, View] = {}
        self._gone_at: dict[str, int] = {}  # "a:<fp>" / "i:<id>" -> when seen resolved

    # --- hosts ------------------------------------------------------------------------

    def add_host(self, host: str, labels: Mapping[str, str],
                 gpus: Iterable[str] = ()) -> HostEntry | None:
        """Learn or update a host; the entry if anything about it changed, else None."""
        topo = {k: str(v) for k, v in labels.items() if k in self.group_labels and v}
        by, name = group_of(topo, self.group_labels)
        gpu_list = sorted({str(g) for g in gpus if str(g)}, key=_gpu_order)
        old = self.hosts.get(host)
        if old is not None:
            merged_gpus = sorted(set(old.gpus) | set(gpu_list), key=_gpu_order)
            if not topo:  # an alert without topology never moves a known host
                topo, by, name = old.labels, old.group_by, old.group
            if (topo, merged_gpus) == (old.labels, old.gpus):
                return None
            gpu_list = merged_gpus
        entry = HostEntry(host, topo, by, name, gpu_list)
        self.hosts[host] = entry
        return entry

    # --- alerts and incidents ---------------------------------------------------------

    def apply_alert(self, view: View, now_ms: int) -> tuple[View | None, HostEntry | None]:
        """Take an alert state; (the view if it is news, the host entry if that changed)."""
        fp = view["fingerprint"]
        old = self.alerts.get(fp)
        if old is not None and (old["updated_ms"], old["status"] == "resolved") >= \
                (view["updated_ms"], view["status"] == "resolved"):
            return None, None
        # a resolution of an alert never seen firing is kept too, only to fade out
        self.alerts[fp] = view
        key = "a:" + fp
        if view["status"] == "resolved":
            self._gone_at[key] = now_ms
        else:
            self._gone_at.pop(key, None)
        host_change = None
        if view.get("host"):
            gpu = view["labels"].get("gpu")
            host_change = self.add_host(view["host"], view["labels"], [gpu] if gpu else ())
        if len(self.alerts) > self.max_alerts:
            self._shed()
        return view, host_change

    def apply_incident(self, view: View, now_ms: int) -> View | None:
        """Take an incident state; the view if it is news."""
        iid = view["incident_id"]
        old = self.incidents.get(iid)
        if old is not None and (old["updated_ms"], old["status"] == "resolved") >= \
                (view["updated_ms"], view["status"] == "resolved"):
            return None
        self.incidents[iid] = view
        if view["status"] == "resolved":
            self._gone_at["i:" + iid] = now_ms
        else:
            self._gone_at.pop("i:" + iid, None)
        return view

    def _shed(self) -> None:
        """Over `max_alerts`: drop resolved alerts first, then the oldest firing ones."""
        excess = len(self.alerts) - self.max_alerts
        order = sorted(self.alerts.values(),
                       key=lambda a: (a["status"] != "resolved", a["updated_ms"]))
        for a in order[:excess]:
            del self.alerts[a["fingerprint"]]
            self._gone_at.pop("a:" + a["fingerprint"], None)

    def prune(self, now_ms: int) -> tuple[list[str], list[str]]:
        """Drop what was resolved more than `fade_ms` ago: (fingerprints, incident ids)."""
        gone_a: list[str] = []
        gone_i: list[str] = []
        for key, at in list(self._gone_at.items()):
            if now_ms - at < self.fade_ms:
                continue
            del self._gone_at[key]
            kind, ident = key[:1], key[2:]
            if kind == "a" and self.alerts.pop(ident, None) is not None:
                gone_a.append(ident)
            elif kind == "i" and self.incidents.pop(ident, None) is not None:
                gone_i.append(ident)
        return gone_a, gone_i

    # --- views ------------------------------------------------------------------------

    def group_of_host(self, host: str | None) -> str:
        entry = self.hosts.get(host or "")
        return entry.group if entry is not None else NO_GROUP

    def alert_list(self, *, severity: str | None = None, group: str | None = None,
                   rule: str | None = None, active_only: bool = False,
                   limit: int | None = None) -> list[View]:
        """Alerts newest first (by when they started firing), filtered."""
        out = []
        for a in self.alerts.values():
            if active_only and a["status"] != "firing":
                continue
            if severity is not None and a["severity"] != severity:
                continue
            if rule is not None and a["rule"] != rule:
                continue
            if group is not None and self.group_of_host(a["host"]) != group:
                continue
            out.append({**a, "group": self.group_of_host(a["host"])})
        out.sort(key=lambda a: (a["starts_ms"], a["updated_ms"]), reverse=True)
        return out if limit is None else out[:limit]

    def incident_list(self) -> list[View]:
        """Incidents newest first (by when they opened)."""
        return sorted(self.incidents.values(), key=lambda i: (i["opened_ms"], i["updated_ms"]),
                      reverse=True)

    def fleet(self) -> list[View]:
        """Groups of hosts, each host with its worst active alert and its GPUs' worst."""
        by_host: dict[str, list[View]] = {}
        for a in self.alerts.values():
            if a["status"] == "firing" and a.get("host"):
                by_host.setdefault(a["host"], []).append(a)
        groups: dict[str, View] = {}
        for entry in sorted(self.hosts.values(), key=lambda e: e.host):
            g = groups.setdefault(entry.group, {"group": entry.group, "by": entry.group_by,
                                                "hosts": []})
            active = by_host.get(entry.host, [])
            gpus: dict[str, str] = {}
            for a in active:
                gpu = a["labels"].get("gpu")
                if gpu:
                    gpus[gpu] = worst([gpus.get(gpu, ""), a["severity"]]) or a["severity"]
            g["hosts"].append({**entry.view(), "worst": worst(a["severity"] for a in active),
                               "active_alerts": len(active), "gpu_worst": gpus})
        order = {k: i for i, k in enumerate(self.group_labels)}
        return sorted(groups.values(),
                      key=lambda g: (order.get(g["by"], len(order)), _natural(g["group"])))

    def counts(self) -> dict[str, int]:
        """Hosts, and hosts whose worst active alert is each severity."""
        out = {"hosts": len(self.hosts), "critical": 0, "warning": 0, "info": 0}
        worst_of: dict[str, str] = {}
        for a in self.alerts.values():
            if a["status"] == "firing" and a.get("host"):
                worst_of[a["host"]] = worst([worst_of.get(a["host"], ""), a["severity"]]) or ""
        for w in worst_of.values():
            if w in out:
                out[w] += 1
        return out
