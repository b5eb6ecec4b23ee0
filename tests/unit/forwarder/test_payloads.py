"""rackwatch alerts in Alertmanager's shapes: API v2 postable alerts and webhook payloads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forwarder.payloads import (
    ZERO_TIME,
    alertmanager_alert,
    label_name,
    labels_of,
    rfc3339,
    webhook_payload,
)
from forwarder.service import decode_alert
from forwarder.targets import targets

NOW = 1_790_000_000_000
GEN = "http://grafana/d/rackwatch-alerts?fp={fingerprint}&host={host}"


def alert(status: str = "firing", **kw: Any) -> dict[str, Any]:
    a: dict[str, Any] = {
        "schema": "rackwatch.alert/v1", "fingerprint": "0123456789abcdef", "status": status,
        "rule": "GpuHot", "severity": "critical", "host": "gpu-007",
        "labels": {"rack": "r1", "gpu.index": "3", "alertname": "GpuHot", "host": "gpu-007"},
        "annotations": {"summary": "GPU 3 at 91 C", "description": "hot"},
        "value": 91.25, "threshold": 85.0, "starts_at": "2026-09-21T10:00:00.000Z",
        "ends_at": None if status == "firing" else "2026-09-21T10:05:00.000Z",
        "updated_at": "2026-09-21T10:05:00.000Z"}
    a.update(kw)
    return a


class TestAlertmanager:
    """POST /api/v2/alerts bodies."""

    def test_firing_alert_gets_a_bounded_future_end(self) -> None:
        """endsAt = now + ends_at_after: Alertmanager resolves it if rackwatch goes away."""
        am = alertmanager_alert(alert(), NOW, 240_000, GEN)
        assert am["labels"] == {"rack": "r1", "gpu_index": "3", "alertname": "GpuHot",
                                "host": "gpu-007", "severity": "critical"}
        assert am["annotations"]["summary"] == "GPU 3 at 91 C"
        assert am["annotations"]["value"] == "91.25"
        assert am["annotations"]["rackwatch_fingerprint"] == "0123456789abcdef"
        assert am["startsAt"] == "2026-09-21T10:00:00.000Z"
        assert am["endsAt"] == rfc3339(NOW + 240_000)
        assert am["generatorURL"] == "http://grafana/d/rackwatch-alerts?fp=0123456789abcdef" \
                                     "&host=gpu-007"

    def test_resolved_alert_carries_its_own_end(self) -> None:
        """A resolution is sent with the time the alert ended."""
        am = alertmanager_alert(alert("resolved"), NOW, 240_000, "")
        assert am["endsAt"] == "2026-09-21T10:05:00.000Z" and "generatorURL" not in am

    @given(st.text(min_size=1, max_size=20))
    def test_label_names_are_prometheus_names(self, name: str) -> None:
        """Any label name becomes [a-zA-Z_][a-zA-Z0-9_]*."""
        out = label_name(name)
        assert out and (out[0].isalpha() or out[0] == "_") and out.isascii()
        assert all(c.isalnum() or c == "_" for c in out)

    def test_alertname_is_the_rule(self) -> None:
        """As in Prometheus; severity and host are labels too."""
        labels = labels_of({"rule": "R", "severity": "info", "host": None, "labels": {}})
        assert labels == {"alertname": "R", "severity": "info"}

    def test_owner_and_priority_are_labels(self) -> None:
        """Routing's assignee and priority travel on as labels; alerts without them
        (older producers) have none."""
        routed = alertmanager_alert(alert(assignee="gpu-oncall", priority="P1"), NOW,
                                    240_000, GEN)
        assert routed["labels"]["assignee"] == "gpu-oncall"
        assert routed["labels"]["priority"] == "P1"
        plain = alertmanager_alert(alert(), NOW, 240_000, GEN)
        assert "assignee" not in plain["labels"] and "priority" not in plain["labels"]


class TestWebhook:
    """Alertmanager's webhook payload, version 4."""

    def test_shape_of_a_mixed_batch(self) -> None:
        """Status firing when any alert fires; common labels; Go's zero time for no end."""
        body = webhook_payload([alert(), alert("resolved", fingerprint="fedcba9876543210",
                                               host="gpu-008")],
                               receiver="rackwatch", group_key="{}:{}", generator=GEN)
        assert set(body) == {"version", "groupKey", "truncatedAlerts", "status", "receiver",
                             "groupLabels", "commonLabels", "commonAnnotations",
                             "externalURL", "alerts"}
        assert (body["version"], body["status"], body["receiver"]) == ("4", "firing",
                                                                      "rackwatch")
        first, second = body["alerts"]
        assert first["endsAt"] == ZERO_TIME and second["status"] == "resolved"
        assert second["endsAt"] == "2026-09-21T10:05:00.000Z"
        assert second["fingerprint"] == "fedcba9876543210"
        assert body["commonLabels"] == {"rack": "r1", "gpu_index": "3", "alertname": "GpuHot",
                                        "severity": "critical"}
        only_resolved = webhook_payload([alert("resolved")], receiver="r", group_key="k",
                                        generator="")
        assert only_resolved["status"] == "resolved"


class TestDecode:
    """What on the alerts topic is an alert."""

    @pytest.mark.parametrize(("raw", "why"), [
        (b"{nope", "bad_json"), (b"[1]", "not_an_alert"),
        (b'{"schema": "rackwatch.incident/v1"}', "not_an_alert"),
        (b'{"schema": "rackwatch.alert/v1", "fingerprint": "x"}', "missing_field"),
        (None, "bad_json"),
    ])
    def test_skips_say_why(self, raw: bytes | None, why: str) -> None:
        """Anything else is skipped with its reason (and counted by the service)."""
        assert decode_alert(raw) == (None, why)

    def test_silenced_alerts_are_not_forwarded(self) -> None:
        """A change a silence held when it was made is skipped; one made after the
        silence ended (or without one) is forwarded."""
        import orjson

        held = alert(updated_at="2026-12-04T10:00:00.000Z",
                     silenced_until="2026-12-04T12:00:00.000Z")
        assert decode_alert(orjson.dumps(held)) == (None, "silenced")
        after = {**held, "silenced_until": "2026-12-04T09:59:59.999Z"}
        assert decode_alert(orjson.dumps(after))[0] is not None
        assert decode_alert(orjson.dumps(alert()))[0] is not None


class TestTargets:
    """Targets from the configuration: names without secrets, stable groups."""

    def test_groups_and_names(self, tmp_path: Any) -> None:
        """One group per target, named after the URL; the API path appended."""
        from common.config import load_config

        p = tmp_path / "c.toml"
        p.write_text('[forwarder]\nalertmanager_urls = ["http://am:9093/"]\n'
                     'webhook_urls = ["https://u:tok@hooks.example/rw"]\n')
        am, hook = targets(load_config(p, env={}))
        assert am.url == "http://am:9093/api/v2/alerts" and am.refreshes
        assert am.name == "alertmanager:am:9093"
        assert am.group_id.startswith("rackwatch.forward.alertmanager-")
        assert hook.name == "webhook:hooks.example/rw" and not hook.refreshes
        assert targets(load_config(p, env={}))[0].group_id == am.group_id
