"""Correlation events as the correlator reads them: checked once, then typed.

The worker sends plain dicts (see docs/incidents.md): `alert`, `fault` and `silent`
events with the host's topology labels and, for alerts and faults, its context. This
module turns one into a `Signal` or says why it cannot be used; the correlator never
looks at the raw dict again. It also says which correlation states an event must reach
(`routes_for`): the host's place (its rack, or another configured place label), each
group it belongs to, and, for alerts of service rules (a `signal` label), its service
domain. A missing place is no place: hosts without a rack are never put in a shared
"unknown" one (agents that still send `rack: unknown` are read the same way).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from streams.core.timefmt import rfc3339_to_ms
from streams.incidents.config import SIGNAL_CLASSES, SYMPTOM_FAULTS, CorrelatorConfig

__all__ = [
    "CRITICAL_FAULTS",
    "FLEET",
    "MINOR_FAULTS",
    "NETWORK_FAULTS",
    "SHARED",
    "Signal",
    "place_of",
    "read_event",
    "route_event",
    "routes_for",
]

log = logging.getLogger(__name__)

# Faults that take a GPU or the whole host out of service at once.
CRITICAL_FAULTS = frozenset({
    "kernel_panic", "kernel_oops", "hard_lockup", "mce", "host_mem_ecc_ue", "gpu_ecc_dbe",
    "gpu_init_failure", "gpu_row_remap_failure", "pcie_aer_uncorrected", "gpu_xid_48",
    "gpu_xid_79", "gpu_xid_94", "gpu_xid_95", "gpu_xid_119", "gpu_xid_120",
})
# Faults that were corrected or are routine: they feed the fault model's features but
# open no incident on their own (nor does any fault logged at notice level or below).
MINOR_FAULTS = frozenset({
    "pcie_aer_corrected", "gpu_ecc_sbe", "host_mem_ecc_ce", "segfault",
    "cpu_thermal_throttle",
})
# Faults of the network a rack shares (its top-of-rack switch, its cabling): they count
# towards a rack incident together with silences and host-wide alerts.
NETWORK_FAULTS = frozenset({"nic_link_down", "nic_tx_timeout", "ib_error"})
# Alert labels that tie an alert to one device of the host (not to what it shares).
_DEVICE_LABELS = ("gpu", "device", "mount", "uuid", "cpu")
SHARED = "*"
FLEET = "fleet"  # the service domain of hosts without a domain label
_NO_PLACE = frozenset({"", "unknown"})  # what older agents send for a missing rack
_CRITICAL_LOG_LEVELS = frozenset({"emergency", "alert", "critical"})
_MINOR_LOG_LEVELS = frozenset({"notice", "info", "debug"})
_UNCERTAIN_SOURCES = frozenset({"generic", "novel"})  # log_record/v1 fault_source
_SILENT_WORDS = ("silent", "absent", "no_data", "nodata", "down")


@dataclass(frozen=True)
class Signal:
    """One usable correlation event."""

    kind: str  # "alert" | "fault" | "silent" | "traces"
    ts: int
    host: str
    place: str | None  # value of the host's place label (its rack, node, ...), if any
    groups: dict[str, str]  # group label -> value, for the configured group labels
    severity: str
    context: dict[str, Any] | None
    fingerprint: str | None = None  # alerts
    firing: bool = True  # alerts: False for a resolution
    summary: str = ""
    fault_class: str | None = None  # faults
    about: str | None = None  # alerts: the fault class a log-rule alert is about
    rule: str = ""  # alerts
    gpu: str | None = None
    pci: str | None = None  # faults: the device's PCI address when the log names it
    rank: str | None = None
    silent: bool = False
    rack_size: int | None = None
    route: tuple[str, str] | None = None
    labels: dict[str, str] = field(default_factory=dict)  # topology + alert/record labels
    place_label: str = "rack"
    signal_class: str | None = None  # alerts of service rules: their `signal` label
    started_ms: int | None = None  # alerts: when the episode started (starts_at)
    traces: tuple[tuple[str, int], ...] = ()  # traces: sampled id hashes and their times

    @property
    def rack(self) -> str | None:
        """The place value (named for the place label most fleets have)."""
        return self.place

    @property
    def service(self) -> bool:
        """An alert of a service rule: correlated across the service graph, not by place."""
        return self.signal_class is not None

    @property
    def symptom(self) -> bool:
        """A job-wide consequence (NCCL), not a failure of this host."""
        return (self.fault_class or self.about) in SYMPTOM_FAULTS

    @property
    def network(self) -> bool:
        """Trouble with the host's network links (what a top-of-rack switch takes down)."""
        return (self.fault_class or self.about) in NETWORK_FAULTS or (
            self.kind == "alert" and "interface" in self.labels)

    @property
    def signature(self) -> str | None:
        """What kind of trouble this is, for telling a rack failure from a coincidence.

        SHARED ("*"): silence, network trouble, and host-wide alerts: what hosts sharing
        power, cooling and a switch show together. Otherwise the fault class or the alert
        rule of a device-local problem: several hosts count together only when they show
        the same one (three GPUs overheating at once; not a disk, an ECC error and an XID).
        """
        if not self.affects_host:
            return None
        if self.silent:
            return SHARED
        if self.network:
            return SHARED
        cls = self.fault_class or self.about
        if cls is not None:
            return f"fault:{cls}"
        if self.kind == "alert" and any(k in self.labels for k in _DEVICE_LABELS):
            return f"alert:{self.rule}"
        return SHARED

    @property
    def affects_host(self) -> bool:
        """Does this event say the host itself is unwell (opens or extends an incident)?"""
        if self.symptom:
            return False
        return self.firing and self.severity in ("critical", "warning")


def _str_dict(x: Any) -> dict[str, str]:
    if not isinstance(x, dict):
        return {}
    return {str(k): str(v) for k, v in x.items() if isinstance(v, str | int) and str(v)}


def _route(x: Any) -> tuple[str, str] | None:
    if not isinstance(x, str) or "=" not in x:
        return None
    label, _, value = x.partition("=")
    return (label, value) if label and value else None


def place_of(labels: dict[str, str], place_labels: tuple[str, ...]) -> tuple[str, str] | None:
    """(label, value) of the first place label the host has (None: no place)."""
    for label in place_labels:
        value = labels.get(label)
        if value is not None and value not in _NO_PLACE:
            return label, value
    return None


def _signal_class(labels: dict[str, str]) -> str | None:
    value = labels.get("signal")
    return value if value in SIGNAL_CLASSES else None


def _started(a: dict[str, Any]) -> int | None:
    text = a.get("starts_at")
    if not isinstance(text, str):
        return None
    try:
        return rfc3339_to_ms(text)
    except ValueError:
        return None


def _traces(x: Any) -> tuple[tuple[str, int], ...]:
    """[[id hash, ms], ...] as sent by the runtime (streams.core.traceids); junk dropped."""
    out: list[tuple[str, int]] = []
    for item in x if isinstance(x, list) else ():
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) \
                and isinstance(item[1], int) and not isinstance(item[1], bool):
            out.append((item[0], item[1]))
    return tuple(out[:64])


def _alert_kw(a: Any) -> tuple[dict[str, Any], dict[str, str]] | str:
    """Signal fields of an alert event, and its labels (or why it is unusable)."""
    if not isinstance(a, dict) or not isinstance(a.get("fingerprint"), str):
        return "alert event without an alert fingerprint"
    alabels = _str_dict(a.get("labels"))
    rule = str(a.get("rule") or "")
    ann_raw = a.get("annotations")
    ann: dict[str, Any] = ann_raw if isinstance(ann_raw, dict) else {}
    severity = a.get("severity") if a.get("severity") in ("critical", "warning") else "info"
    return {
        "kind": "alert", "fingerprint": a["fingerprint"],
        "about": alabels.get("fault_class") or None, "rule": rule,
        "signal_class": _signal_class(alabels), "started_ms": _started(a),
        "firing": a.get("status") != "resolved", "severity": severity,
        "summary": str(ann.get("summary") or rule), "gpu": alabels.get("gpu"),
        "silent": any(w in rule.lower() for w in _SILENT_WORDS)
        and severity in ("critical", "warning") and a.get("status") != "resolved",
    }, alabels


def _fault_kw(rec: Any) -> tuple[dict[str, Any], dict[str, str]] | str:
    """Signal fields of a fault event, and its record's labels (or why it is unusable)."""
    if not isinstance(rec, dict) or not isinstance(rec.get("fault_class"), str) \
            or not rec["fault_class"]:
        return "fault event without a fault class"
    rlabels = _str_dict(rec.get("labels"))
    cls = rec["fault_class"]
    level = rec.get("severity")
    # A fault read from a line's own words (generic) or from a new template (novel) is
    # less certain than a catalogue entry: it feeds the context and joins incidents,
    # but opens none on its own unless the line itself says critical or worse
    # (repetition still can, through the FaultRepeated alert).
    uncertain = rec.get("fault_source") in _UNCERTAIN_SOURCES
    if cls in MINOR_FAULTS or level in _MINOR_LOG_LEVELS or (
            uncertain and level not in _CRITICAL_LOG_LEVELS):
        severity = "info"
    elif (cls in CRITICAL_FAULTS or level in _CRITICAL_LOG_LEVELS) \
            and cls not in SYMPTOM_FAULTS:
        severity = "critical"
    else:
        severity = "warning"
    return {"kind": "fault", "fault_class": cls, "gpu": rlabels.get("gpu"),
            "pci": rlabels.get("pci"), "severity": severity}, rlabels


def read_event(event: Any, group_labels: tuple[str, ...],
               place_labels: tuple[str, ...] = ("rack",)) -> Signal | str:
    """A Signal, or the reason the event cannot be used."""
    if not isinstance(event, dict):
        return "not an object"
    kind = event.get("kind")
    ts = event.get("ts")
    host = event.get("host")
    if kind not in ("alert", "fault", "silent", "traces"):
        return f"unknown kind {kind!r}"
    if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
        return f"bad ts {ts!r}"
    labels = _str_dict(event.get("labels"))
    context = event.get("context") if isinstance(event.get("context"), dict) else None
    size = event.get("rack_size")
    common: dict[str, Any] = {
        "ts": ts, "context": context, "route": _route(event.get("route")),
        "rack_size": size if isinstance(size, int) and not isinstance(size, bool) and size > 0
        else None,
    }
    extra: dict[str, str] = {}
    if kind in ("alert", "fault"):
        inner = event.get(kind if kind == "alert" else "record")
        read = _alert_kw(inner) if kind == "alert" else _fault_kw(inner)
        if isinstance(read, str):
            return read
        sig_kw, extra = read
        if kind == "alert" and not (isinstance(host, str) and host) \
                and isinstance(inner, dict):
            host = inner.get("host")
    elif kind == "traces":
        sig_kw = {"kind": "traces", "severity": "info", "traces": _traces(event.get("traces"))}
    else:
        sig_kw = {"kind": "silent", "severity": "critical", "silent": True}
    if not isinstance(host, str) or not host:
        return "event without a host"
    merged = {**labels, **extra}
    groups = {lab: merged[lab] for lab in group_labels if merged.get(lab)}
    place = place_of(labels, place_labels)
    return Signal(host=host, place=place[1] if place else None,
                  place_label=place[0] if place else "rack", groups=groups,
                  rank=merged.get("rank"), labels=merged, **common, **sig_kw)


def routes_for(event: dict[str, Any], config: CorrelatorConfig | None = None) -> list[str]:
    """The state keys an event must reach for full correlation.

    An alert of a service rule (a `signal` label) goes to its service domain only
    (`service=<cluster>`, or `service=fleet`), where the service graph is correlated;
    so do the trace ids sampled from a host's logs (`traces` events).
    Anything else goes to the host's place (`rack=r07`; a host with no place label to
    its own `host=<host>` state), then to each group it belongs to (`job=j1`).

    With one correlator state per key, send a copy of the event to each key with
    `route_event(event, key)`. Without routes (one state sees everything, as in replay)
    the correlator builds all of them in that one state.
    """
    cfg = config or CorrelatorConfig()
    labels = _str_dict(event.get("labels"))
    inner = event.get("record") if event.get("kind") == "fault" else event.get("alert")
    own = _str_dict(inner.get("labels") if isinstance(inner, dict) else None)
    if (event.get("kind") == "alert" and _signal_class(own) is not None) \
            or event.get("kind") == "traces":
        domain = next((labels[lab] for lab in cfg.service_domain_labels if labels.get(lab)),
                      FLEET)
        return [f"service={domain}"]
    merged = {**labels, **own}
    place = place_of(labels, cfg.place_labels)
    host = event.get("host") or (inner.get("host") if isinstance(inner, dict) else "") or ""
    keys = [f"{place[0]}={place[1]}" if place else f"host={host}"]
    keys += [f"{lab}={merged[lab]}" for lab in cfg.group_labels if merged.get(lab)]
    return keys


def route_event(event: dict[str, Any], route: str) -> dict[str, Any]:
    """A copy of the event addressed to one state key (see routes_for)."""
    return {**event, "route": route}
