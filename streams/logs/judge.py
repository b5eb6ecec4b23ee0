"""One verdict per line from the three fault layers: catalogue, generic words, novelty.

The catalogue (streams.logs.catalogue) is tried first: it knows a fault's exact
meaning and what to do. A line it does not know is read by the generic layer
(streams.logs.generic); a weak candidate becomes a fault only when its template is new
on its host (streams.logs.novelty). `fault_source` on the record says which layer
spoke: `catalogue`, `generic` or `novel`.

The record's severity, in order of trust: the level the line declares (syslog PRI,
kernel level, JSON level field, a parsed header); else the most severe of a level word
in the text ("ERROR:", "NCCL WARN", an upper-case level word among the first words),
the catalogue fault's severity and what the generic layer read ("fatal" -> critical,
"failed" -> error); else "info". A line that declares nothing is far more often
routine than not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from streams.logs.catalogue import FaultMatch
from streams.logs.generic import CANDIDATE, FAULT, Verdict
from streams.logs.severity import SEVERITIES, rank, sniff_content, sniff_level_token

__all__ = ["GENERIC_ACTIONS", "GENERIC_COMPONENTS", "SOURCES", "Judgement", "judge",
           "own_level"]

logger = logging.getLogger(__name__)

SOURCES = ("catalogue", "generic", "novel")

# component of a generic fault kind (None: the words do not say)
GENERIC_COMPONENTS: dict[str, str | None] = {
    "security": "security", "memory": "memory", "hardware": "hardware",
    "storage": "storage", "timeout": None, "network": "network", "process": "application",
    "error": None,
}
GENERIC_ACTIONS: dict[str, str] = {
    "security": "Check who or what failed to authenticate and from where; many failures "
                "from one source are an attack or a broken credential.",
    "memory": "Check the host's memory use and memory errors (EDAC, ras-mc-ctl); find the "
              "process that ran out.",
    "hardware": "Check the device's health (vendor tools, BMC/IPMI event log, dmesg); "
                "drain the host if errors repeat.",
    "storage": "Check the disk or filesystem it names (SMART, nvme smart-log, mount "
               "state, free space).",
    "timeout": "Find what it waited for (peer, service, device) and whether that is slow "
               "or down.",
    "network": "Check the connection it names: the peer's state, the link, DNS, "
               "firewalls.",
    "process": "Read the process's own logs and exit status or core dump; restart it if "
               "it stays down.",
    "error": "Read the line and the lines around it; if it recurs, add a catalogue entry "
             "that says what it means.",
}


@dataclass(frozen=True, slots=True)
class Judgement:
    """The fault part of a record, and the record's severity."""

    severity: str
    fault_class: str | None = None
    source: str | None = None
    component: str | None = None
    fault_severity: str | None = None
    action: str | None = None
    labels: dict[str, str] | None = None  # read from the line by a catalogue pattern
    xid: int | None = None


# the no-fault judgements, one per severity: most lines are these, so none is built
_PLAIN = {name: Judgement(name) for name in SEVERITIES}


def own_level(declared: str | None, message: str) -> tuple[str | None, str | None]:
    """The line's own level (declared by its header, else a level word in its text), and
    the word to leave out of the failure words when it belongs to an unparsed header."""
    if declared is not None:
        return declared, None
    sniffed = sniff_content(message)
    if sniffed is not None:
        return sniffed, None
    found = sniff_level_token(message)
    return (found[0], found[1]) if found is not None else (None, None)


def _record_severity(declared: str | None, own: str | None, implied: str) -> str:
    if declared is not None:
        return declared
    return implied if own is None or rank(implied) < rank(own) else own


def judge(declared: str | None, own: str | None, fault: FaultMatch | None,
          verdict: Verdict | None, novel: bool) -> Judgement:
    """Combine the layers' findings for one line (see the module docstring)."""
    if fault is not None:
        return Judgement(
            severity=_record_severity(declared, own, fault.severity),
            fault_class=fault.fault_class, source="catalogue", component=fault.component,
            fault_severity=fault.severity, action=fault.action, labels=fault.labels,
            xid=fault.xid)
    if verdict is not None and (verdict.status == FAULT or
                                (verdict.status == CANDIDATE and novel)):
        source = "generic" if verdict.status == FAULT else "novel"
        fault_severity = ("critical" if verdict.severity == "critical" else
                          "info" if source == "novel" else "warning")
        return Judgement(
            severity=_record_severity(declared, own, verdict.severity),
            fault_class=verdict.fault_class, source=source,
            component=GENERIC_COMPONENTS[verdict.kind], fault_severity=fault_severity,
            action=GENERIC_ACTIONS[verdict.kind])
    return _PLAIN.get(own or "info") or Judgement(own or "info")
