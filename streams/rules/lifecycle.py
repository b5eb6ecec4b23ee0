"""The alert state machine of one series under one rule, over plain dicts.

An entry lives in the per-host state as
    {"l": identifying labels, "fp": fingerprint,
     "c": current episode  {"s": "p"|"f", "act", "obs", "ok", "lt", "v", "t",
                            ["fa", "an", "ls", "vs"]},          -- absent when inactive
     "r": resolved episode {"fa", "ea", "v", "t", "lr", ["vs"]}}  -- kept for re-sends
Times are epoch ms of event time. Conditions are sampled: an observation holds
until the next one (as Prometheus holds the last sample), but no longer than the
rule's `stale_after`. That makes every transition time a function of the data
alone -- `for` elapses at active_at + for, a stale series resolves at its last
sample + stale_after -- whatever the cadence of `tick()`.

`emit(rule, entry, status, at) -> sent` reports a change; status is "firing",
"refire" (a re-send), "resolved" or "reresolved" (a re-send). Firing messages may
be held back (inhibited); a held-back episode is announced later, and an episode
that was never announced resolves silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.rules.model import Rule

__all__ = ["Emit", "advance", "close", "housekeep", "is_empty", "observe"]

Entry = dict[str, Any]
Emit = Callable[[Rule, Entry, str, int], bool]


def is_empty(entry: Entry) -> bool:
    """An entry with neither a current nor a retained resolved episode can be dropped."""
    return entry.get("c") is None and entry.get("r") is None


def _fire(rule: Rule, entry: Entry, c: Entry, at: int, emit: Emit) -> None:
    c["s"] = "f"
    c["fa"] = at
    c["an"] = None
    c["ls"] = None
    entry.pop("r", None)  # never re-send an older resolve after a newer firing
    if emit(rule, entry, "firing", at):
        c["an"] = at
        c["ls"] = at


def _resolve(rule: Rule, entry: Entry, c: Entry, at: int, emit: Emit) -> None:
    entry.pop("c", None)
    if c.get("an") is None:
        return  # never announced (inhibited throughout): nothing to close downstream
    r: Entry = {"fa": c["fa"], "ea": at, "v": c["v"], "t": c["t"], "lr": at}
    if "vs" in c:
        r["vs"] = c["vs"]
    entry["r"] = r
    emit(rule, entry, "resolved", at)
    if rule.keep_resolved_ms <= 0:
        entry.pop("r", None)


def advance(rule: Rule, entry: Entry, until: int, emit: Emit) -> None:
    """Apply the transitions that time alone causes up to `until` (inclusive)."""
    c = entry.get("c")
    if c is None:
        return
    stale = rule.stale_ms
    if c["s"] == "p":
        due = c["act"] + rule.for_ms
        stale_at = c["obs"] + stale if stale else None
        if stale_at is not None and stale_at <= due and stale_at <= until:
            entry.pop("c", None)  # data stopped before `for` elapsed
            return
        if due <= until:
            _fire(rule, entry, c, due, emit)
        else:
            return
    ends: int | None = None
    if not c["ok"]:
        ends = c["lt"] + rule.keep_firing_for_ms
    if stale:
        stale_at = c["obs"] + stale
        ends = stale_at if ends is None else min(ends, stale_at)
    if ends is not None and ends <= until:
        _resolve(rule, entry, c, max(ends, c["fa"]), emit)


def observe(rule: Rule, entry: Entry, at: int, fire_ok: bool, hold_ok: bool,
            value: float | None, threshold: float | None, emit: Emit,
            values: dict[str, float] | None = None) -> None:
    """Feed one observation of the condition at event time `at`.

    `fire_ok`: the value is beyond the firing threshold; `hold_ok`: beyond the clear
    threshold. Pending needs fire_ok throughout `for`; firing lasts while hold_ok
    (plus keep_firing_for). Observations older than the entry's last one are ignored.
    """
    c = entry.get("c")
    if c is not None and at < c["obs"]:
        return
    # time-driven transitions strictly before this observation; at `at` itself the
    # observation decides (a sample exactly at the deadline supersedes the held one)
    advance(rule, entry, at - 1, emit)
    c = entry.get("c")
    if c is None:
        r = entry.get("r")
        if not fire_ok or (r is not None and at < r["ea"]):
            return
        c = {"s": "p", "act": at, "obs": at, "ok": True, "lt": at, "v": value, "t": threshold}
        if values is not None:
            c["vs"] = values
        entry["c"] = c
        if rule.for_ms <= 0:
            _fire(rule, entry, c, at, emit)
        return
    if c["s"] == "p":
        if not fire_ok:
            entry.pop("c", None)
            return
        c["obs"], c["lt"], c["v"], c["t"] = at, at, value, threshold
        if values is not None:
            c["vs"] = values
        if at - c["act"] >= rule.for_ms:
            _fire(rule, entry, c, at, emit)
        return
    c["obs"], c["v"], c["t"] = at, value, threshold
    if values is not None:
        c["vs"] = values
    if hold_ok:
        c["ok"] = True
        c["lt"] = at
        _announce_or_resend(rule, entry, c, at, emit)
        return
    if c["ok"]:
        c["ok"] = False
        c["lt"] = at  # the condition held (sampled) until this observation
    if at >= c["lt"] + rule.keep_firing_for_ms:
        _resolve(rule, entry, c, at, emit)
    else:
        _announce_or_resend(rule, entry, c, at, emit)


def _announce_or_resend(rule: Rule, entry: Entry, c: Entry, at: int, emit: Emit) -> None:
    if c.get("an") is None:
        if emit(rule, entry, "firing", at):
            c["an"] = at
            c["ls"] = at
    elif at - c["ls"] >= rule.repeat_ms and emit(rule, entry, "refire", at):
        c["ls"] = at


def housekeep(rule: Rule, entry: Entry, now: int, emit: Emit) -> None:
    """Timer work at `now`: time-driven transitions, re-sends, expiry of resolved episodes."""
    advance(rule, entry, now, emit)
    c = entry.get("c")
    if c is not None and c["s"] == "f":
        _announce_or_resend(rule, entry, c, now, emit)
    r = entry.get("r")
    if r is None:
        return
    if now >= r["ea"] + rule.keep_resolved_ms:
        entry.pop("r", None)
    elif now - r["lr"] >= rule.resend_resolved_ms:
        emit(rule, entry, "reresolved", now)
        r["lr"] = now


def close(rule: Rule, entry: Entry, at: int, emit: Emit) -> None:
    """End the current episode now (its rule was removed): an announced one resolves."""
    c = entry.get("c")
    if c is None:
        return
    if c["s"] == "f":
        _resolve(rule, entry, c, max(at, c["fa"]), emit)
    else:
        entry.pop("c", None)
