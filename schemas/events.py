"""Typed shapes of the events on the topics (contract, see DESIGN.md).

These are TypedDicts, not classes: events stay plain dicts from `orjson.loads` to
the processing core and back, which is both the fastest path and the easiest to
test. Validation happens once, at the edge (streams.core.decode).
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

__all__ = [
    "Action",
    "Alert",
    "DeadLetter",
    "Incident",
    "LogEvent",
    "LogRecord",
    "MetricBatch",
    "MetricRow",
    "Sample",
    "Severity",
    "Suspect",
]

Severity = Literal["critical", "warning", "info"]


class Sample(TypedDict):
    """One measurement inside a batch; `labels` identify the series (device, gpu, mount...)."""

    name: str
    value: float
    labels: NotRequired[dict[str, str]]


class MetricBatch(TypedDict):
    """`rackwatch.metrics/v1`: one host, one moment, many samples. Key: host."""

    schema: str
    host: str
    ts: int  # event time, epoch milliseconds
    seq: int  # per-host, strictly increasing across agent restarts: the dedup key
    labels: dict[str, str]  # topology: rack (required), cluster, zone, role, ...
    samples: list[Sample]
    interval_ms: NotRequired[int]
    epoch: NotRequired[str]  # the producer's sequence epoch: dedup keys on (host, epoch, seq)


class LogEvent(TypedDict):
    """`rackwatch.logs/v1`: one log line as shipped by an agent. Key: host."""

    schema: str
    host: str
    ts: int
    seq: int
    message: str
    source: NotRequired[str]  # file path, "kmsg", dataset name...
    labels: NotRequired[dict[str, str]]
    epoch: NotRequired[str]  # the producer's sequence epoch, as on metric batches


class MetricRow(TypedDict):
    """`rackwatch.metric_row/v1`: one normalised sample as stored in `metrics`."""

    schema: str
    host: str
    ts: int
    seq: int
    name: str
    labels: dict[str, str]  # series labels merged over topology labels
    value: float  # normalised value (canonical unit)
    raw: float  # value as received
    ewma: float
    wma: float
    outlier: bool


class LogRecord(TypedDict):
    """`rackwatch.log_record/v1`: one processed log line as stored in `logs`."""

    schema: str
    host: str
    ts: int
    seq: int
    message: str
    severity: str  # normalised: emergency..debug, see streams.logs.severity
    program: str | None
    pid: int | None
    template_id: str
    template: str
    fault_class: str | None
    labels: dict[str, str]
    fault_source: NotRequired[str]  # catalogue | generic | novel, when fault_class is set
    source: NotRequired[str]
    component: NotRequired[str | None]
    fault_severity: NotRequired[str]  # critical | warning | info, when classified
    fault_action: NotRequired[str]  # what an operator should do about it
    xid: NotRequired[int]  # NVIDIA XID code, for GPU XID lines


class Alert(TypedDict):
    """`rackwatch.alert/v1`: one alert state change (Alertmanager-shaped). Key: fingerprint."""

    schema: str
    fingerprint: str
    status: Literal["firing", "resolved"]
    rule: str
    severity: Severity
    host: str | None
    labels: dict[str, str]
    annotations: dict[str, str]  # summary, description
    value: float | None
    threshold: float | None
    starts_at: str  # RFC 3339
    ends_at: str | None
    updated_at: str  # RFC 3339: the event time of this change
    assignee: NotRequired[str]  # owner (team or person) from the routing tree
    priority: NotRequired[str]  # P1 (most urgent) .. P5, from the routing tree
    silenced_until: NotRequired[str]  # RFC 3339: a silence holds it; not forwarded
    # (no incident_id: see the $comment in schemas/json/alert.v1.schema.json)


ActionKind = Literal["assigned", "acknowledged", "escalated", "silenced", "resolved",
                     "reopened"]


class Action(TypedDict):
    """`rackwatch.action/v1`: one step in handling an alert. Key: fingerprint (a silence,
    which matches many alerts: "silence:" + its id)."""

    schema: str
    action_id: str  # unique; a re-sent action has the same id (the store keeps one)
    action: ActionKind
    fingerprint: str | None  # the alert it concerns (null for a silence)
    by: str  # who: a person (--by, [identity] user) or "rackwatch" (routing, escalation)
    at: str  # RFC 3339: when it was done (event time for rackwatch's own actions)
    note: str
    assignee: NotRequired[str]  # assigned, escalated: the owner
    priority: NotRequired[str]  # assigned, escalated
    group: NotRequired[str]  # assigned: "rack=r07,rule=X", the route's group_by values
    starts_at: NotRequired[str]  # the alert episode it belongs to, where known
    rule: NotRequired[str]
    host: NotRequired[str | None]
    labels: NotRequired[dict[str, str]]  # assigned: the alert's labels (rack, model ...)
    matchers: NotRequired[list[str]]  # silenced: which alerts (`label op "value"`)
    until: NotRequired[str]  # silenced: RFC 3339 end of the silence
    level: NotRequired[int]  # escalated: 1 for the first escalation of an episode, ...


class Suspect(TypedDict):
    """One candidate cause of an incident: which host, how strongly, and why."""

    host: str
    score: float  # in (0, 1]: the suspect's share of the incident's evidence points
    reason: str


class Incident(TypedDict):
    """`rackwatch.incident/v1`: an incident opened / updated / resolved. Key: incident id."""

    schema: str
    incident_id: str
    status: Literal["open", "updated", "resolved"]
    scope: str  # "host" | "rack" | another topology label name
    scope_value: str
    suspect: str  # what we believe is at fault: a host, a rack, a GPU ...
    root_cause_hint: str
    fault_probability: float | None
    hosts: list[str]
    alerts: list[str]  # fingerprints
    fault_classes: list[str]
    severity: Severity
    opened_at: str
    updated_at: str
    resolved_at: str | None
    evidence: NotRequired[dict[str, object]]
    # ranked candidate causes, best first (service incidents); `suspect` names the first
    suspects: NotRequired[list[Suspect]]


class DeadLetter(TypedDict):
    """`rackwatch.deadletter/v1`: something we could not process, and why. Key: original key."""

    schema: str
    reason: str  # a precise, human-readable reason
    reason_code: str  # machine-groupable: bad_json, missing_field, bad_type, ...
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    key: str | None
    raw: str  # the original bytes, base64 when not valid UTF-8
    raw_encoding: Literal["utf-8", "base64"]
    rejected_at: str  # RFC 3339 wall-clock time of rejection
