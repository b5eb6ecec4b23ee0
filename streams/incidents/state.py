"""The correlator's state as named records over its compact changelog form.

One `ScopeState` per state key (a rack, a job, a service domain; one for everything in
a single-state replay). The worker keeps it in a changelogged table as plain JSON with
the short keys below, the keys the correlator has always written, so a state written
before these records existed is read as it is (tests/unit/incidents/test_state_upgrade.py
holds a captured one to it). The records are typed *views*: each named field reads and
writes its short key in the caller's dict, so reading a state costs nothing and the
dict is always the changelog form (no copy in, no copy out). Optional fields are left
out of the dict when empty.

    ScopeState   "wm" watermark_ms, "hosts" {host: HostRecord}, "alerts" {fingerprint:
                 AlertRecord}, "faults" [FaultRecord], "grp" {"label=value": {host: ms}},
                 "rs" {place: size}, "inc" {key: IncidentState}, "ids" {"scope:value":
                 opening ms of its latest incident}, "nx" next_due_ms, "np" next_prune_ms,
                 "cg" learned call graph {caller: {callee: weight}}, "tr" trace ids
                 seen lately {id hash: [ms, [[host, ms], ...]]}
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

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, overload

__all__ = ["AlertRecord", "FaultRecord", "HostRecord", "IncidentState", "ScopeState",
           "Suspect", "incident_key"]

FaultRecord = list[Any]  # [ts, host, class, gpu, rank, {label: value}, severity]
_EMPTY: dict[str, Any] = {}


class _View:
    """A record whose fields live in a plain dict under short keys."""

    __slots__ = ("d",)

    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d

    def to_json(self) -> dict[str, Any]:
        """The changelog form: the dict itself."""
        return self.d


T = TypeVar("T")


class Req(Generic[T]):
    """A field always present in the dict."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    @overload
    def __get__(self, obj: None, owner: type) -> Req[T]: ...
    @overload
    def __get__(self, obj: _View, owner: type) -> T: ...
    def __get__(self, obj: _View | None, owner: type) -> Req[T] | T:
        return self if obj is None else cast(T, obj.d[self.key])

    def __set__(self, obj: _View, value: T) -> None:
        obj.d[self.key] = value


class Opt(Generic[T]):
    """A field left out of the dict while it holds its default (None, or nothing)."""

    __slots__ = ("default", "key")

    def __init__(self, key: str, default: Any = None) -> None:
        self.key = key
        self.default = default

    @overload
    def __get__(self, obj: None, owner: type) -> Opt[T]: ...
    @overload
    def __get__(self, obj: _View, owner: type) -> T: ...
    def __get__(self, obj: _View | None, owner: type) -> Opt[T] | T:
        return self if obj is None else cast(T, obj.d.get(self.key, self.default))

    def __set__(self, obj: _View, value: T) -> None:
        if value is None or value == self.default or value == {} or value == []:
            obj.d.pop(self.key, None)
        else:
            obj.d[self.key] = value


class Kept(Generic[T]):
    """A container changed in place: created in the dict when first read."""

    __slots__ = ("key", "make")

    def __init__(self, key: str, make: Callable[[], T]) -> None:
        self.key = key
        self.make = make

    @overload
    def __get__(self, obj: None, owner: type) -> Kept[T]: ...
    @overload
    def __get__(self, obj: _View, owner: type) -> T: ...
    def __get__(self, obj: _View | None, owner: type) -> Kept[T] | T:
        if obj is None:
            return self
        value = obj.d.get(self.key)
        if value is None:
            value = obj.d[self.key] = self.make()
        return cast(T, value)

    def __set__(self, obj: _View, value: T) -> None:
        obj.d[self.key] = value


class HostRecord(_View):
    """What the state remembers of one host."""

    __slots__ = ()
    seen_ms = Req[int]("seen")
    place = Opt[str | None]("rack")  # value of its place label (its rack, node, ...)
    place_label = Opt[str]("pl", "rack")
    affected_ms = Opt[int | None]("aff")  # newest event saying the host itself is unwell
    silent_ms = Opt[int | None]("sil")
    network_ms = Opt[int | None]("net")
    probability = Opt[float | None]("p")
    drivers = Opt[dict[str, float]]("drv", _EMPTY)
    ranks = Opt[dict[str, str]]("rk", _EMPTY)  # read-only view; set_rank to change
    signatures = Opt[dict[str, int]]("sg", _EMPTY)  # read-only; note_signature to add

    @classmethod
    def new(cls) -> HostRecord:
        return cls({"seen": 0})

    def set_rank(self, group: str, rank: str) -> None:
        self.d.setdefault("rk", {})[group] = rank

    def note_signature(self, signature: str, ts: int) -> None:
        sg = self.d.setdefault("sg", {})
        sg[signature] = max(sg.get(signature, 0), ts)


class AlertRecord(_View):
    """One alert the state has seen fire (kept until it is resolved and forgotten)."""

    __slots__ = ()
    host = Req[str]("h")
    severity = Req[str]("s")
    firing = Req[bool]("f")
    ts = Req[int]("t")
    summary = Req[str]("sum")
    gpu = Req[str | None]("g")
    groups = Req[dict[str, str]]("gr")
    signal = Opt[str | None]("sc")  # evidence class of a service alert (its `signal`)
    started_ms = Opt[int | None]("st")  # the episode's start (starts_at), services only
    rule = Opt[str]("r", "")

    @classmethod
    def new(cls, *, host: str, severity: str, ts: int, summary: str, gpu: str | None,
            groups: dict[str, str], signal: str | None = None, started_ms: int | None = None,
            rule: str = "") -> AlertRecord:
        rec = cls({"h": host, "s": severity, "f": True, "t": ts, "sum": summary, "g": gpu,
                   "gr": groups})
        rec.signal, rec.started_ms, rec.rule = signal, started_ms, rule
        return rec


@dataclass(frozen=True, slots=True)
class Suspect:
    """One ranked candidate cause of a service incident."""

    host: str
    score: float
    reason: str


class IncidentState(_View):
    """One incident being built, published and eventually resolved."""

    __slots__ = ()
    id = Req[str]("id")
    scope = Req[str]("scope")
    value = Req[str]("value")
    opened_ms = Req[int]("opened")
    last_ms = Req[int]("last")
    due_ms = Req[int]("due")  # when it is published (after the grace period)
    published = Req[bool]("pub")
    signature = Req[list[Any] | None]("sig")  # what the last message said
    hosts = Req[list[str]]("hosts")
    alerts = Req[dict[str, bool]]("alerts")  # fingerprint -> still firing
    faults = Req[list[str]]("faults")
    severity = Req[str]("sev")
    suspect = Req[str]("suspect")
    hint = Req[str]("hint")
    evidence = Req[dict[str, Any]]("ev")
    probability = Req[float | None]("prob")
    joined_at = Kept[dict[str, int]]("at", dict)  # host -> when it joined
    members = Opt[list[str] | None]("mem")  # hosts that reported, not merely named
    silent = Opt[list[str] | None]("sil")
    first_fault = Opt[dict[str, Any] | None]("ff")  # host scope: its earliest hard fault
    gpu_history = Opt[dict[str, Any] | None]("gh")
    group_first_fault = Opt[FaultRecord | None]("ffe")  # group scope: earliest member fault
    cleared_ms = Opt[int | None]("clr")  # newest resolve of one of its alerts
    sent_ms = Opt[int | None]("sent")  # when its last message went out
    update_due_ms = Opt[int | None]("ud")  # a coalesced `updated` waiting to go out
    onset_ms = Opt[int | None]("on")  # service scope: the newest start of trouble in it

    @classmethod
    def new(cls, *, id: str, scope: str, value: str, opened_ms: int, last_ms: int,
            due_ms: int, suspect: str = "", hosts: list[str] | None = None,
            faults: list[str] | None = None, severity: str = "info") -> IncidentState:
        return cls({"id": id, "scope": scope, "value": value, "opened": opened_ms,
                    "last": last_ms, "due": due_ms, "pub": False, "sig": None,
                    "hosts": hosts or [], "alerts": {}, "faults": faults or [],
                    "sev": severity, "suspect": suspect, "hint": "", "ev": {}, "prob": None})

    @property
    def key(self) -> str:
        return incident_key(self.scope, self.value, self.opened_ms)

    @property
    def suspects(self) -> list[Suspect]:
        return [Suspect(*s) for s in self.d.get("sus") or ()]

    @suspects.setter
    def suspects(self, value: list[Suspect]) -> None:
        if value:
            self.d["sus"] = [[s.host, s.score, s.reason] for s in value]
        else:
            self.d.pop("sus", None)


def incident_key(scope: str, value: str, opened_ms: int) -> str:
    """Where an incident lives in `ScopeState.incidents`: one per scope value, except
    service incidents, several of which (separate bursts of trouble) may be open."""
    return f"{scope}:{value}@{opened_ms}" if scope == "service" else f"{scope}:{value}"


R = TypeVar("R", bound=_View)


class RecordMap(MutableMapping[str, R], Generic[R]):
    """A dict of records over a dict of their plain dicts (records made on access)."""

    __slots__ = ("cls", "raw")

    def __init__(self, raw: dict[str, dict[str, Any]], cls: type[R]) -> None:
        self.raw = raw
        self.cls = cls

    def __getitem__(self, key: str) -> R:
        return self.cls(self.raw[key])

    def __setitem__(self, key: str, value: R) -> None:
        self.raw[key] = value.d

    def __delitem__(self, key: str) -> None:
        del self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __contains__(self, key: object) -> bool:
        return key in self.raw


class ScopeState(_View):
    """Everything one correlator state key remembers, read and written in place."""

    __slots__ = ()
    watermark_ms = Req[int]("wm")
    faults = Req[list[FaultRecord]]("faults")
    groups = Req[dict[str, dict[str, int]]]("grp")
    place_sizes = Req[dict[str, int]]("rs")
    ids = Req[dict[str, int]]("ids")
    next_due_ms = Opt[int | None]("nx")
    next_prune_ms = Opt[int | None]("np")
    graph = Opt[dict[str, dict[str, float]]]("cg", _EMPTY)  # read; learnt into via d
    traces = Opt[dict[str, list[Any]]]("tr", _EMPTY)

    def __init__(self, d: dict[str, Any] | None = None) -> None:
        """The record over `d` (the caller's state, filled in where it is new)."""
        d = {} if d is None else d
        d.setdefault("wm", 0)
        for key in ("hosts", "alerts", "grp", "rs", "inc", "ids"):
            d.setdefault(key, {})
        d.setdefault("faults", [])
        super().__init__(d)

    @property
    def hosts(self) -> RecordMap[HostRecord]:
        return RecordMap(self.d["hosts"], HostRecord)

    @property
    def alerts(self) -> RecordMap[AlertRecord]:
        return RecordMap(self.d["alerts"], AlertRecord)

    @property
    def incidents(self) -> RecordMap[IncidentState]:
        return RecordMap(self.d["inc"], IncidentState)

    def learned_graph(self) -> dict[str, dict[str, float]]:
        """The learned graph, to learn into (created in the state when first needed)."""
        return self.d.setdefault("cg", {})  # type: ignore[no-any-return]

    def seen_traces(self) -> dict[str, list[Any]]:
        """The recent trace ids, to learn from (created when first needed)."""
        return self.d.setdefault("tr", {})  # type: ignore[no-any-return]
