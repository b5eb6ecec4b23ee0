"""The scorecard: what the pipeline caught of the faults a simulator run injected.

Input: the run's ground-truth manifest (`simulate --manifest`, one fault per line) and
the alert and incident messages the pipeline produced (the topics, the store, or
`replay --emit alerts,incidents`). For each fault: the first alert on one of its hosts
within its window (from `LEAD_MS` before its onset to `GRACE_MS` after its end, as
absence and `for` rules fire after their durations), the delay from onset to that
alert, the first incident touching its hosts in the same window and whether that
incident's suspect names the right place. Firing alerts and incidents that match no
fault are false alarms.

The right suspect is where an operator should look: the host for a host's fault (a GPU,
a disk, a silent host), `rack R` for a rack's (power, switch), `job J` for a hung
collective that no hardware fault explains (`nccl_timeout`). Plain data in and out; the
`score` command and `rackwatch demo` print it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.core.timefmt import rfc3339_to_ms

__all__ = ["GRACE_MS", "LEAD_MS", "FaultScore", "Scorecard", "expected_suspect", "score"]

LEAD_MS = 30_000  # a lead-up can show before the manifest's onset (a clock a tick apart)
GRACE_MS = 120_000  # `for` and absence durations fire after the evidence started
_RACK_KINDS = frozenset({"rack_power", "rack_switch"})
_JOB_KINDS = frozenset({"nccl_timeout"})


@dataclass
class FaultScore:
    """One injected fault and what caught it."""

    kind: str
    hosts: list[str]
    start_ms: int
    end_ms: int
    expected: str  # the suspect an operator should be pointed at
    alert_rule: str | None = None
    alert_host: str | None = None
    alert_ms: int | None = None
    incident_id: str | None = None
    suspect: str | None = None
    suspect_right: bool = False

    @property
    def caught(self) -> bool:
        return self.alert_ms is not None or self.incident_id is not None

    @property
    def delay_ms(self) -> int | None:
        """Onset to first alert; 0 when the interval that carried the onset was stamped
        a moment before it (batches carry their interval's time)."""
        return None if self.alert_ms is None else max(0, self.alert_ms - self.start_ms)


@dataclass
class Scorecard:
    """Every fault's score plus what matched no fault."""

    faults: list[FaultScore] = field(default_factory=list)
    false_alerts: list[tuple[str, str, int]] = field(default_factory=list)  # rule, host, ms
    false_incidents: list[tuple[str, str]] = field(default_factory=list)  # id, suspect

    @property
    def caught(self) -> int:
        return sum(f.caught for f in self.faults)

    @property
    def right_suspects(self) -> int:
        return sum(f.suspect_right for f in self.faults)

    @property
    def perfect(self) -> bool:
        """Every fault caught with the right suspect."""
        return all(f.caught and f.suspect_right for f in self.faults)

    def render(self) -> str:
        """The table printed at the end of a demo (and by `rackwatch score`)."""
        if not self.faults:
            return "scorecard: the manifest lists no faults\n"
        t0 = min(f.start_ms for f in self.faults)
        lines = [f"{'fault':<18} {'at':>6}  {'target':<16} {'first alert':<36} "
                 f"{'delay':>6}  suspect"]
        for f in self.faults:
            target = f.expected if len(f.hosts) > 1 else f.hosts[0]
            alert = f"{f.alert_rule} on {f.alert_host}" if f.alert_rule else "-- missed --"
            delay = f"{f.delay_ms / 1000:.0f}s" if f.delay_ms is not None else "-"
            mark = "ok" if f.suspect_right else ("WRONG" if f.suspect else "no incident")
            suspect = f"{f.suspect} ({mark})" if f.suspect else mark
            lines.append(f"{f.kind:<18} {'+' + str((f.start_ms - t0) // 1000) + 's':>6}  "
                         f"{target[:16]:<16} {alert[:36]:<36} {delay:>6}  {suspect}")
        delays = sorted(d for f in self.faults if (d := f.delay_ms) is not None)
        median = f", median delay {delays[len(delays) // 2] / 1000:.0f}s" if delays else ""
        lines.append(f"caught {self.caught} of {len(self.faults)}, right suspect "
                     f"{self.right_suspects} of {len(self.faults)}{median}; false alarms: "
                     f"{len(self.false_alerts)} alerts, {len(self.false_incidents)} incidents")
        for rule, host, _ in self.false_alerts[:5]:
            lines.append(f"  false alarm: {rule} on {host}")
        for iid, suspect in self.false_incidents[:5]:
            lines.append(f"  incident matching no fault: {iid} ({suspect})")
        return "\n".join(lines) + "\n"


def expected_suspect(fault: dict[str, Any]) -> str:
    """What an incident about this fault should name (see the module docstring)."""
    kind = fault["kind"]
    if kind in _RACK_KINDS:
        return f"rack {fault.get('rack')}"
    if kind in _JOB_KINDS:
        return f"job {(fault.get('details') or {}).get('job')}"
    return str(fault["hosts"][0])


def _names(suspect: str, expected: str) -> bool:
    return re.search(rf"(?<![\w.-]){re.escape(expected)}(?![\w.-])", suspect) is not None


def _ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        return rfc3339_to_ms(text)
    except ValueError:
        return None


def _firings(alerts: Iterable[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(sent at, rule, host) of the first firing message of each alert episode."""
    out, seen = [], set()
    for a in alerts:
        if a.get("status") != "firing":
            continue
        key = (a.get("fingerprint"), a.get("starts_at"))
        at = _ms(a.get("updated_at")) or _ms(a.get("starts_at"))
        if key in seen or at is None:
            continue
        seen.add(key)
        out.append((at, str(a.get("rule")), str(a.get("host"))))
    return sorted(out)


def _openings(incidents: Iterable[dict[str, Any]]
              ) -> list[tuple[int, str, set[str], list[str]]]:
    """(opened at, id, hosts, every suspect it named, in order) of each incident."""
    by_id: dict[str, tuple[int, set[str], list[str]]] = {}
    for m in incidents:
        iid = str(m.get("incident_id"))
        opened = _ms(m.get("opened_at"))
        if opened is None:
            continue
        _, hosts, suspects = by_id.get(iid, (opened, set(), []))
        suspect = str(m.get("suspect") or "")
        if suspect and suspect not in suspects:
            suspects.append(suspect)
        by_id[iid] = (opened, hosts | set(m.get("hosts") or ()), suspects)
    return sorted((at, iid, hosts, suspects) for iid, (at, hosts, suspects) in by_id.items())


def score(manifest: Iterable[dict[str, Any]], alerts: Iterable[dict[str, Any]],
          incidents: Iterable[dict[str, Any]] = (), *,
          exclude_hosts: Iterable[str] = ()) -> Scorecard:
    """Match the pipeline's alerts and incidents to the manifest's faults."""
    firings = _firings(alerts)
    openings = _openings(incidents)
    card = Scorecard()
    used_alerts: set[int] = set()
    used_incidents: set[str] = set()
    # The most specific faults first (a disk on one host before the power of its rack), so
    # an alert is the first alert of the fault it is about, not of a wider one around it.
    for fault in sorted(manifest, key=lambda f: (len(f["hosts"]), f["start_ms"])):
        hosts = [str(h) for h in fault["hosts"]]
        fs = FaultScore(kind=fault["kind"], hosts=hosts, start_ms=int(fault["start_ms"]),
                        end_ms=int(fault["end_ms"]), expected=expected_suspect(fault))
        lo, hi = fs.start_ms - LEAD_MS, fs.end_ms + GRACE_MS
        members = set(hosts)
        for i, (at, rule, host) in enumerate(firings):
            if host in members and lo <= at <= hi:
                if fs.alert_ms is None and i not in used_alerts:
                    fs.alert_rule, fs.alert_host, fs.alert_ms = rule, host, at
                used_alerts.add(i)
        candidates = [(iid, suspects) for at, iid, ihosts, suspects in openings
                      if ihosts & members and lo <= at <= hi]
        used_incidents.update(iid for iid, _ in candidates)
        # Right when an incident named the right place (a host incident later folded into
        # its rack's still named the host first); shown: that suspect, else the first one.
        right = [(iid, s) for iid, suspects in candidates for s in suspects
                 if _names(s, fs.expected)]
        first = [(iid, suspects[0]) for iid, suspects in candidates if suspects]
        chosen = right[0] if right else (first[0] if first else None)
        if chosen is not None:
            fs.incident_id, fs.suspect = chosen
            fs.suspect_right = bool(right)
        card.faults.append(fs)
    card.faults.sort(key=lambda f: f.start_ms)
    excluded = set(exclude_hosts)
    card.false_alerts = [(rule, host, at) for i, (at, rule, host) in enumerate(firings)
                         if i not in used_alerts and host not in excluded]
    card.false_incidents = [(iid, suspects[0] if suspects else "")
                            for _, iid, ihosts, suspects in openings
                            if iid not in used_incidents and not ihosts <= excluded]
    return card
