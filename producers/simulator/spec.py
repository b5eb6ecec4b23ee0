"""The fault spec: a small text syntax, a scenario file, or a built-in scenario name.

    KIND[(key=value, ...)][@START[:DURATION]]

separated by commas, semicolons or new lines, e.g.

    cpu_saturation@20s:60s, gpu_xid_79(host=r01-gpu03, gpu=2)@30s,
    nccl_timeout(timeout=90s)@2m:4m, rack_power(rack=r02)@5m:3m

START and DURATION are offsets from the start of the simulation: `90`, `90s`,
`1500ms`, `5m`, `1h`. `at=` and `for=` inside the parentheses say the same. A file
(`.json`: a list of objects, or JSON lines; `.yaml`/`.yml`: a list of mappings;
anything else: spec text, `#` comments allowed) holds the same keys, e.g.
`{"kind": "gpu_xid_79", "host": "r01-gpu03", "at": "30s", "for": "5m"}`.
Unknown kinds, unknown keys and bad values are all reported together.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULTS",
    "KINDS",
    "SCENARIOS",
    "FaultSpec",
    "FaultSpecError",
    "parse_duration_ms",
    "parse_faults",
]


class FaultSpecError(ValueError):
    """Every problem of a fault spec, reported together."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid fault spec:\n  " + "\n  ".join(problems))


# kind -> (default duration ms, allowed parameter keys beyond the common ones)
_HOST = ("host",)
_GPU = ("host", "gpu")
KINDS: dict[str, tuple[int, tuple[str, ...]]] = {
    "cpu_saturation": (300_000, _HOST),
    "memory_leak": (600_000, (*_HOST, "process")),
    "slow_disk": (300_000, (*_HOST, "device")),
    "nic_errors": (300_000, (*_HOST, "interface", "flap")),
    "gpu_xid_79": (600_000, (*_GPU, "lead")),
    "gpu_xid_48": (600_000, _GPU),
    "gpu_xid_63": (300_000, _GPU),
    "gpu_xid_64": (300_000, _GPU),
    "gpu_xid_74": (600_000, (*_GPU, "lead")),
    "gpu_thermal_xid": (600_000, (*_GPU, "lead", "xid", "cause")),
    "gpu_throttle": (600_000, (*_GPU, "cause")),  # default cause: power (brake)
    "nccl_timeout": (0, ("job", "timeout")),  # default: timeout + 2 minutes
    "rack_power": (300_000, ("rack",)),
    "rack_switch": (180_000, ("rack", "flap")),
    "host_silent": (300_000, _HOST),
}
_COMMON = ("kind", "at", "for", "start", "duration")
_DURATION_KEYS = ("lead", "timeout")

DEFAULTS = {"lead_gpu_xid_79": 0, "lead_gpu_xid_74": 60_000, "lead_gpu_thermal_xid": 300_000,
            "timeout": 600_000}

SCENARIOS: dict[str, str] = {
    "none": "",
    "demo": ("cpu_saturation@20s:60s, slow_disk@25s:60s, gpu_xid_79@30s:2m, "
             "host_silent@40s:40s, nccl_timeout(timeout=45s)@50s:2m"),
    "all": ("cpu_saturation@2m:5m, memory_leak@3m:8m, slow_disk@4m:5m, nic_errors@5m:5m, "
            "gpu_xid_79(lead=1m)@6m:5m, gpu_xid_48@7m:5m, gpu_xid_63@8m:3m, "
            "gpu_xid_64@9m:3m, gpu_xid_74@10m:5m, gpu_thermal_xid(lead=4m)@11m:8m, "
            "nccl_timeout(timeout=2m)@12m:5m, rack_power@14m:4m, rack_switch@16m:3m, "
            "host_silent@17m:4m, gpu_throttle@18m:5m"),
}


@dataclass(frozen=True)
class FaultSpec:
    """One requested fault, before hosts are chosen."""

    kind: str
    at_ms: int
    for_ms: int
    params: dict[str, str] = field(default_factory=dict)
    index: int = 0  # position in the spec: decides the fault's own random choices


_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration_ms(text: str | int | float) -> int:
    """`90`, `90s`, `1500ms`, `5m`, `1h` -> milliseconds (a bare number is seconds)."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"negative duration: {text!r}")
        return round(text * 1000)
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 5m, 1500ms)")
    return round(float(m.group(1)) * _UNITS[m.group(2) or "s"])


def _split_top(text: str) -> list[str]:
    """Split on , ; and newlines outside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        if depth == 0 and ch in ",;\n":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


_ITEM = re.compile(r"^(?P<kind>[a-z0-9_]+)\s*(?:\((?P<params>[^)]*)\))?\s*"
                   r"(?:@\s*(?P<at>[^:\s]+)\s*(?::\s*(?P<for>\S+))?)?$")


def _parse_text(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    items: list[dict[str, Any]] = []
    problems: list[str] = []
    lines = [ln.split("#", 1)[0] for ln in text.splitlines()]
    for n, part in enumerate(_split_top("\n".join(lines)), 1):
        m = _ITEM.match(part)
        if m is None:
            problems.append(f"fault {n}: cannot read {part!r} "
                            "(expected KIND[(key=value,...)][@START[:DURATION]])")
            continue
        item: dict[str, Any] = {"kind": m.group("kind")}
        for kv in (m.group("params") or "").split(","):
            if not kv.strip():
                continue
            key, eq, value = kv.partition("=")
            if not eq:
                problems.append(f"fault {n} ({item['kind']}): {kv.strip()!r} is not key=value")
                continue
            item[key.strip()] = value.strip()
        if m.group("at"):
            item["at"] = m.group("at")
        if m.group("for"):
            item["for"] = m.group("for")
        items.append(item)
    return items, problems


def _load(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    stripped = text.strip()
    if stripped in SCENARIOS:
        return _parse_text(SCENARIOS[stripped])
    path = Path(stripped)
    if stripped and "\n" not in stripped and _is_file(path):
        try:
            body = path.read_text(encoding="utf-8")
        except OSError as e:
            return [], [f"cannot read fault file {path}: {e}"]
        if path.suffix == ".json":
            try:
                data = json.loads(body)
            except ValueError:
                try:
                    data = [json.loads(ln) for ln in body.splitlines() if ln.strip()]
                except ValueError as e:
                    return [], [f"{path}: not JSON or JSON lines: {e}"]
            return _objects(data, str(path))
        if path.suffix in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.safe_load(body)
            except yaml.YAMLError as e:
                return [], [f"{path}: bad YAML: {e}"]
            return _objects(data, str(path))
        return _parse_text(body)
    return _parse_text(text)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a long spec string is too long to be a file name
        return False


def _objects(data: Any, where: str) -> tuple[list[dict[str, Any]], list[str]]:
    if isinstance(data, dict) and isinstance(data.get("faults"), list):
        data = data["faults"]
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        return [], [f"{where}: expected a list of fault objects"]
    return [{str(k): v for k, v in d.items()} for d in data], []


def parse_faults(text: str) -> list[FaultSpec]:
    """Parse a spec string, a scenario name or a file; raise FaultSpecError listing all problems."""
    items, problems = _load(text)
    specs: list[FaultSpec] = []
    for n, item in enumerate(items, 1):
        kind = str(item.get("kind", ""))
        if kind not in KINDS:
            problems.append(f"fault {n}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
            continue
        default_for, allowed = KINDS[kind]
        bad = False
        params: dict[str, str] = {}
        for key, value in item.items():
            if key in _COMMON:
                continue
            if key not in allowed:
                problems.append(f"fault {n} ({kind}): unknown key {key!r} "
                                f"(allowed: {', '.join((*allowed, 'at', 'for'))})")
                bad = True
                continue
            params[key] = str(value)
            if key in _DURATION_KEYS:
                try:
                    parse_duration_ms(str(value))
                except ValueError as e:
                    problems.append(f"fault {n} ({kind}): {key}: {e}")
                    bad = True
        for key in ("gpu", "xid"):
            if key in params and params[key] != "random" and not params[key].isdigit():
                problems.append(f"fault {n} ({kind}): {key} must be a number or 'random', "
                                f"got {params[key]!r}")
                bad = True
        if params.get("cause", "thermal") not in ("thermal", "power"):
            problems.append(f"fault {n} ({kind}): cause must be thermal or power")
            bad = True
        times: dict[str, int] = {}
        for key, alias in (("at", "start"), ("for", "duration")):
            raw = item.get(key, item.get(alias))
            if raw is None:
                continue
            try:
                times[key] = parse_duration_ms(raw)
            except ValueError as e:
                problems.append(f"fault {n} ({kind}): {key}: {e}")
                bad = True
        if bad:
            continue
        at = times.get("at", 60_000)
        dur = times.get("for", default_for)
        if kind == "nccl_timeout":
            timeout = parse_duration_ms(params.get("timeout", "600s"))
            dur = times.get("for", timeout + 120_000)
            if dur <= timeout:
                problems.append(f"fault {n} (nccl_timeout): for ({dur} ms) must be longer than "
                                f"timeout ({timeout} ms)")
                continue
        lead = params.get("lead")
        if lead is not None and parse_duration_ms(lead) >= dur:
            problems.append(f"fault {n} ({kind}): lead must be shorter than the fault")
            continue
        if dur <= 0:
            problems.append(f"fault {n} ({kind}): duration must be > 0")
            continue
        specs.append(FaultSpec(kind, at, dur, params, index=n))
    if problems:
        raise FaultSpecError(problems)
    return specs
