"""HostCall: a host's rule state as the kinds see it -- versioned, created on firing only."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from streams.rules.hostcall import STATE_VERSION, Entry, HostCall, series_key
from streams.rules.model import Rule
from tests.unit.rules.helpers import at, rules

RULE = rules("      - alert: A\n        kind: threshold\n        metric: m\n        above: 1\n"
             "        labels: {team: x}\n").rules[0]


def never(call: HostCall, rule: Rule, entry: Entry, labels: dict[str, str]) -> bool:
    return False


def call(state: dict[str, Any]) -> HostCall:
    return HostCall(state, "h1", {"rack": "r1"}, never)


class TestVersion:
    """The state's version guards its form."""

    def test_empty_state_is_initialised(self) -> None:
        """A host seen for the first time gets the empty form of this version."""
        state: dict[str, Any] = {}
        call(state)
        assert state == {"v": STATE_VERSION, "a": {}, "d": {}}

    def test_other_version_starts_afresh(self, caplog: pytest.LogCaptureFixture) -> None:
        """A state of another version is dropped, with a warning naming the host."""
        state: dict[str, Any] = {"v": 0, "a": {"x": {}}, "seen": 5}
        with caplog.at_level(logging.WARNING):
            call(state)
        assert state == {"v": STATE_VERSION, "a": {}, "d": {}}
        assert "rule state of host h1 has version 0" in caplog.text


class TestObserve:
    """Alert entries exist only while there is something to tell."""

    def test_quiet_observation_creates_nothing(self) -> None:
        """A condition that does not fire leaves no entry and no rule card."""
        state: dict[str, Any] = {}
        c = call(state)
        c.observe(RULE, "", {}, at(0), False, False, 0.5, 1.0)
        assert state["a"] == {} and "rc" not in state and c.result() == []

    def test_firing_creates_entry_and_card(self) -> None:
        """A firing observation opens an entry, a card to resolve it by, and a message."""
        state: dict[str, Any] = {}
        c = call(state)
        c.observe(RULE, "gpu=0", {"gpu": "0"}, at(0), True, True, 2.0, 1.0)
        entry = state["a"][RULE.key]["gpu=0"]
        assert entry["l"] == {"gpu": "0"} and entry["c"]["s"] == "f"
        assert state["rc"][RULE.key] == {"n": "A", "s": "warning",
                                         "l": {"severity": "warning", "team": "x"}}
        (msg,) = c.result()
        assert msg["labels"] == {"rack": "r1", "gpu": "0", "host": "h1", "severity": "warning",
                                 "team": "x", "alertname": "A"}

    def test_closed_entry_and_card_are_dropped(self) -> None:
        """Once resolved and no longer kept, the entry and the card go."""
        quick = rules("      - alert: A\n        kind: threshold\n        metric: m\n"
                      "        above: 1\n        keep_resolved_for: 0s\n").rules[0]
        state: dict[str, Any] = {}
        c = call(state)
        c.observe(quick, "", {}, at(0), True, True, 2.0, 1.0)
        c.observe(quick, "", {}, at(10), False, False, 0.0, 1.0)
        assert state["a"] == {} and state["rc"] == {}
        assert [m["status"] for m in c.result()] == ["firing", "resolved"]

    def test_muted_firing_is_not_sent(self) -> None:
        """What the inhibition holds back is not in the result, and stays unannounced."""
        state: dict[str, Any] = {}
        c = HostCall(state, "h1", {}, lambda *_: True)
        c.observe(RULE, "", {}, at(0), True, True, 2.0, 1.0)
        assert c.result() == []
        assert state["a"][RULE.key][""]["c"]["an"] is None


class TestDetector:
    """Per-series history of a rule, keyed by the rule's kind."""

    def test_store_is_kept_per_rule(self) -> None:
        """The same store comes back for the same rule."""
        state: dict[str, Any] = {}
        call(state).detector(RULE)["s1"] = {"t": 1}
        assert call(state).detector(RULE) == {"s1": {"t": 1}}
        assert state["d"][RULE.key]["k"] == "threshold"

    def test_store_of_another_kind_is_replaced(self) -> None:
        """History written under another kind (a rule changed kind) is not reused."""
        state: dict[str, Any] = {"v": STATE_VERSION, "a": {}, "d": {
            RULE.key: {"k": "anomaly", "s": {"s1": {"t": 1, "d": {}}}}}}
        assert call(state).detector(RULE) == {}


class TestResult:
    """Messages come out in event-time order."""

    def test_sorted_by_updated_at_and_stable(self) -> None:
        """Out of order emissions are sorted; equal times keep their emission order."""
        c = call({})
        c.out.extend({"updated_at": u, "n": n} for n, u in enumerate(
            ["2024-01-01T00:00:10.000Z", "2024-01-01T00:00:05.000Z",
             "2024-01-01T00:00:10.000Z"]))
        assert [m["n"] for m in c.result()] == [1, 0, 2]


class TestSeriesKey:
    """The key of a label set."""

    @pytest.mark.parametrize(("labels", "key"), [
        ({}, ""), ({"gpu": "0"}, "gpu=0"), ({"b": "2", "a": "1"}, "a=1,b=2"),
    ])
    def test_order_independent(self, labels: dict[str, str], key: str) -> None:
        """Sorted name=value pairs; a single label needs no sort."""
        assert series_key(labels) == key
