"""Print the requirements of pyproject.toml (dependencies plus the given extras), one a
line: the image installs them in a layer of their own, before the code is copied."""

from __future__ import annotations

import sys
import tomllib


def requirements(pyproject: str, extras: str) -> list[str]:
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    out = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in filter(None, (e.strip() for e in extras.split(","))):
        if extra not in optional:
            raise SystemExit(f"unknown extra {extra!r} (known: {', '.join(optional)})")
        out += optional[extra]
    return out


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")))
