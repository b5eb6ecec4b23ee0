"""The published JSON Schemas of alerts and incidents hold for what rackwatch emits, and
refuse what the contract rules out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev extras
import orjson
import pytest

from rackwatch.cli import main

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "json"


def validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft202012Validator(schema,
                                           format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Alerts and incidents of a replayed simulated hour with every kind of fault."""
    d = tmp_path_factory.mktemp("contract")
    events, out = d / "events.jsonl", d / "out.jsonl"
    assert main(["simulate", "--hosts", "8", "--interval", "10", "--duration", "3600",
                 "--seed", "3", "--faults", "all", "--start-ms", "1790000000000",
                 "--output", str(events)]) == 0
    assert main(["replay", str(events), "--emit", "alerts,incidents,actions", "-o",
                 str(out)]) == 0
    return [orjson.loads(line) for line in out.read_bytes().splitlines() if line.strip()]


class TestEmitted:
    """Every message the pipeline writes validates."""

    def test_alerts_and_incidents_validate(self, emitted: list[dict[str, Any]]) -> None:
        """Both kinds, firing and resolved, opened and resolved, all valid."""
        alerts = [m for m in emitted if m["schema"] == "rackwatch.alert/v1"]
        incidents = [m for m in emitted if m["schema"] == "rackwatch.incident/v1"]
        assert {a["status"] for a in alerts} == {"firing", "resolved"}
        assert {i["status"] for i in incidents} >= {"open", "resolved"}
        va, vi = validator("alert.v1.schema.json"), validator("incident.v1.schema.json")
        for a in alerts:
            va.validate(a)
            assert "incident_id" not in a
        for i in incidents:
            vi.validate(i)
        linked = {fp for i in incidents for fp in i["alerts"]}
        assert linked & {a["fingerprint"] for a in alerts}, "incidents name their alerts"

    def test_actions_validate(self, emitted: list[dict[str, Any]]) -> None:
        """rackwatch's own actions (assigned, escalated, resolved), and a person's, valid;
        every firing alert has an owner and a priority."""
        actions = [m for m in emitted if m["schema"] == "rackwatch.action/v1"]
        assert {a["action"] for a in actions} >= {"assigned", "resolved"}
        va = validator("action.v1.schema.json")
        for a in actions:
            va.validate(a)
        for a in emitted:
            if a["schema"] == "rackwatch.alert/v1":
                assert a["assignee"] and a["priority"]
        from streams.handling.actions import make_action

        va.validate(make_action("silenced", None, "alice", 1_790_000_000_000,
                                matchers=['rack="r1"'], until="2026-09-21T10:05:00.000Z"))
        with pytest.raises(jsonschema.ValidationError):
            va.validate(make_action("silenced", None, "alice", 1_790_000_000_000))
        with pytest.raises(jsonschema.ValidationError):
            va.validate({**actions[0], "by": ""})


class TestRefused:
    """What the contract rules out fails validation."""

    def base(self) -> dict[str, Any]:
        return {"schema": "rackwatch.alert/v1", "fingerprint": "0123456789abcdef",
                "status": "resolved", "rule": "R", "severity": "info", "host": "h",
                "labels": {}, "annotations": {"summary": "s", "description": ""},
                "value": None, "threshold": None, "starts_at": "2026-01-01T00:00:00.000Z",
                "ends_at": "2026-01-01T00:01:00.000Z", "updated_at": "2026-01-01T00:01:00.000Z"}

    @pytest.mark.parametrize("change", [
        {"fingerprint": "fp-1"},
        {"ends_at": None},
        {"status": "firing"},  # firing with an end
        {"annotations": {"summary": "s"}},
        {"starts_at": "yesterday"},
        {"labels": {"rack": 7}},
    ])
    def test_alert_violations(self, change: dict[str, Any]) -> None:
        """A bad fingerprint, a resolution without its end, a firing alert with one..."""
        va = validator("alert.v1.schema.json")
        va.validate(self.base())
        assert not va.is_valid({**self.base(), **change})

    def test_incident_resolved_needs_its_time(self) -> None:
        """resolved_at is set exactly when the incident is resolved."""
        vi = validator("incident.v1.schema.json")
        inc = {"schema": "rackwatch.incident/v1", "incident_id": "inc-0123456789ab",
               "status": "resolved", "scope": "host", "scope_value": "h", "suspect": "h",
               "root_cause_hint": "", "hosts": ["h"], "alerts": [], "severity": "info",
               "opened_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
               "resolved_at": "2026-01-01T00:00:00.000Z"}
        vi.validate(inc)
        assert not vi.is_valid({**inc, "resolved_at": None})
        assert not vi.is_valid({**inc, "incident_id": "inc-1"})
