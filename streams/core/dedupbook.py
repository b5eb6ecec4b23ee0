"""What dedup decided, counted per stream, reason and host, so nothing is dropped unseen.

A duplicate dropped is correct behaviour, and a flood of them is news (a producer
re-sending everything, or a state mix-up): operators need both the totals and the
hosts behind them. The book keeps counts per (stream, reason, host) for at most
`max_hosts` hosts; the rest are added up under `OTHER_HOSTS`, so its memory is
bounded whatever the fleet does. `since_last()` hands out what changed since its
previous call, for a log line at a bounded rate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from streams.core.dedup import Verdict

__all__ = ["OTHER_HOSTS", "REASONS", "DedupBook", "DedupReport"]

OTHER_HOSTS = "(other hosts)"
# verdict -> reason counted; NEW is not counted per host (the stream's own counters have it)
REASONS = {Verdict.DUPLICATE: "duplicate", Verdict.RESET: "seq_reset",
           Verdict.NEW_EPOCH: "new_epoch", Verdict.CONFLICT: "host_conflict"}


@dataclass
class DedupReport:
    """Counts since the previous report: totals per (stream, reason), top hosts each."""

    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    top_hosts: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.totals)

    def describe(self) -> str:
        """One line: `metrics duplicate 12 (h1 10, h2 2); logs new_epoch 3 (...)`."""
        parts = []
        for (stream, reason), n in sorted(self.totals.items()):
            hosts = ", ".join(f"{h} {c}" for h, c in self.top_hosts.get((stream, reason), []))
            parts.append(f"{stream} {reason} {n}" + (f" ({hosts})" if hosts else ""))
        return "; ".join(parts)


class DedupBook:
    """Per (stream, reason, host) counts of dedup verdicts other than plain NEW."""

    def __init__(self, max_hosts: int = 10_000) -> None:
        self.max_hosts = max_hosts
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._hosts: set[str] = set()
        self._reported: Counter[tuple[str, str, str]] = Counter()

    def note(self, stream: str, verdict: Verdict, host: str) -> None:
        reason = REASONS.get(verdict)
        if reason is None:
            return
        if host not in self._hosts:
            if len(self._hosts) >= self.max_hosts:
                host = OTHER_HOSTS
            else:
                self._hosts.add(host)
        self.counts[(stream, reason, host)] += 1

    def total(self, reason: str, stream: str | None = None) -> int:
        return sum(n for (s, r, _), n in self.counts.items()
                   if r == reason and (stream is None or s == stream))

    def since_last(self, top: int = 3) -> DedupReport:
        """What was counted since the previous call (the first call: everything)."""
        delta = self.counts - self._reported
        self._reported = Counter(self.counts)
        report = DedupReport()
        per: dict[tuple[str, str], Counter[str]] = {}
        for (stream, reason, host), n in delta.items():
            report.totals[(stream, reason)] = report.totals.get((stream, reason), 0) + n
            per.setdefault((stream, reason), Counter())[host] += n
        report.top_hosts = {k: c.most_common(top) for k, c in per.items()}
        return report
