"""deploy/rules/services.yaml: valid, and every alert tells the correlator what it means."""

from __future__ import annotations

import random
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


def _shop(minutes: int = 200, fault_at: int = 170, traces: bool = True) -> list[bytes]:
    """front -> orders -> payment, a batch a minute each and eight requests a minute
    logged along the chain (with a trace id, or without); from `fault_at` payment throws
    (ERROR and a stack trace) and its callers log the failed calls."""
    rnd = random.Random(5)
    out: list[tuple[int, str, bytes]] = []
    seq: dict[str, int] = {}

    def emit(host: str, ts: int, event: dict[str, object]) -> None:
        seq[host] = seq.get(host, 0) + 1
        out.append((ts, host, orjson.dumps({**event, "host": host, "ts": ts, "seq": seq[host]})))

    def log(host: str, ts: int, level: str, text: str, tid: str) -> None:
        tail = f" traceId={tid}" if traces else ""
        emit(host, ts, {"schema": "rackwatch.logs/v1", "source": "app",
                        "message": f"2023-11-15 10:00:00.000 {level:>5} 1 --- [exec-1] "
                                   f"c.e.{host[0]}.Service : {text}{tail}"})

    for i in range(minutes):
        t = T0 + i * MIN
        for h in ("front", "orders", "payment"):
            emit(h, t, {"schema": "rackwatch.metrics/v1", "labels": {"rack": h}, "samples": [
                {"name": "cpu.usage", "value": 0.2 + 0.02 * rnd.random()},
                {"name": "serving.server_latency_p99_s", "value": 0.05 + 0.01 * rnd.random()}]})
        for r in range(8):
            tid, ts = f"{rnd.getrandbits(64):016x}", t + 1000 + r * 5000
            log("front", ts, "INFO", "place order", tid)
            log("orders", ts + 3, "INFO", "create order", tid)
            if i < fault_at:
                log("payment", ts + 6, "INFO", "charged", tid)
                continue
            log("payment", ts + 6, "ERROR", "charge failed", tid)
            for k, frame in enumerate(("java.lang.IllegalStateException: card declined",
                                       "at com.example.payment.Service.charge(Service.java:88)",
                                       "at com.example.payment.Api.pay(Api.java:41)")):
                emit("payment", ts + 7 + k, {"schema": "rackwatch.logs/v1", "message": frame})
            log("orders", ts + 10, "ERROR", "payment call failed", tid)
            log("front", ts + 12, "ERROR", "order failed", tid)
    return [line for _, _, line in sorted(out, key=lambda x: (x[0], x[1]))]


class TestLogsEndToEnd:
    """A code fault seen only in the logs: errors on the culprit and its callers alike."""

    def opened(self, lines: list[bytes]) -> dict[str, object]:
        out = [orjson.loads(x) for x in replay_lines(lines, load_rules(RULES),
                                                     emit={"incidents"})]
        opened: list[dict[str, object]] = [m for m in out if m["status"] == "open"]
        assert len(opened) == 1
        return opened[0]

    def test_the_thrower_first_its_callers_explained_by_the_trace_graph(self) -> None:
        """Error-log and new-template series fire on payment; the trace ids its callers
        logged first make them its callers: payment first, orders and front explained."""
        suspects = self.opened(_shop())["suspects"]
        assert isinstance(suspects, list)
        assert [s["host"] for s in suspects] == ["payment", "orders", "front"]
        assert "callee payment" in suspects[1]["reason"]
        assert "callee orders" in suspects[2]["reason"]

    def test_without_trace_ids_new_templates_still_set_it_apart(self) -> None:
        """No graph: the stack trace's new templates still put payment first."""
        suspects = self.opened(_shop(traces=False))["suspects"]
        assert isinstance(suspects, list)
        assert suspects[0]["host"] == "payment"
