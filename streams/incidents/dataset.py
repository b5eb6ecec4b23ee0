"""Labelled examples for the fault model: host snapshots over a run, and the truth.

A snapshot is one host's features at one moment, computed from what was known then.
Its label says whether that host is in a fault, or will be within the horizon:

    label(host, t) = 1  if a fault of the host has start <= t + horizon and end > t

The truth comes from a simulator run's manifest (what was injected, where, when) or,
for a real fleet, from the incidents stored in ClickHouse. Snapshots are taken every
`step_ms` once a host has `warmup_ms` of history, and only while it reports (a silent
host has no fresh features to score).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.incidents.context import ContextFolder
from streams.incidents.features import features_from_context

__all__ = [
    "Snapshot",
    "Truth",
    "read_jsonl",
    "snapshots",
    "truth_from_manifest",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Truth:
    """One fault window on some hosts."""

    kind: str
    hosts: tuple[str, ...]
    start_ms: int  # first evidence
    end_ms: int
    hard_ms: int | None = None  # the hard failure (an XID, the OOM kill) when it is later


@dataclass(frozen=True)
class Snapshot:
    """One host at one moment: its features, its label and which faults made it positive."""

    host: str
    ts: int
    features: dict[str, float]
    label: int
    kinds: tuple[str, ...]
    during: bool = False  # a fault is already under way (not only ahead)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Objects of a JSON-lines file, skipping blank lines ('-' is not accepted here)."""
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON: {e}") from e
            if isinstance(obj, dict):
                yield obj


def truth_from_manifest(entries: Iterable[dict[str, Any]],
                        kinds: Iterable[str] | None = None) -> list[Truth]:
    """Fault windows from a simulator manifest (`kind`, `hosts`, `start_ms`, `end_ms`)."""
    wanted = set(kinds) if kinds is not None else None
    out: list[Truth] = []
    for e in entries:
        kind, hosts, start, end = e.get("kind"), e.get("hosts"), e.get("start_ms"), \
            e.get("end_ms")
        if not isinstance(kind, str) or not isinstance(hosts, list) \
                or not isinstance(start, int) or not isinstance(end, int):
            log.warning("manifest entry skipped (needs kind, hosts, start_ms, end_ms): %r", e)
            continue
        if wanted is not None and kind not in wanted:
            continue
        raw = e.get("details")
        details: dict[str, Any] = raw if isinstance(raw, dict) else {}
        hard = details.get("xid_ms", details.get("oom_ms"))
        out.append(Truth(kind, tuple(str(h) for h in hosts), start, max(end, start + 1),
                         hard if isinstance(hard, int) and hard > start else None))
    return out


def _log_classifier() -> Any:
    """The pipeline's own log processor, so training sees the fault classes the stream does."""
    try:
        from streams.logs import LogProcessor
    except ImportError:  # pragma: no cover - the logs package ships with rackwatch
        log.warning("streams.logs unavailable: fault counts will be zero in training")
        return None
    return LogProcessor()


def snapshots(events: Iterable[Mapping[str, Any]], truth: list[Truth], *,
              horizon_ms: int = 600_000, step_ms: int = 60_000, warmup_ms: int = 600_000,
              stale_ms: int = 90_000, windowed: tuple[str, ...] | None = None
              ) -> list[Snapshot]:
    """Walk a run's events (in event-time order) and label each host every `step_ms`.

    Metric batches (`rackwatch.metrics/v1`) feed the per-host summaries; log events
    (`rackwatch.logs/v1`, or already processed `rackwatch.log_record/v1` records) feed the
    fault counts after classification. `windowed` overrides which metrics the worker
    keeps windows of (default: the worker's own default).
    """
    by_host: dict[str, list[Truth]] = {}
    for t in truth:
        for h in t.hosts:
            by_host.setdefault(h, []).append(t)
    folder = ContextFolder() if windowed is None else ContextFolder(windowed=windowed)
    classifier: Any = None
    classifier_tried = False
    first_seen: dict[str, int] = {}
    out: list[Snapshot] = []
    next_at: int | None = None

    def take(at: int) -> None:
        for host in folder.hosts:
            seen = folder.last_seen(host)
            if seen is None or at - seen > stale_ms or at - first_seen[host] < warmup_ms:
                continue
            mine = [t for t in by_host.get(host, ())
                    if t.start_ms <= at + horizon_ms and t.end_ms > at]
            kinds = tuple(sorted({t.kind for t in mine}))
            feats = features_from_context(folder.context(host, at))
            out.append(Snapshot(host, at, feats, 1 if kinds else 0, kinds,
                                any(t.start_ms <= at for t in mine)))

    for ev in events:
        ts = ev.get("ts")
        host = ev.get("host")
        if not isinstance(ts, int) or not isinstance(host, str):
            continue
        if next_at is None:
            next_at = ts - ts % step_ms + step_ms
        while ts >= next_at:
            take(next_at)
            next_at += step_ms
        schema = ev.get("schema", "")
        if schema == "rackwatch.metrics/v1":
            first_seen.setdefault(host, ts)
            folder.add_batch(ev)
        elif schema in ("rackwatch.logs/v1", "rackwatch.log_record/v1"):
            fault_class = ev.get("fault_class")
            if schema == "rackwatch.logs/v1":
                if not classifier_tried:
                    classifier, classifier_tried = _log_classifier(), True
                if classifier is not None:
                    fault_class = classifier.process(ev).get("fault_class")
            if isinstance(fault_class, str) and fault_class:
                folder.add_fault(host, ts, fault_class)
    return out
