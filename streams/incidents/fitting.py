"""From history to a fault model, and how good it is: the body of `rackwatch train`.

Two sources of truth, one path: a simulator run (its events and its manifest of
injected faults) or the store (metrics and fault-classified logs in ClickHouse, with
the incidents as the truth; read by sinks.training). Both become event streams folded
into snapshots by `streams.incidents.dataset`, then a logistic regression by
`streams.incidents.training`.

Judging it: snapshot-level precision and recall (every host-minute counts), and
fault-level recall (a fault counts as caught when some snapshot of an affected host
scored above the threshold between `horizon` before it and its end), with how far
ahead of the fault the first such score came.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from typing import Any

from streams.incidents.dataset import Snapshot, Truth
from streams.incidents.features import FEATURES
from streams.incidents.model import FaultModel
from streams.incidents.training import evaluate, train

__all__ = ["fault_recall", "fit", "report"]

log = logging.getLogger(__name__)


def fit(snaps: Sequence[Snapshot], *, l2: float = 10.0, horizon_ms: int = 600_000,
        meta: dict[str, Any] | None = None) -> FaultModel:
    """A model fitted on snapshots, over the standard feature set."""
    return train([(s.features, s.label) for s in snaps], features=FEATURES, l2=l2,
                 horizon_ms=horizon_ms, meta=meta)


def fault_recall(model: FaultModel, snaps: Sequence[Snapshot], truth: Sequence[Truth],
                 horizon_ms: int) -> dict[str, Any]:
    """Which injected faults the model flagged in time, by kind, and with what lead."""
    by_host: dict[str, list[Snapshot]] = {}
    for s in snaps:
        by_host.setdefault(s.host, []).append(s)
    kinds: dict[str, list[int]] = {}
    leads: list[float] = []
    ahead_of_hard: list[float] = []
    with_hard = 0
    for t in truth:
        hits = [s.ts for h in t.hosts for s in by_host.get(h, ())
                if t.start_ms - horizon_ms <= s.ts < t.end_ms
                and model.score(s.features) >= model.threshold]
        seen = any(t.start_ms - horizon_ms <= s.ts < t.end_ms
                   for h in t.hosts for s in by_host.get(h, ()))
        if not seen:
            continue  # the hosts never reported in that span (silent): nothing to score
        k = kinds.setdefault(t.kind, [0, 0])
        k[1] += 1
        with_hard += t.hard_ms is not None
        if hits:
            k[0] += 1
            leads.append((t.start_ms - min(hits)) / 1000.0)
            if t.hard_ms is not None and min(hits) < t.hard_ms:
                ahead_of_hard.append((t.hard_ms - min(hits)) / 1000.0)
    caught = sum(v[0] for v in kinds.values())
    total = sum(v[1] for v in kinds.values())
    return {
        "faults": total,
        "caught": caught,
        "recall": round(caught / total, 4) if total else None,
        "median_lead_s": round(statistics.median(leads), 1) if leads else None,
        "with_hard_failure": with_hard,
        "flagged_before_hard_failure": len(ahead_of_hard),
        "median_lead_before_hard_failure_s":
            round(statistics.median(ahead_of_hard), 1) if ahead_of_hard else None,
        "by_kind": {k: f"{v[0]}/{v[1]}" for k, v in sorted(kinds.items())},
    }


def report(model: FaultModel, snaps: Sequence[Snapshot], truth: Sequence[Truth] | None,
           horizon_ms: int) -> dict[str, Any]:
    """Snapshot-level and (with the truth) fault-level figures of a model on a run."""
    ev = evaluate(model, [(s.features, s.label) for s in snaps])
    out: dict[str, Any] = {"snapshots": len(snaps),
                           "positives": sum(s.label for s in snaps), **ev.to_dict()}
    for phase, group in (("during", [s for s in snaps if s.label and s.during]),
                         ("ahead", [s for s in snaps if s.label and not s.during])):
        hit = sum(1 for s in group if model.score(s.features) >= model.threshold)
        out[f"recall_{phase}"] = round(hit / len(group), 4) if group else None
    if truth is not None:
        out["fault_level"] = fault_recall(model, snaps, truth, horizon_ms)
    return out
