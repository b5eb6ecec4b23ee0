"""The fault catalogue: log patterns -> fault class, component, severity, action.

The catalogue is data (streams/logs/faults.yaml, format documented at its top and
in docs/logs.md), validated once at load: unknown keys, bad regexes, bad
severities and placeholders that name no regex group are all reported together.

Classification must be cheap for the vast majority of lines that are not faults,
so every entry names literal keywords and a line is tried against an entry's
regex only if it contains one of them (a handful of substring tests per line).
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEFAULT_PATH",
    "FAULT_SEVERITIES",
    "GENERIC_PREFIX",
    "CatalogueError",
    "FaultCatalogue",
    "FaultEntry",
    "FaultMatch",
]

logger = logging.getLogger(__name__)

DEFAULT_PATH = Path(__file__).with_name("faults.yaml")
FAULT_SEVERITIES = ("critical", "warning", "info")
_ENTRY_KEYS = {"id", "fault_class", "component", "severity", "keywords", "pattern",
               "description", "action", "programs", "variants_by", "variants"}
_REQUIRED = ("id", "fault_class", "component", "severity", "keywords", "pattern",
             "description", "action")
_VARIANT_KEYS = {"severity", "description", "action"}
_CLASS_NAME = re.compile(r"[a-z][a-z0-9_]*$")
GENERIC_PREFIX = "generic_"  # classes of streams.logs.generic; no catalogue entry may use it


class CatalogueError(ValueError):
    """Every problem found in a catalogue file, reported together."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid fault catalogue:\n  " + "\n  ".join(problems))


@dataclass(frozen=True, slots=True)
class Variant:
    """Overrides for one value of an entry's `variants_by` group (e.g. one XID code)."""

    severity: str
    description: str
    action: str


@dataclass(frozen=True, slots=True)
class FaultMatch:
    """What a matching line means: the fault and the labels read from the line."""

    fault_class: str
    component: str
    severity: str  # critical | warning | info
    description: str
    action: str
    entry_id: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def xid(self) -> int | None:
        value = self.labels.get("xid")
        return int(value) if value is not None and value.isascii() and value.isdigit() else None


@dataclass(frozen=True, slots=True)
class FaultEntry:
    """One catalogue entry, compiled."""

    id: str
    fault_class: str
    component: str
    severity: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]
    description: str
    action: str
    programs: frozenset[str] | None = None
    variants_by: str | None = None
    variants: Mapping[str, Variant] = field(default_factory=dict)

    def match(self, message: str, program: str | None) -> FaultMatch | None:
        if self.programs is not None and program is not None and program not in self.programs:
            return None
        m = self.pattern.search(message)
        if m is None:
            return None
        labels: dict[str, str] = {}
        for name, value in m.groupdict().items():
            if value is not None:
                labels.setdefault(name.split("__", 1)[0], value)
        severity, description, action = self.severity, self.description, self.action
        if self.variants_by is not None:
            variant = self.variants.get(labels.get(self.variants_by, ""))
            if variant is not None:
                severity, description, action = (variant.severity, variant.description,
                                                 variant.action)
        fault_class = self.fault_class.format(**labels) if "{" in self.fault_class else (
            self.fault_class)
        return FaultMatch(fault_class, self.component, severity, description, action, self.id,
                          labels)


def _group_names(pattern: re.Pattern[str]) -> set[str]:
    return {name.split("__", 1)[0] for name in pattern.groupindex}


def _entry(raw: Any, where: str, problems: list[str]) -> FaultEntry | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: an entry must be a mapping")
        return None
    where = f"{where} ({raw.get('id', '?')})"
    before = len(problems)
    problems.extend(f"{where}: unknown key {k!r}" for k in sorted(set(raw) - _ENTRY_KEYS))
    problems.extend(f"{where}: missing {k!r}" for k in _REQUIRED if k not in raw)
    if len(problems) > before:
        return None
    try:
        pattern = re.compile(str(raw["pattern"]))
    except re.error as e:
        problems.append(f"{where}: bad pattern: {e}")
        return None
    groups = _group_names(pattern)
    fault_class = str(raw["fault_class"])
    fields = [f for _, f, _, _ in string.Formatter().parse(fault_class) if f]
    missing = [f for f in fields if f not in groups]
    if missing:
        problems.append(f"{where}: fault_class placeholders {missing} are not regex groups")
    if not _CLASS_NAME.match(re.sub(r"\{\w+\}", "x", fault_class)):
        problems.append(f"{where}: fault_class {fault_class!r} is not snake_case")
    if fault_class.startswith(GENERIC_PREFIX):
        problems.append(f"{where}: fault_class prefix {GENERIC_PREFIX!r} is reserved for the "
                        "generic layer")
    if raw["severity"] not in FAULT_SEVERITIES:
        problems.append(f"{where}: severity must be one of {FAULT_SEVERITIES}")
    keywords = raw["keywords"]
    if not isinstance(keywords, list) or not keywords or not all(
            isinstance(k, str) and k for k in keywords):
        problems.append(f"{where}: keywords must be a non-empty list of strings")
        keywords = []
    programs = raw.get("programs")
    if programs is not None and not isinstance(programs, list):
        problems.append(f"{where}: programs must be a list")
    variants_by = raw.get("variants_by")
    variants: dict[str, Variant] = {}
    if variants_by is not None and variants_by not in groups:
        problems.append(f"{where}: variants_by {variants_by!r} is not a regex group")
    for key, row in (raw.get("variants") or {}).items():
        if not isinstance(row, dict) or set(row) - _VARIANT_KEYS:
            problems.append(f"{where}: variant {key!r} may only set {sorted(_VARIANT_KEYS)}")
            continue
        if row.get("severity", raw["severity"]) not in FAULT_SEVERITIES:
            problems.append(f"{where}: variant {key!r} has a bad severity")
        variants[str(key)] = Variant(str(row.get("severity", raw["severity"])),
                                     str(row.get("description", raw["description"])),
                                     str(row.get("action", raw["action"])))
    if len(problems) > before:
        return None
    return FaultEntry(
        id=str(raw["id"]), fault_class=fault_class, component=str(raw["component"]),
        severity=str(raw["severity"]), keywords=tuple(keywords), pattern=pattern,
        description=str(raw["description"]), action=str(raw["action"]),
        programs=frozenset(programs) if programs else None,
        variants_by=variants_by, variants=variants,
    )


class FaultCatalogue:
    """Ordered entries; the first entry whose keyword and pattern match wins."""

    def __init__(self, entries: Sequence[FaultEntry]) -> None:
        self.entries: tuple[FaultEntry, ...] = tuple(entries)
        ids = [e.id for e in self.entries]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise CatalogueError([f"duplicate entry ids: {dupes}"])
        # keyword (lower case) -> positions of the entries that name it
        index: dict[str, list[int]] = {}
        for pos, entry in enumerate(self.entries):
            for kw in entry.keywords:
                index.setdefault(kw.lower(), []).append(pos)
        self._index = tuple((kw, tuple(pos)) for kw, pos in index.items())

    @classmethod
    def from_dict(cls, data: Any, source: str = "<data>") -> FaultCatalogue:
        problems: list[str] = []
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise CatalogueError([f"{source}: expected a mapping with an 'entries' list"])
        if data.get("version") != 1:
            problems.append(f"{source}: unsupported version {data.get('version')!r}")
        problems.extend(f"{source}: unknown key {k!r}" for k in set(data) - {"version", "entries"})
        entries = [_entry(raw, f"{source} entry {i}", problems)
                   for i, raw in enumerate(data["entries"])]
        if problems:
            raise CatalogueError(problems)
        return cls([e for e in entries if e is not None])

    @classmethod
    def load(cls, path: str | Path) -> FaultCatalogue:
        """Read and validate a catalogue file (YAML or JSON)."""
        path = Path(path)
        with path.open(encoding="utf-8") as f:
            data = yaml.safe_load(f)
        return cls.from_dict(data, str(path))

    @staticmethod
    def default() -> FaultCatalogue:
        """The catalogue shipped with rackwatch (loaded once per process)."""
        return _default()

    def entry(self, entry_id: str) -> FaultEntry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(entry_id)

    def classify(self, message: str, program: str | None = None) -> FaultMatch | None:
        """The first matching entry's fault, or None (the common, cheap case)."""
        lowered = message.lower()
        candidates: set[int] = set()
        for kw, positions in self._index:
            if kw in lowered:
                candidates.update(positions)
        if not candidates:
            return None
        for pos in sorted(candidates):
            found = self.entries[pos].match(message, program)
            if found is not None:
                return found
        return None


@lru_cache(maxsize=1)
def _default() -> FaultCatalogue:
    return FaultCatalogue.load(DEFAULT_PATH)
