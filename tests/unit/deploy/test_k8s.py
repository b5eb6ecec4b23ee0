"""deploy/k8s: valid for a current Kubernetes and KEDA, and consistent with rackwatch."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.config import Config
from tests.unit.deploy import k8s
from tests.unit.deploy.helpers import (
    REPO,
    check_command,
    config_key_known,
    env_read_by_rackwatch,
)

BASE = REPO / "deploy" / "k8s" / "base"
CONFIG = tomllib.loads((BASE / "config" / "rackwatch.toml").read_text())
ROLE_PORTS = {"worker": 9464, "sink": 9465, "forwarder": 9466, "agent": 9467}
# Read by the NVIDIA container runtime, not by rackwatch: NVML without taking a GPU.
RUNTIME_ENV = {"NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES"}
MEASURED_WORKER_RSS = 765 * 2**20  # docs/benchmarks.md: 10,000 hosts x 100 series


@pytest.fixture(scope="module", params=k8s.OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def docs(overlay: str) -> list[dict[str, Any]]:
    return k8s.documents(overlay)


def _containers(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, c) for name, spec in k8s.pod_specs(docs).items()
            for c in spec["containers"]]


def _expand(arg: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\(([A-Z0-9_]+)\)", lambda m: values.get(m.group(1), "x"), arg)


class TestSchemas:
    """kubeconform, offline, with Kubernetes' and the CRDs' own schemas."""

    def test_rendered_overlay_is_valid(self, overlay: str, tmp_path: Path) -> None:
        """Every object validates strictly (unknown fields are errors)."""
        out = tmp_path / f"{overlay}.yaml"
        out.write_text(k8s.render(overlay))
        run = k8s.kubeconform(out)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "Skipped: 0" in run.stdout and "Errors: 0" in run.stdout, run.stdout

    @pytest.mark.parametrize(("kind", "spoil"), [
        ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
            {"livenessProbes": {}})),
        ("ScaledObject", lambda d: d["spec"].update({"maxReplicaCount": "12"})),
        ("ServiceMonitor", lambda d: d["spec"]["endpoints"][0].update({"porta": "x"})),
    ])
    def test_a_spoiled_object_is_refused(self, kind: str, spoil: Any, tmp_path: Path) -> None:
        """The check can fail: one wrong field in each kind of schema is caught."""
        doc = next(d for d in k8s.documents("production") if d["kind"] == kind)
        spoil(doc)
        out = tmp_path / "spoiled.yaml"
        out.write_text(yaml.safe_dump(doc))
        run = k8s.kubeconform(out)
        assert run.returncode != 0 and "Invalid: 1" in run.stdout, run.stdout


class TestScaling:
    """KEDA scales the workers on their own group's lag, never past the partitions."""

    def test_scaled_object_watches_the_workers_group_and_topics(
            self, docs: list[dict[str, Any]]) -> None:
        from streams.rules import default_rules
        from streams.worker import build_app

        env = k8s.config_map(docs, "rackwatch-env")
        cfg = Config(home=Path("unused"))
        app = build_app(cfg, default_rules())
        topics = {t for agent in app.agents.values() for t in agent.channel.topics}
        assert env["RACKWATCH_TOPIC_PREFIX"] == cfg.kafka.topic_prefix
        so = k8s.by_kind(docs, "ScaledObject")["rackwatch-worker"]
        assert so["spec"]["scaleTargetRef"]["name"] in k8s.by_kind(docs, "Deployment")
        triggers = so["spec"]["triggers"]
        assert {t["metadata"]["topic"] for t in triggers} == {
            cfg.topic("metrics"), cfg.topic("logs")} and {cfg.topic("metrics")} < topics
        for t in triggers:
            assert t["type"] == "kafka"
            assert t["metadata"]["consumerGroup"] == app.conf.id
            assert t["metadata"]["bootstrapServers"] == env["RACKWATCH_KAFKA_BOOTSTRAP"]
            assert t["metadata"]["allowIdleConsumers"] == "false"

    def test_the_operations_guide_points_at_it(self) -> None:
        path = "deploy/k8s/base/worker-scaledobject.yaml"
        assert (REPO / path).is_file() and path in (REPO / "docs/operations.md").read_text()

    def test_never_more_workers_than_partitions(self, docs: list[dict[str, Any]]) -> None:
        spec = k8s.by_kind(docs, "ScaledObject")["rackwatch-worker"]["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert spec["maxReplicaCount"] <= CONFIG["kafka"]["partitions"]


class TestContainers:
    """Commands, environment, probes and resources agree with rackwatch."""

    def test_commands_are_real_with_valid_flags(self, docs: list[dict[str, Any]]) -> None:
        values = {**k8s.config_map(docs, "rackwatch-backup"), "NODE_NAME": "node-1"}
        pending = []
        for name, c in _containers(docs):
            argv = [_expand(a, values) for a in c["command"]]
            try:
                check_command(argv)
            except pytest.skip.Exception as e:
                pending.append(f"{name}: {e}")
        if pending:
            pytest.skip("; ".join(pending))

    def test_environment_is_read_by_rackwatch(self, docs: list[dict[str, Any]]) -> None:
        """Variables are rackwatch's, expanded in the command, or the GPU runtime's."""
        read = env_read_by_rackwatch()
        for name, c in _containers(docs):
            names = {e["name"] for e in c.get("env", [])}
            for source in c.get("envFrom", []):
                names |= set(k8s.config_map(docs, source["configMapRef"]["name"]))
            expanded = set(re.findall(r"\$\(([A-Z0-9_]+)\)", " ".join(c["command"])))
            unknown = names - read - expanded - RUNTIME_ENV
            assert not unknown, f"{name}: rackwatch reads none of {unknown}"

    def test_probes_ask_the_roles_endpoint(self, docs: list[dict[str, Any]]) -> None:
        for name, c in _containers(docs):
            role = c["name"]
            if role not in ROLE_PORTS:
                continue
            port = next(p for p in c["ports"] if p["name"] == "metrics")
            assert port["containerPort"] == ROLE_PORTS[role] == CONFIG[role]["metrics_port"]
            assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
            assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
            assert CONFIG[role]["metrics_host"] == "0.0.0.0", name

    def test_worker_memory_covers_the_measured_figure(self) -> None:
        docs = k8s.documents("production")
        worker = k8s.pod_specs(docs)["rackwatch-worker"]["containers"][0]["resources"]
        assert k8s.quantity(worker["requests"]["memory"]) >= MEASURED_WORKER_RSS
        assert k8s.quantity(worker["limits"]["memory"]) > k8s.quantity(
            worker["requests"]["memory"])

    def test_every_container_has_requests_and_a_memory_limit(
            self, docs: list[dict[str, Any]]) -> None:
        for name, c in _containers(docs):
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
            assert "memory" in c["resources"]["limits"], name

    def test_only_the_agent_runs_as_root_and_with_host_access(
            self, docs: list[dict[str, Any]]) -> None:
        for name, spec in k8s.pod_specs(docs).items():
            c = spec["containers"][0]
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            if name.startswith("rackwatch-agent"):
                assert spec["hostPID"] and spec["hostNetwork"]
                assert set(c["securityContext"]["capabilities"]["add"]) == {
                    "SYSLOG", "DAC_READ_SEARCH"}
                mounts = {m["mountPath"] for m in c["volumeMounts"]}
                assert {"/dev/kmsg", "/var/log"} <= mounts
            else:
                assert spec["securityContext"]["runAsNonRoot"] is True, name
                assert not spec.get("hostPID") and not spec.get("hostNetwork"), name

    def test_gpu_nodes_get_nvml(self) -> None:
        spec = k8s.pod_specs(k8s.documents("production"))["rackwatch-agent-gpu"]
        assert spec["runtimeClassName"] == "nvidia"
        assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
        assert env["NVIDIA_DRIVER_CAPABILITIES"] == "utility"


class TestWiring:
    """Selectors, Secrets and ConfigMaps point at what exists."""

    def test_selectors_match_pods(self, docs: list[dict[str, Any]]) -> None:
        """Every Service, PodDisruptionBudget and ServiceMonitor selects something."""
        pods = [d["spec"]["template"]["metadata"]["labels"] for d in docs
                if d["kind"] in ("Deployment", "DaemonSet")]
        services = k8s.by_kind(docs, "Service")

        def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
            return all(labels.get(k) == v for k, v in selector.items())

        for svc in services.values():
            assert any(matches(svc["spec"]["selector"], p) for p in pods), svc["metadata"]
        for pdb in k8s.by_kind(docs, "PodDisruptionBudget").values():
            assert any(matches(pdb["spec"]["selector"]["matchLabels"], p) for p in pods)
        for sm in k8s.by_kind(docs, "ServiceMonitor").values():
            chosen = [s for s in services.values()
                      if matches(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
            assert chosen, sm["metadata"]["name"]
            for s in chosen:
                assert sm["spec"]["endpoints"][0]["port"] in {p["name"] for p in
                                                              s["spec"]["ports"]}

    def test_secret_keys_are_the_documented_ones(self, docs: list[dict[str, Any]]) -> None:
        """Each secretKeyRef is a key the README's `kubectl create secret` makes."""
        readme = (REPO / "README.md").read_text()
        for name, c in _containers(docs):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "rackwatch-credentials", name
                    assert f"--from-literal={ref['key']}=" in readme, ref["key"]

    def test_rules_are_the_shipped_ones(self) -> None:
        shipped = (REPO / "streams/rules/default_rules.yaml").read_text()
        assert (BASE / "config" / "rules.yaml").read_text() == shipped

    def test_pipeline_rules_are_the_prometheus_file(self) -> None:
        rule = yaml.safe_load((BASE / "prometheusrule-pipeline.yaml").read_text())
        plain = yaml.safe_load((REPO / "deploy/prometheus/rackwatch-rules.yaml").read_text())
        assert rule["spec"]["groups"] == plain["groups"]

    def test_backup_rules_are_the_prometheus_files(self) -> None:
        rule = yaml.safe_load((BASE / "prometheusrule.yaml").read_text())
        plain = yaml.safe_load((REPO / "deploy/prometheus/backup-rules.yaml").read_text())
        assert rule["spec"]["groups"][: len(plain["groups"])] == plain["groups"]

    @pytest.mark.parametrize(("section", "key"),
                             [(s, k) for s, body in CONFIG.items() for k in body])
    def test_config_keys_are_rackwatchs(self, section: str, key: str) -> None:
        why = config_key_known(section, key)
        if why:
            pytest.skip(f"[{section}] {key}: {why}")
