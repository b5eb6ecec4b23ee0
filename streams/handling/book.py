"""Applying handling actions: what people did, and what it means for the alerts held.

Alert state lives with its host (one worker owns it), but actions name alerts by
fingerprint and a silence matches alerts on any host, so every worker reads the whole
(small) actions topic into an `ActionBook`, and `rackwatch replay` reads the action
lines of its input into one: the same book, the same answers.

The book answers questions about event time, never about "now": whether an alert
episode was acknowledged (or resolved by hand, and not reopened since) at a time, and
whether a silence holds an alert at a time. The escalation clock of each firing alert
is kept in its host's state (`HostState.handling`, changelogged with the rest), so a
worker that takes a partition over carries on where the previous owner stopped:

    handling: {fingerprint: [starts_ms, due_ms, repeat_ms, level, assignee, priority,
                             rule, host, labels]}

An episode is escalated at `starts + ack_timeout`, then every `repeat_interval`, while
it fires unacknowledged and unsilenced; each escalation is stamped with its due time,
so replay and the worker stamp it alike whatever their tick cadence.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.core.timefmt import ms_to_rfc3339, rfc3339_to_ms
from streams.handling.actions import PIPELINE, ActionError, decode_action, make_action
from streams.handling.routing import Routed, match_labels
from streams.rules.matchers import Matcher

__all__ = ["ActionBook", "escalate", "track"]

_MAX_ESCALATIONS_PER_TICK = 100  # a worker far behind catches up over a few ticks


@dataclass
class _Silence:
    matchers: tuple[Matcher, ...]
    starts: list[int] = field(default_factory=list)  # `at` of each version, sorted
    untils: list[int] = field(default_factory=list)


@dataclass
class ActionBook:
    """People's actions as known so far: per fingerprint a timeline of acknowledged /
    resolved / reopened, and the silences (a later silence with the same matchers
    replaces the earlier one from its own time on: `--until` in the past lifts it)."""

    timelines: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    owners: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)  # `assign`
    silences: dict[str, _Silence] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    rejected: int = 0

    def apply(self, raw: bytes | Mapping[str, Any]) -> bool:
        """Record one action message; False when it was seen before, concerns nothing the
        book keeps (assigned, escalated, rackwatch's own resolutions) or is invalid
        (counted in `rejected`)."""
        try:
            a = decode_action(raw)
        except ActionError:
            self.rejected += 1
            return False
        if a["action_id"] in self.seen:
            return False
        self.seen.add(a["action_id"])
        kind = a["action"]
        if kind == "silenced":
            key = ",".join(sorted(str(m) for m in a["parsed"]))
            s = self.silences.setdefault(key, _Silence(a["parsed"]))
            i = bisect.bisect_right(s.starts, a["at_ms"])
            s.starts.insert(i, a["at_ms"])
            s.untils.insert(i, a["until_ms"])
            return True
        if kind == "assigned" and a["by"] != PIPELINE and a.get("assignee"):
            bisect.insort(self.owners.setdefault(a["fingerprint"], []),
                          (a["at_ms"], str(a["assignee"]), str(a.get("priority") or "")))
            return True
        if kind in ("assigned", "escalated") or (kind == "resolved" and a["by"] == PIPELINE):
            return False
        bisect.insort(self.timelines.setdefault(a["fingerprint"], []), (a["at_ms"], kind))
        return True

    def handled(self, fingerprint: str, starts_ms: int, at_ms: int) -> str | None:
        """"acknowledged" or "resolved" when the episode that started at `starts_ms` was
        so handled by `at_ms` (and not reopened after); None: nobody has it in hand."""
        state: str | None = None
        for t, kind in self.timelines.get(fingerprint, ()):
            if t > at_ms:
                break
            if t < starts_ms:
                continue
            if kind == "reopened":
                state = None
            elif kind == "resolved" or state is None:
                state = kind
        return state

    def owner(self, fingerprint: str, starts_ms: int, at_ms: int) -> tuple[str, str] | None:
        """(assignee, priority) a person gave the episode by `at_ms` (`rackwatch assign`;
        an empty priority: unchanged); None: still the one routing gave it."""
        found = None
        for t, assignee, priority in self.owners.get(fingerprint, ()):
            if t > at_ms:
                break
            if t >= starts_ms:
                found = (assignee, priority)
        return found

    def silenced_until(self, labels: Mapping[str, str], at_ms: int) -> int | None:
        """The end of the longest silence holding an alert with `labels` at `at_ms`."""
        best: int | None = None
        for s in self.silences.values():
            i = bisect.bisect_right(s.starts, at_ms) - 1
            if i < 0 or s.untils[i] <= at_ms:
                continue
            if all(m.test(labels.get(m.label, "")) for m in s.matchers):
                best = s.untils[i] if best is None else max(best, s.untils[i])
        return best


def track(handling: dict[str, list[Any]], alert: Mapping[str, Any], routed: Routed) -> None:
    """Keep the escalation clock of a host's alerts: a firing alert opens (or keeps) its
    episode's clock, a resolved one ends it."""
    fp = str(alert["fingerprint"])
    if alert.get("status") != "firing":
        handling.pop(fp, None)
        return
    starts = rfc3339_to_ms(str(alert["starts_at"]))
    held = handling.get(fp)
    if held is not None and held[0] == starts:
        return
    route = routed.route
    handling[fp] = [starts, starts + route.ack_timeout_ms, route.repeat_interval_ms, 0,
                    routed.assignee, routed.priority, alert.get("rule"), alert.get("host"),
                    match_labels(alert)]


def escalate(handling: dict[str, list[Any]], book: ActionBook,
             now_ms: int) -> list[dict[str, Any]]:
    """The escalations due by `now_ms` (event time) of a host's firing alerts; their clocks
    move on. An episode in hand (acknowledged, resolved by hand) or silenced at its due
    time is not escalated then, and is looked at again a repeat_interval later."""
    out: list[dict[str, Any]] = []
    for fp in sorted(handling):
        clock = handling[fp]
        starts, due, repeat, level, assignee, priority, rule, host, labels = clock
        for _ in range(_MAX_ESCALATIONS_PER_TICK):
            if due > now_ms:
                break
            quiet = (book.handled(fp, starts, due) is not None
                     or book.silenced_until(labels, due) is not None)
            if not quiet:
                level += 1
                moved = book.owner(fp, starts, due)
                if moved is not None:
                    assignee, priority = moved[0], moved[1] or priority
                out.append(make_action(
                    "escalated", fp, PIPELINE, due,
                    f"not acknowledged {(due - starts) // 1000}s after it started firing",
                    ident=(starts, level), assignee=assignee, priority=priority,
                    starts_at=ms_to_rfc3339(starts), rule=rule, host=host, level=level))
            due += repeat
        clock[1], clock[3] = due, level
    return out
