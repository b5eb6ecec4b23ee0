"""A series of backups in one place: what the next one builds on, and which to delete.

Scheduled backups (`rackwatch backup --into ...`) accumulate in one location, each with
its manifest. A new backup is incremental on top of the latest one (ClickHouse's
`BACKUP ... SETTINGS base_backup = ...` stores only the data parts its base lacks) until
the chain since the last full backup is `full_every` long; then a full one starts a new
chain. Retention keeps the newest `keep` backups *and every backup they are built on*, so
that whatever is kept can be restored; everything else is deleted.

Plain data in, plain data out: the I/O (ClickHouse, folders, S3) is in sinks.backup and
sinks.backuptarget.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FORMAT", "MANIFEST", "Entry", "ManifestError", "backup_name", "build_manifest",
           "chain_of", "parse_manifest", "plan_next", "to_delete"]

MANIFEST = "rackwatch-backup.json"
FORMAT = "rackwatch-backup/v2"
_FORMATS = ("rackwatch-backup/v1", FORMAT)  # v1: one-off full backups, no `kind`

Kind = Literal["full", "incremental"]


class ManifestError(ValueError):
    """A manifest that is not one of ours, or is inconsistent."""


@dataclass(frozen=True)
class Entry:
    """One backup of a series, as its manifest describes it."""

    name: str
    kind: Kind
    base: str | None  # the backup this one is built on (None: a full backup)
    created_at: str  # RFC 3339, UTC; names sort the same way
    tables: Mapping[str, int] = field(default_factory=dict)


def backup_name(now_s: float, kind: Kind, taken: Iterable[str] = ()) -> str:
    """`rackwatch-20240601T020000Z-full`: sortable by time, unique within `taken`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_s))
    suffix = "full" if kind == "full" else "incr"
    name, n, used = f"rackwatch-{stamp}-{suffix}", 1, set(taken)
    while name in used:  # two runs within one second
        n += 1
        name = f"rackwatch-{stamp}-{n}-{suffix}"
    return name


def build_manifest(*, name: str, kind: Kind, base: str | None, database: str,
                   created_at: str, tables: Mapping[str, int], schema_versions: Sequence[int],
                   chain: Sequence[str]) -> dict[str, Any]:
    """The manifest written beside a backup. `tables` holds row counts taken just
    before BACKUP ran: rows only arrive, so the backup holds at least these."""
    return {"format": FORMAT, "name": name, "kind": kind, "base": base,
            "chain": list(chain), "database": database, "created_at": created_at,
            "tables": dict(tables), "schema_versions": list(schema_versions)}


def parse_manifest(doc: object, name: str) -> Entry:
    """The Entry a manifest describes; `name` is where it was found (v1 has none)."""
    if not isinstance(doc, dict) or doc.get("format") not in _FORMATS:
        raise ManifestError(f"{name}: not a rackwatch backup manifest")
    kind = doc.get("kind", "full")
    base = doc.get("base")
    if kind not in ("full", "incremental") or (kind == "full") != (base is None):
        raise ManifestError(f"{name}: kind {kind!r} with base {base!r}")
    if base is not None and not isinstance(base, str):
        raise ManifestError(f"{name}: base {base!r} is not a backup name")
    tables = doc.get("tables", {})
    if not isinstance(tables, dict) or not all(isinstance(v, int) for v in tables.values()):
        raise ManifestError(f"{name}: tables should map names to row counts")
    return Entry(name=str(doc.get("name", name)), kind=kind, base=base,
                 created_at=str(doc.get("created_at", "")), tables=tables)


def _ordered(entries: Iterable[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (e.created_at, e.name))


def chain_of(entries: Iterable[Entry], name: str) -> list[Entry]:
    """The backups a restore of `name` reads, its full backup first. Raises when a
    backup on the way is missing (that chain cannot be restored)."""
    by_name = {e.name: e for e in entries}
    chain: list[Entry] = []
    current: str | None = name
    while current is not None:
        entry = by_name.get(current)
        if entry is None:
            wanted = f"base {current} of {chain[-1].name}" if chain else current
            raise ManifestError(f"backup {wanted} is missing")
        if entry in chain:
            raise ManifestError(f"backup {name}: its bases loop at {current}")
        chain.append(entry)
        current = entry.base
    return chain[::-1]


def plan_next(entries: Iterable[Entry], full_every: int) -> tuple[Kind, str | None]:
    """(kind, base) of the next backup: incremental on the latest restorable backup
    while its chain is shorter than `full_every`, else full."""
    known = _ordered(entries)
    for latest in reversed(known):
        try:
            chain = chain_of(known, latest.name)
        except ManifestError:
            continue  # a broken chain is never built on
        if len(chain) < full_every:
            return "incremental", latest.name
        return "full", None
    return "full", None


def to_delete(entries: Iterable[Entry], keep: int) -> list[Entry]:
    """What retention removes: everything except the newest `keep` restorable backups
    and the backups those are built on. Backups whose chain is broken are deleted too
    once a newer restorable backup is kept (they cannot be restored anyway)."""
    known = _ordered(entries)
    kept: set[str] = set()
    newest = 0
    for entry in reversed(known):
        if newest >= keep:
            break
        try:
            chain = chain_of(known, entry.name)
        except ManifestError:
            continue
        kept.update(e.name for e in chain)
        newest += 1
    if not kept:
        return []  # nothing restorable: delete nothing, someone must look
    return [e for e in known if e.name not in kept]
