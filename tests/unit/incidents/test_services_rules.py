"""deploy/rules/services.yaml: valid, and every alert tells the correlator what it means."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml

from schemas.catalogue import spec_for
from streams.incidents.config import SIGNAL_CLASSES
from streams.replay import replay_lines
from streams.rules import load_rules

RULES = Path(__file__).resolve().parents[3] / "deploy" / "rules" / "services.yaml"
T0 = 1_700_000_040_000
MIN = 60_000


def rules_yaml() -> list[dict[str, object]]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


class TestServicesRuleSet:
    """The shipped rule set for service fleets."""

    def test_loads(self) -> None:
        """It parses and validates as a rule file."""
        assert len(load_rules(RULES).rules) == len(rules_yaml())

    def test_every_rule_has_a_known_signal_and_opens_incidents(self) -> None:
        """A `signal` of the documented classes, at warning or critical."""
        for r in rules_yaml():
            labels = r["labels"]
            assert isinstance(labels, dict)
            assert labels.get("signal") in SIGNAL_CLASSES, r["alert"]
            assert labels.get("severity") in ("warning", "critical"), r["alert"]

    def test_metrics_are_catalogued(self) -> None:
        """Every metric it watches is in the catalogue (units and bounds known)."""
        for r in rules_yaml():
            metric = r.get("metric")
            assert metric is None or spec_for(str(metric)) is not None, metric

    def test_anomaly_holds_suit_one_sample_a_minute(self) -> None:
        """Holds of a few samples, so one incident does not run into the next."""
        for r in rules_yaml():
            if r["kind"] == "anomaly":
                params = r["params"]
                assert isinstance(params, dict) and params["hold"] <= 10, r["alert"]


class TestServicesRuleSetEndToEnd:
    """Through replay: a service's CPU saturates, its caller's calls slow down."""

    def test_one_service_incident_naming_the_saturated_service(self) -> None:
        """Two hours of steady pods, then `cart` saturates: one incident, cart first."""
        lines: list[bytes] = []
        for i in range(150):
            hot = i >= 120
            for host, cpu, lat in (("cart", 0.95 if hot else 0.2 + 0.01 * (i % 3), 0.01),
                                   ("front", 0.3 + 0.01 * (i % 2), 0.5 if hot else 0.05)):
                lines.append(orjson.dumps({
                    "schema": "rackwatch.metrics/v1", "host": host, "ts": T0 + i * MIN,
                    "seq": i + 1, "labels": {"rack": host}, "samples": [
                        {"name": "cpu.usage", "value": cpu},
                        {"name": "serving.client_latency_p99_s", "value": lat}]}))
        out = [orjson.loads(x) for x in replay_lines(lines, load_rules(RULES),
                                                     emit={"incidents"})]
        opened = [m for m in out if m["status"] == "open"]
        assert len(opened) == 1
        assert opened[0]["scope"] == "service"
        assert [s["host"] for s in opened[0]["suspects"]] == ["cart", "front"]
