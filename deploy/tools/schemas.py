"""JSON schemas for kubeconform, made offline at setup (deploy/tools/install.sh).

`k8s OUT VERSION`: the Kubernetes API. The kubernetes-validate package ships the schemas
of every resource with their definitions in one shared file; kubeconform wants one
standalone file per resource, so each resource's schema is written with the definitions
it reaches, in kubeconform's layout (OUT/vVERSION-standalone-strict/KIND-GROUP-VERSION.json).

`crd OUT FILE...`: custom resources. Each CRD's openAPIV3Schema becomes a JSON schema
in kubeconform's CRD layout (OUT/GROUP/KIND_VERSION.json), strict as the API server's
own pruning makes it: an unknown field is an error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

_REFS = ("/api/_definitions.json#/$defs/", "#/$defs/")  # from a resource; within the defs


def _name(ref: object) -> str | None:
    for prefix in _REFS:
        if isinstance(ref, str) and ref.startswith(prefix):
            return ref[len(prefix):]
    return None


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        name = _name(node.get("$ref"))
        if name is not None:
            found.add(name)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: ("#/$defs/" + str(_name(v)) if k == "$ref" and _name(v) is not None
                    else _rewrite(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def kubernetes(out: Path, version: str) -> int:
    import kubernetes_validate  # the tools' venv has it

    src = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
           / f"v{version}-local-strict")
    defs: dict[str, Any] = json.loads((src / "_definitions.json").read_text())["$defs"]
    dest = out / f"v{version}-standalone-strict"
    dest.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(src.glob("*.json")):
        schema = json.loads(path.read_text())
        if "x-kubernetes-group-version-kind" not in schema:
            continue
        reached: set[str] = set()
        todo: set[str] = set()
        _refs(schema, todo)
        while todo:
            name = todo.pop()
            if name in reached:
                continue
            reached.add(name)
            _refs(defs[name], todo)
        schema.pop("$id", None)
        schema["$defs"] = {name: defs[name] for name in sorted(reached)}
        (dest / path.name).write_text(json.dumps(_rewrite(schema)))
        written += 1
    return written


def _strict(node: Any) -> Any:
    """openAPIV3Schema -> JSON schema: objects with declared properties take no others
    (unless they say so), int-or-string is either, nullable admits null."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()
           if k not in ("x-kubernetes-int-or-string", "nullable")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if ("properties" in out and "additionalProperties" not in out
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def crds(out: Path, files: list[str]) -> int:
    written = 0
    for name in files:
        for doc in yaml.safe_load_all(Path(name).read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            group, kind = spec["group"], spec["names"]["kind"].lower()
            for version in spec["versions"]:
                schema = _strict(version["schema"]["openAPIV3Schema"])
                # apiVersion, kind and metadata are the API server's, as in every object
                schema.setdefault("properties", {}).update({
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": {"type": "object"}})
                target = out / group / f"{kind}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema))
                written += 1
    return written


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "k8s":
        print(f"{kubernetes(Path(argv[1]), argv[2])} Kubernetes schemas", file=sys.stderr)
        return 0
    if len(argv) >= 2 and argv[0] == "crd":
        print(f"{crds(Path(argv[1]), argv[2:])} CRD schemas", file=sys.stderr)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
