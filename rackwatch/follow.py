"""Follow the alerts topic from a terminal (`rackwatch alerts`), as a downstream service would."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from common.config import Config
from common.kafka import consumer as kafka_consumer

__all__ = ["follow_alerts", "format_action", "format_alert", "format_incident"]


def format_alert(raw: bytes) -> str:
    """One alert message as a terminal line."""
    a = orjson.loads(raw)
    mark = {"firing": "FIRING  ", "resolved": "resolved"}.get(a.get("status"), a.get("status"))
    summary = (a.get("annotations") or {}).get("summary") or ""
    value = a.get("value")
    val = f" value={value:.4g}" if isinstance(value, int | float) else ""
    owner = f"  -> {a['assignee']} {a.get('priority') or ''}".rstrip() if a.get("assignee") \
        else ""
    quiet = "  [silenced]" if (a.get("silenced_until") or "") > (a.get("updated_at") or "") \
        else ""
    return (f"{a.get('updated_at', '')}  {mark} {a.get('severity', ''):8} {a.get('rule', '')}"
            f"  host={a.get('host')}{val}{owner}{quiet}  {summary}")


def format_action(raw: bytes | dict[str, Any]) -> str:
    """One handling action (rackwatch.action/v1) as a terminal line."""
    m = orjson.loads(raw) if isinstance(raw, bytes) else raw
    kind = str(m.get("action", "")).upper()
    labels = m.get("labels") or {}
    about = f"{m.get('rule') or ''} on {m.get('host')}" if m.get("rule") else \
        str(m.get("fingerprint") or " ".join(m.get("matchers") or ()))
    where = ", ".join(f"{k} {labels[k]}" for k in ("model", "rack") if labels.get(k))
    where = f" ({where})" if where else ""
    if m.get("action") in ("assigned", "escalated"):
        level = f" (level {m['level']})" if m.get("level") else ""
        what = f"to {m.get('assignee')}, {m.get('priority') or '-'}{level}"
    elif m.get("action") == "silenced":
        what = f"until {m.get('until')}"
    else:
        what = f"by {m.get('by')}"
    note = f"  {m['note']}" if m.get("note") else ""
    return f"{m.get('at', '')}  {kind:<8} {about}{where} {what}{note}"


def format_incident(raw: bytes | dict[str, Any]) -> str:
    """One incident message as a terminal line: its suspect, hint and probability."""
    m = orjson.loads(raw) if isinstance(raw, bytes) else raw
    p = m.get("fault_probability")
    prob = f" p={p:.2f}" if isinstance(p, int | float) else ""
    hint = m.get("root_cause_hint") or ""
    return (f"{m.get('updated_at', '')}  INCIDENT {m.get('status', ''):8} "
            f"{m.get('scope')}={m.get('scope_value')}  suspect: {m.get('suspect')}{prob}  "
            f"{hint[:120]}")


async def follow_alerts(cfg: Config, *, from_beginning: bool = False, as_json: bool = False,
                        limit: int = 0) -> int:
    """Print alert state changes as they arrive; returns how many were printed."""
    consumer = kafka_consumer(
        cfg, cfg.topic("alerts"),
        group_id=None if from_beginning else f"rackwatch-alerts-cli-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False)
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()
        raise
    n = 0
    try:
        async for msg in consumer:
            line = msg.value.decode() if as_json else format_alert(msg.value)
            print(line, flush=True)
            n += 1
            if limit and n >= limit:
                break
    finally:
        await consumer.stop()
    return n
