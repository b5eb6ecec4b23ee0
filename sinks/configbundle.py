"""The configuration in effect, saved with a backup and put back by a restore.

A store without the rules that judged it and the routing tree that assigned its alerts
is half a backup: `rackwatch backup` writes, into the backup's manifest, the
configuration in effect (every key, secrets masked, as `rackwatch config check` shows
it) and the text of the files it names (the worker's rule file, the routing tree, the
console's rule file). `rackwatch restore --with-config` writes them into a home: the files
under `<home>/config/`, and `<home>/rackwatch.toml` with every key that differs from
its default, the file keys pointing at the restored copies. A masked secret cannot be
restored; the restore leaves it out (default or environment applies) and names it, so
the operator sets it again.

Plain data in, plain data out, apart from reading and writing those files.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import Config, effective, sections

__all__ = ["FILE_KEYS", "RestoredConfig", "bundle", "render_toml", "restore_bundle"]

# (section, key) of the keys that name a file whose text belongs to the configuration,
# and the name its copy gets under <home>/config/.
FILE_KEYS = {("worker", "rules"): "rules.yaml", ("routing", "file"): "routes.yaml",
             ("console", "rules"): "console-rules.yaml"}
FORMAT = 1


@dataclass(frozen=True)
class RestoredConfig:
    """What a restore wrote, and the secrets it could not put back."""

    config_file: Path
    files: list[Path]
    secrets_left_out: list[str]  # "section.key"


def bundle(cfg: Config) -> dict[str, Any]:
    """The configuration in effect and the text of the files it names (JSON-ready)."""
    shown = effective(cfg)
    files: dict[str, dict[str, str]] = {}
    for (section, key), name in FILE_KEYS.items():
        path = getattr(getattr(cfg, section), key)
        if not path:
            continue
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"[{section}].{key}: cannot read {path}: {e}") from e
        files[f"{section}.{key}"] = {"path": path, "name": name, "text": text}
    return {"format": FORMAT, "effective": {s: v for s, v in shown.items() if s},
            "files": files}


def _masked(value: Any) -> bool:
    return isinstance(value, str) and "***" in value


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v)
    return json.dumps(v)


def render_toml(values: dict[str, dict[str, Any]]) -> str:
    """Sections of plain values as a TOML document ([[tables]] written inline)."""
    out: list[str] = []
    for section, keys in values.items():
        if not keys:
            continue
        out.append(f"[{section}]")
        out += [f"{k} = {_toml_value(v)}" for k, v in keys.items()]
        out.append("")
    return "\n".join(out)


def _non_default(section: str, shown: dict[str, Any],
                 secrets: list[str]) -> dict[str, Any]:
    """A section's keys that differ from their defaults; masked secrets left out (named
    in `secrets`)."""
    defaults = effective(Config())[section]
    fields = {f.name: f for f in dataclasses.fields(sections()[section])}
    out: dict[str, Any] = {}
    for key, value in shown.items():
        f = fields.get(key)
        if f is None or value == defaults.get(key):
            continue
        if f.metadata.get("secret") and _masked(value):
            secrets.append(f"{section}.{key}")
            continue
        out[key] = value
    return out


def restore_bundle(doc: dict[str, Any], home: Path, *, force: bool = False) -> RestoredConfig:
    """Write a saved configuration into `home` (ValueError: it is not one, or a file is
    in the way and `force` is not given)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError("the backup carries no configuration (made before rackwatch saved it)")
    shown = doc.get("effective") or {}
    config_file = home / "rackwatch.toml"
    targets = [home / "config" / str(f["name"]) for f in (doc.get("files") or {}).values()]
    busy = [p for p in [config_file, *targets] if p.exists()]
    if busy and not force:
        raise ValueError(f"{', '.join(map(str, busy))} exist; use --force to replace them")
    secrets: list[str] = []
    values = {s: _non_default(s, v, secrets) for s, v in shown.items() if s in sections()}
    written: list[Path] = []
    for dotted, f in (doc.get("files") or {}).items():
        section, _, key = dotted.partition(".")
        target = home / "config" / str(f["name"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(str(f["text"]), encoding="utf-8")
        values.setdefault(section, {})[key] = str(target.resolve())
        written.append(target)
    home.mkdir(parents=True, exist_ok=True)
    config_file.write_text("# restored by `rackwatch restore --with-config` from a backup\n"
                           + render_toml(values), encoding="utf-8")
    return RestoredConfig(config_file, written, secrets)
