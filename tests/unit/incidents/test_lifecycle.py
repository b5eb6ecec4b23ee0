"""An incident's life: held back, published, updated (coalesced), resolved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.incidents import Correlator

from .builders import MIN, T0, alert, by_status, fault, silent

Make = Callable[..., Correlator]


def run(c: Correlator, events: list[dict[str, Any]], end: int | None = None,
        state: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    st: dict[str, Any] = {} if state is None else state
    out: list[dict[str, Any]] = []
    for e in events:
        out += c.on_event(st, e)
    if end is not None:
        out += c.tick(st, end)
    return out


class TestUpdates:
    """Changes go out as coalesced updates."""

    def test_a_burst_of_joins_is_one_update(self, make_correlator: Make) -> None:
        """Hosts joining one by one within the update interval make one `updated`."""
        c = make_correlator(update_interval_ms=30_000)
        events = [silent(f"a{i}", T0 + i * 1_000) for i in range(10)]
        out = run(c, events, end=T0 + 2 * MIN)
        assert [m["status"] for m in out] == ["open", "updated"]
        assert out[0]["hosts"] == ["a0", "a1", "a2"]
        assert out[1]["hosts"] == [f"a{i}" for i in range(10)]
        assert out[1]["updated_at"] == "2023-11-14T22:13:52.000Z"  # open + 30 s

    def test_no_interval_means_every_change(self, make_correlator: Make) -> None:
        """With the interval at zero each join is its own update."""
        c = make_correlator(update_interval_ms=0)
        out = run(c, [silent(f"a{i}", T0 + i * 1_000) for i in range(5)])
        assert [m["status"] for m in out] == ["open", "updated", "updated"]

    def test_resolution_replaces_a_pending_update(self, make_correlator: Make) -> None:
        """An update still waiting when the incident resolves is not sent after it."""
        c = make_correlator(update_interval_ms=10 * MIN, window_ms=5 * MIN, grace_ms=0)
        out = run(c, [fault("a1", T0, "mce"), fault("a1", T0 + MIN, "kernel_panic")],
                  end=T0 + 60 * MIN)
        assert [m["status"] for m in out] == ["open", "resolved"]
        assert out[1]["fault_classes"] == ["kernel_panic", "mce"]


class TestLifecycle:
    """Held back, published, resolved, and never kept for ever."""

    def test_host_incident_waits_for_the_grace_period(self, make_correlator: Make) -> None:
        """Nothing is published before the grace period ends; then exactly one open."""
        c = make_correlator(grace_ms=45_000)
        st: dict[str, Any] = {}
        assert c.on_event(st, alert("a1", T0)) == []
        assert c.tick(st, T0 + 44_999) == []
        out = c.tick(st, T0 + 45_000)
        assert [m["status"] for m in out] == ["open"]
        assert out[0]["updated_at"] == "2023-11-14T22:14:05.000Z"
        assert out[0]["opened_at"] == "2023-11-14T22:13:20.000Z"
        assert c.tick(st, T0 + 50_000) == []

    def test_repeated_alert_is_not_an_update(self, make_correlator: Make) -> None:
        """Re-sent firing alerts and same-class faults change no member: no message."""
        c = make_correlator()
        st: dict[str, Any] = {}
        run(c, [alert("a1", T0)], end=T0 + MIN, state=st)
        again = run(c, [alert("a1", T0 + 2 * MIN), alert("a1", T0 + 3 * MIN)], state=st)
        assert again == []

    def test_new_member_is_one_update(self, make_correlator: Make) -> None:
        """A new alert on the host changes the members: exactly one `updated`."""
        c = make_correlator()
        st: dict[str, Any] = {}
        run(c, [alert("a1", T0)], end=T0 + MIN, state=st)
        out = run(c, [alert("a1", T0 + 2 * MIN, rule="mem_high")], state=st)
        assert [m["status"] for m in out] == ["updated"]
        assert len(out[0]["alerts"]) == 2

    def test_resolves_after_alerts_resolve_and_a_quiet_window(self,
                                                              make_correlator: Make) -> None:
        """Resolution waits for every member alert to resolve and a window without events."""
        c = make_correlator(window_ms=5 * MIN)
        st: dict[str, Any] = {}
        run(c, [alert("a1", T0), alert("a1", T0 + 10_000, rule="mem_high")], state=st)
        run(c, [alert("a1", T0 + 8 * MIN, status="resolved")], state=st)
        assert by_status(c.tick(st, T0 + 20 * MIN), "resolved") == []  # mem_high still firing
        out = run(c, [alert("a1", T0 + 21 * MIN, rule="mem_high", status="resolved")],
                  state=st)
        assert [m["status"] for m in out] == ["resolved"]
        assert out[0]["resolved_at"] == out[0]["updated_at"]
        assert st["inc"] == {}
        assert c.tick(st, T0 + 90 * MIN) == []

    def test_fault_only_incident_resolves_a_window_after_the_last_fault(
            self, make_correlator: Make) -> None:
        """Faults are moments: the incident resolves a window after the last one."""
        c = make_correlator(window_ms=5 * MIN)
        out = run(c, [fault("a1", T0, "kernel_panic"), fault("a1", T0 + MIN, "mce")],
                  end=T0 + 30 * MIN)
        assert [m["status"] for m in out] == ["open", "updated", "resolved"]
        assert out[-1]["resolved_at"] == "2023-11-14T22:19:20.000Z"  # T0 + 1 min + 5 min

    def test_a_new_fault_after_resolution_is_a_new_incident(self,
                                                            make_correlator: Make) -> None:
        """Once resolved, the next fault opens an incident with a new id."""
        c = make_correlator()
        out = run(c, [fault("a1", T0, "kernel_panic"), fault("a1", T0 + 30 * MIN, "mce")],
                  end=T0 + 60 * MIN)
        assert [m["status"] for m in out] == ["open", "resolved", "open", "resolved"]
        assert out[0]["incident_id"] != out[2]["incident_id"]

    def test_info_alerts_and_corrected_errors_open_nothing(self,
                                                           make_correlator: Make) -> None:
        """Info alerts and corrected/minor faults are not incidents."""
        c = make_correlator()
        out = run(c, [alert("a1", T0, severity="info"), fault("a2", T0, "pcie_aer_corrected"),
                      fault("a3", T0, "kernel_panic", severity="info")], end=T0 + 60 * MIN)
        assert out == []

    def test_lost_resolution_does_not_keep_state_forever(self, make_correlator: Make) -> None:
        """An alert whose resolution never arrives is closed after max_open_ms."""
        c = make_correlator(max_open_ms=60 * MIN)
        st: dict[str, Any] = {}
        out = run(c, [alert("a1", T0)], end=T0 + 59 * MIN, state=st)
        assert [m["status"] for m in out] == ["open"]
        out = c.tick(st, T0 + 61 * MIN)
        assert [m["status"] for m in out] == ["resolved"]
        assert st["inc"] == {}

    def test_incident_id_is_stable_and_derived(self, make_correlator: Make) -> None:
        """Two correlators given the same events publish the same ids."""
        events = [alert("a1", T0), silent("b1", T0, rack="r2")]
        a = run(make_correlator(), events, end=T0 + MIN)
        b = run(make_correlator(), events, end=T0 + MIN)
        assert [m["incident_id"] for m in a] == [m["incident_id"] for m in b]
        assert all(m["incident_id"].startswith("inc-") and len(m["incident_id"]) == 16
                   for m in a)
        assert len({m["incident_id"] for m in a}) == 2
