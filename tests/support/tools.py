"""The external tools some tests run, built once by `make tools` into the shared cache.

Each is found at `$RACKWATCH_<NAME>` when set, else where the Makefile puts it; a test
that needs one skips, saying how to get it, when it is not there.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ALERTMANAGER_VERSION", "PROMETHEUS_MODULE", "alertmanager", "promtool"]

ALERTMANAGER_VERSION = "0.35.0"  # as in the Makefile
PROMETHEUS_MODULE = "v0.316.0"


def _cache() -> Path:
    base = os.environ.get("RACKWATCH_KAFKA_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "rackwatch"


def _find(env: str, default: Path) -> Path | None:
    path = Path(os.environ[env]) if os.environ.get(env) else default
    return path if path.is_file() and os.access(path, os.X_OK) else None


def alertmanager() -> Path | None:
    """The Alertmanager binary (`make tools` builds it), or None."""
    return _find("RACKWATCH_ALERTMANAGER",
                 _cache() / f"alertmanager-{ALERTMANAGER_VERSION}" / "alertmanager")


def promtool() -> Path | None:
    """Prometheus' promtool (`make tools` builds it), or None."""
    return _find("RACKWATCH_PROMTOOL", _cache() / f"promtool-{PROMETHEUS_MODULE}" / "promtool")
