"""The correlator's state record and its compact changelog form."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.incidents import Correlator
from streams.incidents.state import ScopeState

from .builders import MIN, T0, alert, fault, silent

EVENTS = st.lists(st.tuples(st.sampled_from(["alert", "resolve", "fault", "silent", "svc"]),
                            st.sampled_from(["h1", "h2", "h3"]), st.integers(0, 20)),
                  min_size=1, max_size=25)


def _event(kind: str, host: str, k: int) -> dict[str, Any]:
    ts = T0 + k * MIN
    if kind == "alert":
        return alert(host, ts, rack="r1", topo={"job": "j"})
    if kind == "resolve":
        return alert(host, ts, rack="r1", status="resolved")
    if kind == "fault":
        return fault(host, ts, "gpu_xid_79", rack="r1", labels={"gpu": "0"})
    if kind == "svc":
        return alert(host, ts, rule="lat", severity="warning", rack=host,
                     labels={"signal": "latency"})
    return silent(host, ts, rack="r1")


class TestRoundTrip:
    """Reading a state and writing it back changes nothing."""

    @settings(max_examples=60, deadline=None)
    @given(EVENTS)
    def test_read_then_written_is_the_same_json(self, raw: list[tuple[str, str, int]]) -> None:
        """For any state the correlator writes, record -> JSON -> record -> JSON is stable."""
        c = Correlator()
        state: dict[str, Any] = {}
        for kind, host, k in sorted(raw, key=lambda r: r[2]):
            c.on_event(state, _event(kind, host, k))
            again = ScopeState(orjson.loads(orjson.dumps(state))).to_json()
            assert orjson.loads(orjson.dumps(again)) == orjson.loads(orjson.dumps(state))

    def test_an_empty_state_is_small(self) -> None:
        """A fresh state writes only its always-present parts."""
        out = ScopeState().to_json()
        assert set(out) == {"wm", "hosts", "alerts", "grp", "rs", "inc", "ids", "faults"}

    def test_optional_parts_are_left_out(self) -> None:
        """A host incident writes no service, group or update fields it does not use."""
        state: dict[str, Any] = {}
        Correlator().on_event(state, alert("h1", T0, rack="r1"))
        inc = state["inc"]["host:h1"]
        for absent in ("sus", "on", "ffe", "ud", "gh", "ff"):
            assert absent not in inc
        assert "sc" not in state["alerts"]["fp-h1-cpu_high-"]
