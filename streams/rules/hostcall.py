"""One engine call on one host: its plain-dict state, and the alert messages it sends.

The state is owned by the caller (a changelogged table keyed by host) and mutated in
place; its form is the contract with every changelog already written:

    {"v": 1, "rs": rule-set digest, "seen": last evaluate() clock, "lf": first log ts,
     "a": {rule key: {series key: alert entry}},      -- see streams.rules.lifecycle
     "rc": {rule key: {"n": alertname, "s": severity, "l": rule labels}},  -- per rule in "a"
     "d": {rule key: {"k": kind, "s": {series key: detector / tracker / log window}}}}

A condition kind reaches the state only through a HostCall: `observe` feeds the alert
entry of one series (creating it only when the condition fires), `detector` is the
per-series history of a rule. A state of another version is dropped with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from streams.rules.lifecycle import is_empty, observe
from streams.rules.messages import alert_labels, build_message, fingerprint
from streams.rules.model import Rule

__all__ = ["STATE_VERSION", "Entry", "HostCall", "Muted", "series_key"]

log = logging.getLogger(__name__)

STATE_VERSION = 1

Entry = dict[str, Any]
# (call, rule, entry, labels of its message) -> is the firing message held back?
Muted = Callable[["HostCall", Rule, Entry, dict[str, str]], bool]


def series_key(labels: Mapping[str, str]) -> str:
    """A compact, order-independent key for a label set ("" for none)."""
    if not labels:
        return ""
    if len(labels) == 1:
        for k, v in labels.items():
            return f"{k}={v}"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _updated_at(msg: dict[str, Any]) -> str:
    at: str = msg["updated_at"]  # fixed-width RFC 3339: sorts as text
    return at


class HostCall:
    """The context of one evaluate/tick call: the host, its state and the messages out.

    `batch` is scratch for one metric batch: rules that combine several points (sums,
    `all`) gather them there under their rule key until the batch's points are done.
    """

    __slots__ = ("alerts", "batch", "det", "host", "host_labels", "muted", "out", "state")

    def __init__(self, state: dict[str, Any], host: str, host_labels: Mapping[str, str],
                 muted: Muted) -> None:
        self.state = state
        self.host = host
        self.host_labels = host_labels
        self.muted = muted
        self.out: list[dict[str, Any]] = []
        self.batch: dict[str, Any] | None = None
        if state.get("v") != STATE_VERSION:
            if state:
                log.warning("rule state of host %s has version %r, not %d: starting afresh",
                            host, state.get("v"), STATE_VERSION)
            state.clear()
            state["v"] = STATE_VERSION
            state["a"] = {}
            state["d"] = {}
        self.alerts: dict[str, dict[str, Entry]] = state["a"]
        self.det: dict[str, dict[str, Any]] = state["d"]

    def result(self) -> list[dict[str, Any]]:
        """The messages in event-time order (stable: one entry's changes keep their order)."""
        out = self.out
        if len(out) > 1:
            out.sort(key=_updated_at)
        return out

    def emit(self, rule: Rule, entry: Entry, status: str, at: int) -> bool:
        """lifecycle's Emit: build the message of a change; False when it is held back."""
        labels = alert_labels(rule, self.host, self.host_labels, entry["l"])
        if status in ("firing", "refire"):
            if self.muted(self, rule, entry, labels):
                return False
            c = entry["c"]
            updated = at if status == "firing" else c["an"]
            msg = build_message(rule, self.host, labels, entry["fp"], "firing", c["v"], c["t"],
                                c["fa"], None, updated, c.get("vs"))
        else:
            r = entry["r"]
            msg = build_message(rule, self.host, labels, entry["fp"], "resolved", r["v"],
                                r["t"], r["fa"], r["ea"], r["ea"], r.get("vs"))
        self.out.append(msg)
        return True

    def observe(self, rule: Rule, key: str, labels: Mapping[str, str], at: int,
                fire_ok: bool, hold_ok: bool, value: float | None, threshold: float | None,
                values: dict[str, float] | None = None) -> None:
        """Feed an observation to the entry of (rule, series), creating it only when firing."""
        rs = self.alerts.get(rule.key)
        entry = rs.get(key) if rs is not None else None
        if entry is None:
            if not fire_ok:
                return
            if rs is None:
                rs = self.open_rule(rule)
            ident = dict(labels)
            entry = rs[key] = {"l": ident, "fp": fingerprint(rule, self.host, ident)}
        observe(rule, entry, at, fire_ok, hold_ok, value, threshold, self.emit, values)
        if is_empty(entry):
            assert rs is not None
            del rs[key]
            if not rs:
                self.drop_rule(rule.key)

    def open_rule(self, rule: Rule) -> dict[str, Entry]:
        """The alert entries of a rule on this host, with a card that lets a later
        worker resolve them even if the rule is gone from its rule file by then."""
        rs: dict[str, Entry] = {}
        self.alerts[rule.key] = rs
        self.state.setdefault("rc", {})[rule.key] = {
            "n": rule.alert, "s": rule.severity, "l": dict(rule.labels)}
        return rs

    def drop_rule(self, key: str) -> None:
        self.alerts.pop(key, None)
        cards = self.state.get("rc")
        if cards is not None:
            cards.pop(key, None)

    def detector(self, rule: Rule) -> dict[str, Any]:
        """The per-series store of a rule's history ({series key: ...})."""
        d = self.det.get(rule.key)
        if d is None or d.get("k") != rule.kind:
            d = self.det[rule.key] = {"k": rule.kind, "s": {}}
        store: dict[str, Any] = d["s"]
        return store
