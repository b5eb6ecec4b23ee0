"""A correlator state written by the code before the typed state record is read and
continued exactly as that code continued it (captured in data/correlator_state_v1.json:
open host, rack and job incidents, then resolves, a late rack member and a late rank)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson

from streams.incidents import Correlator, CorrelatorConfig, FaultModel

DATA = Path(__file__).parent / "data" / "correlator_state_v1.json"
MODEL = FaultModel(intercept=-4.0, coefficients={"gpu_hot_minutes": 3.0, "faults_gpu": 2.0})


def _continue(state: dict[str, Any], case: dict[str, Any]) -> list[dict[str, Any]]:
    c = Correlator(CorrelatorConfig(), MODEL)
    out: list[dict[str, Any]] = []
    for e in case["events"]:
        out += c.on_event(state, e)
    for t in case["ticks"]:
        out += c.tick(state, t)
    return out


class TestStateWrittenBeforeTheRecord:
    """Old changelog entries keep working after the upgrade."""

    def test_old_state_continues_with_the_same_messages(self) -> None:
        """The captured state answers the captured events with the captured messages."""
        case = json.loads(DATA.read_text())
        out = _continue(copy.deepcopy(case["state"]), case)
        assert orjson.loads(orjson.dumps(out)) == case["messages"]

    def test_old_state_survives_a_round_trip_through_json(self) -> None:
        """Read, written back as JSON, read again: the same continuation."""
        case = json.loads(DATA.read_text())
        state = copy.deepcopy(case["state"])
        Correlator(CorrelatorConfig(), MODEL).tick(state, state["wm"])  # time does not move
        out = _continue(orjson.loads(orjson.dumps(state)), case)
        assert orjson.loads(orjson.dumps(out)) == case["messages"]
