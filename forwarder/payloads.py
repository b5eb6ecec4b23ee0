"""What each target is sent: rackwatch alerts in Alertmanager's shapes. No I/O.

- Alertmanager API v2 (`POST /api/v2/alerts`): a list of postable alerts with labels,
  annotations, startsAt, endsAt and generatorURL. A firing alert's endsAt is a bounded
  time ahead (`now + ends_at_after`), pushed on by every re-send, as Prometheus does:
  if rackwatch stops sending, Alertmanager resolves the alert by itself instead of
  keeping it forever. A resolved alert carries its own `ends_at`.
- A webhook gets Alertmanager's webhook payload (version 4), so receivers written for
  Alertmanager (chat bridges, paging adapters) take rackwatch's notifications as they are.

Label names are Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*): other characters
become `_` (`gpu.index` -> `gpu_index`); `alertname` is the rule, as in Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["ZERO_TIME", "alertmanager_alert", "generator_url", "label_name", "labels_of",
           "rfc3339", "webhook_payload"]

# How Alertmanager writes "no end" in webhook payloads (Go's zero time).
ZERO_TIME = "0001-01-01T00:00:00Z"
_BAD = re.compile(r"[^a-zA-Z0-9_]")


def rfc3339(ms: int) -> str:
    """Epoch milliseconds as Alertmanager reads times (UTC, milliseconds)."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def label_name(name: str) -> str:
    """A Prometheus label name for `name`."""
    out = _BAD.sub("_", name) or "_"
    return "_" + out if out[0].isdigit() else out


def labels_of(alert: Mapping[str, Any]) -> dict[str, str]:
    """The alert's labels (topology, series, rule), with alertname, severity and host, and
    the owner and priority routing gave it (`assignee`, `priority`), so what routes from
    Alertmanager can route on them."""
    labels = {label_name(str(k)): str(v) for k, v in (alert.get("labels") or {}).items()
              if v is not None}
    labels["alertname"] = str(alert.get("rule") or labels.get("alertname") or "rackwatch")
    if alert.get("severity"):
        labels["severity"] = str(alert["severity"])
    if alert.get("host"):
        labels["host"] = str(alert["host"])
    for key in ("assignee", "priority"):
        if alert.get(key):
            labels[key] = str(alert[key])
    return labels


def _annotations(alert: Mapping[str, Any]) -> dict[str, str]:
    out = {label_name(str(k)): str(v) for k, v in (alert.get("annotations") or {}).items()
           if v is not None}
    for key in ("value", "threshold"):
        v = alert.get(key)
        if isinstance(v, int | float):
            out[key] = f"{v:.6g}"
    out["rackwatch_fingerprint"] = str(alert.get("fingerprint", ""))
    return out


def generator_url(template: str, alert: Mapping[str, Any]) -> str:
    """`template` with {fingerprint}, {rule} and {host} filled in."""
    return (template.replace("{fingerprint}", str(alert.get("fingerprint", "")))
            .replace("{rule}", str(alert.get("rule", "")))
            .replace("{host}", str(alert.get("host") or "")))


def alertmanager_alert(alert: Mapping[str, Any], now_ms: int, ends_after_ms: int,
                       generator: str) -> dict[str, Any]:
    """One postable alert (Alertmanager API v2) for the alert's state at `now_ms`."""
    firing = alert.get("status") == "firing"
    ends = alert.get("ends_at")
    out: dict[str, Any] = {
        "labels": labels_of(alert),
        "annotations": _annotations(alert),
        "startsAt": alert["starts_at"],
        "endsAt": rfc3339(now_ms + ends_after_ms) if firing or not ends else ends,
    }
    if generator:
        out["generatorURL"] = generator_url(generator, alert)
    return out


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def webhook_payload(alerts: Sequence[Mapping[str, Any]], *, receiver: str, group_key: str,
                    generator: str, external_url: str = "") -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) for one batch of alert state changes."""
    items = []
    for a in alerts:
        firing = a.get("status") == "firing"
        items.append({
            "status": "firing" if firing else "resolved",
            "labels": labels_of(a),
            "annotations": _annotations(a),
            "startsAt": a["starts_at"],
            "endsAt": ZERO_TIME if firing or not a.get("ends_at") else a["ends_at"],
            "generatorURL": generator_url(generator, a) if generator else "",
            "fingerprint": str(a.get("fingerprint", "")),
        })
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing" if any(i["status"] == "firing" for i in items) else "resolved",
        "receiver": receiver,
        "groupLabels": {},
        "commonLabels": _common([i["labels"] for i in items]),
        "commonAnnotations": _common([i["annotations"] for i in items]),
        "externalURL": external_url,
        "alerts": items,
    }
