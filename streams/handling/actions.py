"""`rackwatch.action/v1` messages: building them, and reading them back checked.

An action is one step in handling an alert: assigned (routing named an owner when it
fired), acknowledged, escalated (not acknowledged within its route's ack_timeout),
silenced (until a time, by label matchers), resolved (by hand with a note, or by
rackwatch when the condition cleared), reopened. People act through the command line
(`rackwatch ack`, `silence`, `resolve`, `reopen`, `assign`), always under a name.

rackwatch's own actions are functions of the alert message alone: the same alert
episode gives the same `action_id`, so the worker may send them again after a crash
(or with every re-send of the alert) and the store still keeps one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from schemas.ids import ACTION
from streams.core.timefmt import ms_to_rfc3339, rfc3339_to_ms
from streams.rules.matchers import parse_matchers

__all__ = ["KINDS", "PIPELINE", "ActionError", "action_id", "decode_action", "for_alert",
           "make_action"]

KINDS = ("assigned", "acknowledged", "escalated", "silenced", "resolved", "reopened")
PIPELINE = "rackwatch"  # `by` of what the pipeline does itself
_HEX16 = frozenset("0123456789abcdef")


class ActionError(ValueError):
    """An action message (or a command's arguments) that cannot be applied, and why."""


def action_id(*parts: object) -> str:
    """16 hex digits over the parts that make an action what it is."""
    material = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def make_action(action: str, fingerprint: str | None, by: str, at_ms: int, note: str = "",
                *, ident: tuple[object, ...] | None = None, **extra: Any) -> dict[str, Any]:
    """One action message. `ident`: what makes it unique (default: every field given,
    so a person's two identical commands in one millisecond are one action)."""
    if action not in KINDS:
        raise ActionError(f"unknown action {action!r} (one of {', '.join(KINDS)})")
    if not by.strip():
        raise ActionError("an action needs a name: who did it (no anonymous actions)")
    msg: dict[str, Any] = {"schema": ACTION, "action_id": "", "action": action,
                           "fingerprint": fingerprint, "by": by,
                           "at": ms_to_rfc3339(at_ms), "note": note}
    msg.update({k: v for k, v in extra.items() if v is not None})
    material = ident if ident is not None else (
        orjson.dumps(msg, option=orjson.OPT_SORT_KEYS).decode(),)
    msg["action_id"] = action_id(action, fingerprint, *material)
    return msg


def for_alert(alert: Mapping[str, Any], group: str = "") -> dict[str, Any] | None:
    """rackwatch's own action for an alert message: `assigned` for a firing one (every
    re-send of an episode gives the same action; `group`: its group under the route's
    group_by), `resolved` by rackwatch for a resolved one; None for an alert without an
    owner (routing is off)."""
    if not alert.get("assignee"):
        return None
    fp, starts = str(alert["fingerprint"]), str(alert["starts_at"])
    common = {"starts_at": starts, "rule": alert.get("rule"), "host": alert.get("host")}
    if alert.get("status") == "firing":
        return make_action("assigned", fp, PIPELINE, rfc3339_to_ms(starts),
                           f"routed to {alert['assignee']}", ident=(starts,),
                           assignee=alert["assignee"], priority=alert.get("priority"),
                           group=group or None, labels=dict(alert.get("labels") or {}),
                           **common)
    ends = alert.get("ends_at")
    if not ends:
        return None
    return make_action("resolved", fp, PIPELINE, rfc3339_to_ms(str(ends)),
                       "condition cleared", ident=(starts,), **common)


def _text(d: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    v = d.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise ActionError(f"{key}: expected a string, got {v!r:.40}")
    return v


def decode_action(raw: bytes | Mapping[str, Any]) -> dict[str, Any]:
    """An action message checked for what applying it needs (ActionError: why not);
    times are added in epoch ms as `at_ms` (and `until_ms` for a silence)."""
    try:
        d = orjson.loads(raw) if isinstance(raw, bytes | bytearray) else dict(raw)
    except orjson.JSONDecodeError as e:
        raise ActionError(f"not JSON: {e}") from None
    if not isinstance(d, dict) or d.get("schema") != ACTION:
        raise ActionError(f"not a {ACTION} message")
    kind = _text(d, "action")
    if kind not in KINDS:
        raise ActionError(f"unknown action {kind!r}")
    if not (_text(d, "by") or "").strip():
        raise ActionError("by: an action needs a name (no anonymous actions)")
    ident = _text(d, "action_id") or ""
    fp = _text(d, "fingerprint", optional=True)
    if kind != "silenced" and (fp is None or len(fp) != 16 or not _HEX16.issuperset(fp)):
        raise ActionError(f"fingerprint: expected 16 hex digits, got {fp!r}")
    try:
        out = {**d, "action_id": ident, "at_ms": rfc3339_to_ms(_text(d, "at") or "")}
        if kind == "silenced":
            matchers = d.get("matchers")
            if not isinstance(matchers, list) or not matchers:
                raise ActionError("matchers: a silence needs at least one")
            out["parsed"] = tuple(m for text in matchers for m in parse_matchers(str(text)))
            out["until_ms"] = rfc3339_to_ms(_text(d, "until") or "")
    except ValueError as e:
        raise ActionError(str(e)) from None
    return out
