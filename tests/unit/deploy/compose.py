"""docker-compose.yml as Compose reads it: .env, then ${VAR}, ${VAR:-default},
${VAR:?error} interpolation (the test supplies the secrets a person exports)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.unit.deploy.helpers import REPO

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$\$")
SECRETS = {"CLICKHOUSE_SINK_PASSWORD": "s3cret-sink", "CLICKHOUSE_ANALYST_PASSWORD": "s3cret-an"}


def dotenv(path: Path = REPO / ".env") -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def interpolate(text: str, env: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        if op in (":-", "-"):
            return value if value else (arg or "")
        if op in (":?", "?"):
            if not value:
                raise ValueError(f"{name} is required: {arg}")
            return value
        return value or ""

    return _VAR.sub(one, text)


def variables(text: str) -> set[str]:
    return {m.group(1) for m in _VAR.finditer(text) if m.group(1)}


def load(files: tuple[str, ...] = ("docker-compose.yml",),
         env: dict[str, str] | None = None) -> dict[str, Any]:
    """The model after interpolation; later files merge into earlier ones."""
    env = {**dotenv(), **SECRETS, **(env or {})}
    model: dict[str, Any] = {}
    for name in files:
        doc = yaml.safe_load(interpolate((REPO / name).read_text(), env))
        _merge(model, doc)
    return model


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def rackwatch_services(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in model["services"].items()
            if str(s.get("image", "")).startswith("rackwatch")}


def env_map(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}
