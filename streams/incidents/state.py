"""The correlator's state as named records, and its compact changelog form.

One `ScopeState` per state key (a rack, a job, a service domain; one for everything in
a single-state replay). The worker keeps it in a changelogged table as plain JSON with
the short keys below, the keys the correlator has always written, so a state written
before these records existed is read as it is (tests/unit/incidents/test_state_upgrade.py
holds a captured one to it). Optional parts are left out when empty.

    ScopeState   "wm" watermark_ms, "hosts" {host: HostRecord}, "alerts" {fingerprint:
                 AlertRecord}, "faults" [FaultRecord], "grp" {"label=value": {host: ms}},
                 "rs" {place: size}, "inc" {key: IncidentState}, "ids" {"scope:value":
                 opening ms of its latest incident}, "nx" next_due_ms, "np" next_prune_ms,
                 "cg" learned call graph {caller: {callee: weight}}, "tr" trace ids
                 seen lately {id hash: [ms, [host, ...]]}
    HostRecord   "seen", "rack" (its place's value), "pl" (the place's label, when not
                 rack), "aff" affected, "sil" silent, "net" network trouble, "p" fault
                 probability, "drv" its drivers, "rk" ranks {"label=value": rank},
                 "sg" {signature: ms}
    AlertRecord  "h" host, "s" severity, "f" firing, "t" ms, "sum" summary, "g" gpu,
                 "gr" groups, "sc" signal class, "st" episode start ms, "r" rule
    FaultRecord  [ts, host, class, gpu, rank, {label: value}, severity]
    IncidentState  see its fields; "sus" holds the ranked suspects as [host, score, why]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AlertRecord", "FaultRecord", "HostRecord", "IncidentState", "ScopeState",
           "Suspect"]

FaultRecord = list[Any]  # [ts, host, class, gpu, rank, {label: value}, severity]


def _opt(out: dict[str, Any], key: str, value: Any) -> None:
    """Write an optional field only when it holds something."""
    if value is not None and value != {} and value != []:
        out[key] = value


@dataclass(slots=True)
class HostRecord:
    """What the state remembers of one host."""

    seen_ms: int = 0
    place: str | None = None  # value of the host's place label (its rack, node, ...)
    place_label: str = "rack"
    affected_ms: int | None = None  # newest event that said the host itself is unwell
    silent_ms: int | None = None
    network_ms: int | None = None
    probability: float | None = None
    drivers: dict[str, float] = field(default_factory=dict)
    ranks: dict[str, str] = field(default_factory=dict)
    signatures: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seen": self.seen_ms}
        _opt(out, "rack", self.place)
        if self.place_label != "rack":
            out["pl"] = self.place_label
        _opt(out, "aff", self.affected_ms)
        _opt(out, "sil", self.silent_ms)
        _opt(out, "net", self.network_ms)
        _opt(out, "p", self.probability)
        _opt(out, "drv", self.drivers)
        _opt(out, "rk", self.ranks)
        _opt(out, "sg", self.signatures)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HostRecord:
        return cls(seen_ms=d.get("seen", 0), place=d.get("rack"),
                   place_label=d.get("pl", "rack"), affected_ms=d.get("aff"),
                   silent_ms=d.get("sil"), network_ms=d.get("net"), probability=d.get("p"),
                   drivers=d.get("drv") or {}, ranks=d.get("rk") or {},
                   signatures=d.get("sg") or {})


@dataclass(slots=True)
class AlertRecord:
    """One alert the state has seen fire (kept until it is resolved and forgotten)."""

    host: str
    severity: str
    firing: bool
    ts: int
    summary: str = ""
    gpu: str | None = None
    groups: dict[str, str] = field(default_factory=dict)
    signal: str | None = None  # evidence class of a service alert (its `signal` label)
    started_ms: int | None = None  # the episode's start (alert starts_at), services only
    rule: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"h": self.host, "s": self.severity, "f": self.firing,
                               "t": self.ts, "sum": self.summary, "g": self.gpu,
                               "gr": self.groups}
        _opt(out, "sc", self.signal)
        _opt(out, "st", self.started_ms)
        if self.rule:
            out["r"] = self.rule
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AlertRecord:
        return cls(host=d["h"], severity=d["s"], firing=d["f"], ts=d["t"],
                   summary=d.get("sum", ""), gpu=d.get("g"), groups=d.get("gr") or {},
                   signal=d.get("sc"), started_ms=d.get("st"), rule=d.get("r", ""))


@dataclass(frozen=True, slots=True)
class Suspect:
    """One ranked candidate cause of a service incident."""

    host: str
    score: float
    reason: str

    def to_json(self) -> list[Any]:
        return [self.host, self.score, self.reason]

    @classmethod
    def from_json(cls, d: list[Any]) -> Suspect:
        return cls(host=d[0], score=d[1], reason=d[2])


@dataclass(slots=True)
class IncidentState:
    """One incident being built, published and eventually resolved."""

    id: str
    scope: str
    value: str
    opened_ms: int
    last_ms: int
    due_ms: int  # when it is published (after the grace period)
    published: bool = False
    signature: list[Any] | None = None  # what the last message said (changes -> update)
    hosts: list[str] = field(default_factory=list)
    alerts: dict[str, bool] = field(default_factory=dict)  # fingerprint -> still firing
    faults: list[str] = field(default_factory=list)
    severity: str = "info"
    suspect: str = ""
    hint: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    probability: float | None = None
    joined_at: dict[str, int] = field(default_factory=dict)  # host -> when it joined
    members: list[str] | None = None  # hosts that reported, as opposed to being named
    silent: list[str] | None = None
    first_fault: dict[str, Any] | None = None  # host scope: the earliest hard fault
    gpu_history: dict[str, Any] | None = None
    group_first_fault: FaultRecord | None = None  # group scope: earliest member fault
    cleared_ms: int | None = None  # newest resolve of one of its alerts
    sent_ms: int | None = None  # when its last message went out
    update_due_ms: int | None = None  # a coalesced `updated` waiting to go out
    suspects: list[Suspect] = field(default_factory=list)
    onset_ms: int | None = None  # service scope: the newest start of trouble in it

    @property
    def key(self) -> str:
        return incident_key(self.scope, self.value, self.opened_ms) \
            if self.scope == "service" else f"{self.scope}:{self.value}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "scope": self.scope, "value": self.value,
            "opened": self.opened_ms, "last": self.last_ms, "due": self.due_ms,
            "pub": self.published, "sig": self.signature, "hosts": self.hosts,
            "alerts": self.alerts, "faults": self.faults, "sev": self.severity,
            "suspect": self.suspect, "hint": self.hint, "ev": self.evidence,
            "prob": self.probability}
        _opt(out, "at", self.joined_at)
        if self.members is not None:
            out["mem"] = self.members
        if self.silent is not None:
            out["sil"] = self.silent
        _opt(out, "ff", self.first_fault)
        _opt(out, "gh", self.gpu_history)
        if self.scope not in ("host", "service") and self.group_first_fault is not None:
            out["ffe"] = self.group_first_fault
        _opt(out, "clr", self.cleared_ms)
        _opt(out, "sent", self.sent_ms)
        _opt(out, "ud", self.update_due_ms)
        _opt(out, "sus", [s.to_json() for s in self.suspects])
        _opt(out, "on", self.onset_ms)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> IncidentState:
        return cls(
            id=d["id"], scope=d["scope"], value=d["value"], opened_ms=d["opened"],
            last_ms=d["last"], due_ms=d["due"], published=d.get("pub", False),
            signature=d.get("sig"), hosts=list(d.get("hosts") or []),
            alerts=dict(d.get("alerts") or {}), faults=list(d.get("faults") or []),
            severity=d.get("sev", "info"), suspect=d.get("suspect", ""),
            hint=d.get("hint", ""), evidence=dict(d.get("ev") or {}),
            probability=d.get("prob"), joined_at=dict(d.get("at") or {}),
            members=d.get("mem"), silent=d.get("sil"), first_fault=d.get("ff"),
            gpu_history=d.get("gh"), group_first_fault=d.get("ffe"),
            cleared_ms=d.get("clr"), sent_ms=d.get("sent"), update_due_ms=d.get("ud"),
            suspects=[Suspect.from_json(s) for s in d.get("sus") or []],
            onset_ms=d.get("on"))


def incident_key(scope: str, value: str, opened_ms: int) -> str:
    """Where an incident lives in `ScopeState.incidents`: one per scope value, except
    service incidents, several of which (separate bursts of trouble) may be open."""
    return f"{scope}:{value}@{opened_ms}" if scope == "service" else f"{scope}:{value}"


@dataclass(slots=True)
class ScopeState:
    """Everything one correlator state key remembers (see the module docstring)."""

    watermark_ms: int = 0
    hosts: dict[str, HostRecord] = field(default_factory=dict)
    alerts: dict[str, AlertRecord] = field(default_factory=dict)
    faults: list[FaultRecord] = field(default_factory=list)
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    place_sizes: dict[str, int] = field(default_factory=dict)
    incidents: dict[str, IncidentState] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    next_due_ms: int | None = None
    next_prune_ms: int | None = None
    graph: dict[str, dict[str, float]] = field(default_factory=dict)
    traces: dict[str, list[Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "wm": self.watermark_ms,
            "hosts": {h: r.to_json() for h, r in self.hosts.items()},
            "alerts": {fp: a.to_json() for fp, a in self.alerts.items()},
            "grp": self.groups, "rs": self.place_sizes,
            "inc": {k: i.to_json() for k, i in self.incidents.items()},
            "ids": self.ids, "faults": self.faults}
        _opt(out, "nx", self.next_due_ms)
        _opt(out, "np", self.next_prune_ms)
        _opt(out, "cg", self.graph)
        _opt(out, "tr", self.traces)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ScopeState:
        """A state as the changelog holds it, or {} for a new one."""
        return cls(
            watermark_ms=d.get("wm", 0),
            hosts={h: HostRecord.from_json(r) for h, r in (d.get("hosts") or {}).items()},
            alerts={fp: AlertRecord.from_json(a) for fp, a in (d.get("alerts") or {}).items()},
            faults=list(d.get("faults") or []), groups=dict(d.get("grp") or {}),
            place_sizes=dict(d.get("rs") or {}),
            incidents={k: IncidentState.from_json(i) for k, i in (d.get("inc") or {}).items()},
            ids=dict(d.get("ids") or {}), next_due_ms=d.get("nx"),
            next_prune_ms=d.get("np"), graph=dict(d.get("cg") or {}),
            traces=dict(d.get("tr") or {}))

    def write_into(self, target: dict[str, Any]) -> None:
        """Replace the contents of the caller's state dict with this state."""
        target.clear()
        target.update(self.to_json())
