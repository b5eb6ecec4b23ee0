"""deploy/k8s rendered as kubectl would apply it (kustomize), and checked by kubeconform."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.unit.deploy.helpers import REPO, schemas_dir, tool

OVERLAYS = ("production", "small")
K8S_VERSION = "1.37.0"


@cache
def _render(overlay: str, kustomize: str) -> str:
    run = subprocess.run([kustomize, "build", str(REPO / "deploy/k8s/overlays" / overlay)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


def render(overlay: str) -> str:
    return _render(overlay, str(tool("kustomize")))


def documents(overlay: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render(overlay)) if d]


def kubeconform(path: Path) -> subprocess.CompletedProcess[str]:
    schemas = schemas_dir()
    return subprocess.run(
        [str(tool("kubeconform")), "-strict", "-summary", "-kubernetes-version", K8S_VERSION,
         "-schema-location", str(schemas / "k8s") + "/{{ .NormalizedKubernetesVersion }}"
         "-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json",
         "-schema-location", str(schemas / "crd") + "/{{ .Group }}/{{ .ResourceKind }}_"
         "{{ .ResourceAPIVersion }}.json", str(path)],
        capture_output=True, text=True, timeout=120)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Workload name -> its pod spec (Deployments, DaemonSets, CronJobs)."""
    out = {}
    for d in docs:
        if d["kind"] in ("Deployment", "DaemonSet"):
            out[d["metadata"]["name"]] = d["spec"]["template"]["spec"]
        elif d["kind"] == "CronJob":
            out[d["metadata"]["name"]] = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return out


def config_map(docs: list[dict[str, Any]], prefix: str) -> dict[str, str]:
    """The generated ConfigMap whose name starts with `prefix` (kustomize adds a hash)."""
    for d in docs:
        if d["kind"] == "ConfigMap" and re.fullmatch(f"{prefix}(-[a-z0-9]+)?",
                                                     d["metadata"]["name"]):
            return dict(d["data"])
    raise AssertionError(f"no ConfigMap {prefix}")


def quantity(text: str) -> float:
    """A Kubernetes quantity in bytes or cores."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    assert m, text
    return float(m.group(1)) * units.get(m.group(2), 1)
