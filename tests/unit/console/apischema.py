"""Validation of console API answers against their JSON Schemas (console/schemas/)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parents[3] / "console" / "schemas"

__all__ = ["SCHEMAS", "validate"]


@lru_cache(maxsize=1)
def _registry() -> Any:
    from referencing import Registry, Resource

    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def validate(doc: Any, schema_name: str) -> None:
    """Raise jsonschema.ValidationError unless `doc` fits <schema_name>.schema.json."""
    import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev extras

    schema = json.loads((SCHEMAS / f"{schema_name}.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, registry=_registry()).validate(doc)
