"""What the deployment tests share: the repository, the validators, the real CLI.

The validators (check-jsonschema, kubeconform, kustomize, ansible-lint...) are installed
by `make deploy-tools` into the cache the Kafka jars use; a test that needs one skips,
naming the command that installs it, when it is not there.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import os
import re
import shutil
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("rackwatch", "producers", "streams", "sinks", "schemas", "common", "forwarder")

# What another branch adds and this one does not have yet: the forwarder's command and
# config section, the sink's and agent's metrics endpoints. Allowed missing, said so.
# Commands and keys the deployment may name before they exist: none (every one is real).
PENDING_COMMANDS: dict[str, str] = {}
PENDING_KEYS: dict[tuple[str, str], str] = {}


def tools_dir() -> Path:
    base = os.environ.get("RACKWATCH_KAFKA_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "rackwatch"
    return root / "deploy-tools"


def tool(name: str) -> Path:
    """A validator's path, or skip saying how to install it."""
    for where in (tools_dir() / "venv" / "bin" / name, tools_dir() / "bin" / name):
        if where.is_file() and os.access(where, os.X_OK):
            return where
    pytest.skip(f"{name} is not installed: `make deploy-tools` installs it into "
                f"{tools_dir()}")


def schemas_dir() -> Path:
    path = tools_dir() / "schemas"
    if not (path / "k8s").is_dir():
        pytest.skip(f"no Kubernetes schemas in {path}: `make deploy-tools` makes them")
    return path


def env_read_by_rackwatch() -> set[str]:
    """Every RACKWATCH_* (and AWS_*, the S3 backup target's) variable the code names as a
    whole string: what it reads."""
    names: set[str] = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py") if (REPO / package).is_dir() else ():
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and re.fullmatch(r"(RACKWATCH|AWS)_[A-Z0-9_]+", node.value)):
                    names.add(node.value)
    return names


@cache
def _parser() -> argparse.ArgumentParser:
    from rackwatch.cli import build_parser

    return build_parser()


def subcommands() -> set[str]:
    parser = _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def check_command(argv: list[str]) -> None:
    """Fail unless `argv` is a rackwatch command line the real parser accepts; skip
    when its subcommand is one another branch adds."""
    assert argv and argv[0] == "rackwatch", f"not a rackwatch command: {argv}"
    words = [a for a in argv[1:] if not a.startswith("-")]
    sub = next((w for w in words if w in subcommands() or w in PENDING_COMMANDS), None)
    if sub in PENDING_COMMANDS and sub not in subcommands():
        pytest.skip(f"`rackwatch {sub}`: {PENDING_COMMANDS[sub]}")
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            _parser().parse_args(argv[1:])
    except SystemExit as e:
        pytest.fail(f"{' '.join(argv)}: not a valid rackwatch command line "
                    f"({err.getvalue().strip().splitlines()[-1:]}; exit {e.code})")


def config_key_known(section: str, key: str) -> str | None:
    """None when [section] key is in the configuration model; else why it may be
    missing (a pending key), or raise AssertionError."""
    from common.config import Config, sections

    known = sections()
    if section in known and (key in known[section].__dataclass_fields__):
        return None
    for (s, k), why in PENDING_KEYS.items():
        if s == section and k in ("*", key):
            return why
    raise AssertionError(f"[{section}] {key} is not a rackwatch configuration key "
                         f"(sections: {', '.join(known)}; Config: {Config.__name__})")


def which(name: str) -> str | None:
    return shutil.which(name)
