"""Settings of the correlator: windows, thresholds and the labels that form groups.

Every knob has a default that works for a typical GPU fleet, so `Correlator()` needs
no configuration. The dataclass is frozen and checked on construction: an impossible
value (a zero window, a fraction above one) cannot be expressed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.config import CorrelatorSection

__all__ = ["SIGNAL_CLASSES", "SYMPTOM_FAULTS", "CorrelatorConfig", "from_section"]

log = logging.getLogger(__name__)

# Fault classes that are consequences seen on every rank of a job, not a host's own
# failure: they never open a host incident, they group by job.
SYMPTOM_FAULTS = frozenset({"nccl_timeout", "nccl_error"})

# Values of the `signal` label that a service rule puts on its alerts (docs/rules.md,
# "Service fleets"): what the alert says about the service it fires on. The first five
# are the service's own trouble; `calls` is trouble of what it calls (its client-side
# latency or errors); `load` is a change of the traffic it gets or sends.
SIGNAL_CLASSES = ("errors", "latency", "saturation", "down", "logs", "calls", "load")


@dataclass(frozen=True)
class CorrelatorConfig:
    """How events are grouped into incidents. Times are event-time milliseconds."""

    window_ms: int = 300_000
    """Events closer together than this belong to one incident; an incident whose
    alerts have all resolved closes after this long without a new event."""

    grace_ms: int = 45_000
    """A host incident is held back this long before it is published, to see whether
    its rack (or a group) is failing as a whole; see docs/incidents.md for the trade-off."""

    update_interval_ms: int = 30_000
    """At most one `updated` per incident this often: hosts of a failing rack join one by
    one within seconds, and operators want one message with all of them, not sixteen."""

    rack_min_hosts: int = 3
    """This many distinct hosts of one rack affected within the window make a rack incident."""

    rack_min_fraction: float = 0.5
    """...or this fraction of the rack's hosts (when the rack size is known), at least
    `rack_fraction_floor` hosts."""

    rack_fraction_floor: int = 2

    rack_sizes: dict[str, int] = field(default_factory=dict)
    """Known number of hosts per rack; an event may also carry `rack_size`."""

    group_labels: tuple[str, ...] = ("job",)
    """Topology labels (besides rack) whose values form groups: job id, switch, PDU..."""

    place_labels: tuple[str, ...] = ("rack",)
    """Topology labels that name a place hosts share and fail together in (a rack, a
    Kubernetes node, a zone), first present wins; they form the place incidents that
    `rack_min_hosts` and `rack_min_fraction` describe (scope = the label's name). A host
    with none of them belongs to no place: it only ever has its own incidents."""

    service_domain_labels: tuple[str, ...] = ("cluster",)
    """Labels whose value bounds a service call graph: alerts with a `signal` label
    (service rules) are correlated per value of the first one a host has, and fleet-wide
    (scope value `fleet`) for hosts with none."""

    service_grace_ms: int = 60_000
    """A service incident is held back this long, so the alerts of the same samples on
    the culprit and its callers are all in it before its suspects are first ranked."""

    service_burst_ms: int = 180_000
    """Trouble starting on a service this long after the newest start of trouble in the
    open service incidents opens a new incident (a new burst), even on a service that
    is already part of one."""

    onset_tolerance_ms: int = 60_000
    """Starts of trouble this close count as the same moment (one sample at one a
    minute): a caller's latency can rise in the very sample its callee's does."""

    call_graph: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Known calls, caller -> callees (see streams.incidents.callgraph for the file form
    and the `calls` host label); learned edges are added to these."""

    learn_call_graph: bool = True
    """Learn caller -> callee edges from caller latency rising with a callee's own trouble."""

    trace_window_ms: int = 600_000
    """Two services logging the same sampled trace id this close together are linked."""

    max_trace_ids: int = 4096
    """Bound on the sampled trace ids remembered per state (oldest forgotten first)."""

    max_graph_edges: int = 4096
    """Bound on the learned edges kept per state (weakest forgotten first)."""

    group_min_hosts: int = 2
    """Distinct hosts sharing a group label value that make a group incident."""

    fault_lookback_ms: int = 1_800_000
    """How far back a group incident looks for the first hard fault of a member: NCCL
    gives up minutes after the rank that caused it died (its timeout is 10-30 min)."""

    max_open_ms: int = 6 * 3_600_000
    """An incident with no event for this long is resolved even if an alert never
    reported its resolution (a lost message must not keep state forever)."""

    max_hosts: int = 4096
    """Bound on the hosts remembered per state."""

    max_alerts: int = 8192
    """Bound on the alerts remembered per state."""

    max_faults: int = 2048
    """Bound on the recent fault events remembered per state."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("window_ms", "rack_min_hosts", "group_min_hosts", "max_open_ms",
                     "max_hosts", "max_alerts", "max_faults", "rack_fraction_floor",
                     "service_burst_ms", "max_graph_edges", "trace_window_ms",
                     "max_trace_ids"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.update_interval_ms < 0:
            problems.append("update_interval_ms must not be negative")
        if self.grace_ms < 0:
            problems.append(f"grace_ms must not be negative, got {self.grace_ms!r}")
        if self.grace_ms >= self.window_ms:
            problems.append("grace_ms must be shorter than window_ms")
        for name in ("service_grace_ms", "onset_tolerance_ms"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        if self.service_grace_ms >= self.window_ms:
            problems.append("service_grace_ms must be shorter than window_ms")
        labels = self.place_labels + self.service_domain_labels
        if any(not s or not s.isidentifier() or s == "host" for s in labels):
            problems.append("place_labels and service_domain_labels must be label names "
                            f"other than host, got {labels!r}")
        if set(self.place_labels) & set(self.group_labels):
            problems.append("a label cannot be both a place and a group label")
        if self.fault_lookback_ms < 0:
            problems.append("fault_lookback_ms must not be negative")
        if not 0.0 < self.rack_min_fraction <= 1.0:
            problems.append(f"rack_min_fraction must be in (0, 1], got {self.rack_min_fraction!r}")
        if "rack" in self.group_labels or "host" in self.group_labels:
            problems.append("group_labels must not name rack or host: they are built in")
        if any(not s or not s.isidentifier() for s in self.group_labels):
            problems.append(f"group_labels must be label names, got {self.group_labels!r}")
        if problems:
            raise ValueError("invalid correlator configuration: " + "; ".join(problems))


def from_section(section: CorrelatorSection) -> CorrelatorConfig:
    """The correlator settings of a `[correlator]` section (seconds to event-time ms; the
    call graph file read). ValueError names what is impossible (grace not shorter than
    the window, a call graph file that cannot be read)."""
    from streams.incidents.callgraph import load_call_graph

    def ms(seconds: float) -> int:
        return round(seconds * 1000)

    try:
        graph = load_call_graph(section.call_graph) if section.call_graph else {}
    except (OSError, ValueError) as e:
        raise ValueError(f"[correlator] call_graph: {e}") from e
    return CorrelatorConfig(
        window_ms=ms(section.window_s), grace_ms=ms(section.grace_s),
        update_interval_ms=ms(section.update_interval_s),
        rack_min_hosts=section.rack_min_hosts, rack_min_fraction=section.rack_min_fraction,
        rack_fraction_floor=section.rack_fraction_floor,
        group_labels=section.group_labels, place_labels=section.place_labels,
        group_min_hosts=section.group_min_hosts,
        fault_lookback_ms=ms(section.fault_lookback_s),
        service_domain_labels=section.service_domain_labels,
        service_grace_ms=ms(section.service_grace_s),
        service_burst_ms=ms(section.service_burst_s),
        onset_tolerance_ms=ms(section.onset_tolerance_s),
        call_graph=graph, learn_call_graph=section.learn_call_graph,
        max_open_ms=ms(section.max_open_s))
