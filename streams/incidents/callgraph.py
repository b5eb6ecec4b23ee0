"""Who calls whom: the service call graph, given or learned.

Given: `CorrelatorConfig.call_graph` ({caller: [callee, ...]}, read from a file with
`load_call_graph`), or a host's topology label `calls` ("cart,currency": the services it
calls, as a deployment tool can stamp it on every batch). Learned, two ways: (1) when
the calls of a service (its client-side latency or errors, signal `calls`) start to
suffer within `onset_tolerance_ms` of another service's own trouble (latency, errors,
saturation...), that is one more sighting of caller -> callee; (2) when two services
log the same trace or request id (streams.core.traceids samples them from the logs),
they are on one request's path. The weights live in the scope state (bounded by
`max_graph_edges`, weakest forgotten first). No graph of any dataset is built in: an
edge is either configured or seen.

The ranking (streams.incidents.suspects) only uses the graph to *discount* coincidence:
a caller whose known callees are all healthy is not explained by a stranger's trouble.
A caller the graph knows nothing about may be explained by any service in trouble.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["LEARNED_MIN_WEIGHT", "CallGraph", "labelled_callees", "learn_edge",
           "learn_from_traces", "load_call_graph"]

log = logging.getLogger(__name__)

LEARNED_MIN_WEIGHT = 2.0  # sightings before a learned edge counts (one can be chance)
_MAX_HOSTS_PER_TRACE = 16


class CallGraph:
    """The known edges (configured, labelled and learned) as one read-only view."""

    def __init__(self, given: Mapping[str, tuple[str, ...]] | None = None,
                 learned: Mapping[str, Mapping[str, float]] | None = None,
                 labelled: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self._callees: dict[str, set[str]] = {}
        for source in (given or {}), (labelled or {}):
            for caller, callees in source.items():
                self._callees.setdefault(caller, set()).update(callees)
        learned = learned or {}
        for caller, weights in learned.items():
            # A learned edge counts once seen often enough, in its dominant direction
            # (trace ids seen both ways are oriented by who logged them first).
            strong = {c for c, w in weights.items() if w >= LEARNED_MIN_WEIGHT
                      and w >= learned.get(c, {}).get(caller, 0.0)}
            if strong:
                self._callees.setdefault(caller, set()).update(strong)

    def knows(self, caller: str) -> bool:
        """Does the graph know any callee of `caller`?"""
        return bool(self._callees.get(caller))

    def calls(self, caller: str, callee: str) -> bool:
        return callee in self._callees.get(caller, ())

    def may_explain(self, caller: str, callee: str) -> bool:
        """Can trouble of `callee` explain slow calls of `caller`? Yes if the edge is
        known, or if nothing is known about `caller`'s calls."""
        return not self.knows(caller) or self.calls(caller, callee)


def learn_edge(graph: dict[str, dict[str, float]], caller: str, callee: str,
               max_edges: int) -> None:
    """One more sighting of caller -> callee; the weakest edges go beyond `max_edges`."""
    if caller == callee:
        return
    weights = graph.setdefault(caller, {})
    weights[callee] = weights.get(callee, 0.0) + 1.0
    n = sum(len(w) for w in graph.values())
    if n <= max_edges:
        return
    edges = sorted((w, a, b) for a, ws in graph.items() for b, w in ws.items())
    for _w, a, b in edges[:n - max_edges]:
        del graph[a][b]
        if not graph[a]:
            del graph[a]


def learn_from_traces(graph: dict[str, dict[str, float]], seen: dict[str, list[Any]],
                      host: str, samples: tuple[tuple[str, int], ...], window_ms: int,
                      max_edges: int, max_ids: int) -> None:
    """Trace ids sampled from `host`'s logs: each one another service logged within
    `window_ms` links the two, as caller -> callee from the one that logged it first to
    the one that logged it later (a request is received, then passed on; both ways when
    at the same millisecond). `seen` holds the ids of the last `window_ms` ({hash: [ms,
    [[host, ms], ...]]}, at most `max_ids`, oldest dropped)."""
    for key, ts in samples:
        entry = seen.get(key)
        if entry is None or ts - entry[0] > window_ms:
            seen[key] = [ts, [[host, ts]]]
            continue
        loggers: list[list[Any]] = entry[1]
        if any(h == host for h, _ in loggers):
            continue
        for other, t in loggers:
            if t <= ts:
                learn_edge(graph, other, host, max_edges)
            if ts <= t:
                learn_edge(graph, host, other, max_edges)
        if len(loggers) < _MAX_HOSTS_PER_TRACE:
            loggers.append([host, ts])
    if len(seen) > max_ids:
        for key in sorted(seen, key=lambda k: (seen[k][0], k))[:len(seen) - max_ids]:
            del seen[key]


def labelled_callees(labels: Mapping[str, str]) -> tuple[str, ...]:
    """The callees a host's `calls` topology label lists (comma or space separated)."""
    raw = labels.get("calls", "")
    return tuple(sorted({p for p in raw.replace(",", " ").split() if p}))


def load_call_graph(path: str | Path) -> dict[str, tuple[str, ...]]:
    """A call graph file: YAML or JSON mapping each caller to the list of its callees,

        frontend: [cart, checkout, currency]
        checkout: [cart, payment]

    Raises ValueError (naming the file) for anything else."""
    try:
        data: Any = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a call graph maps each caller to a list of callees")
    out: dict[str, tuple[str, ...]] = {}
    for caller, callees in data.items():
        if not isinstance(caller, str) or not isinstance(callees, list) or not all(
                isinstance(c, str) and c for c in callees):
            raise ValueError(f"{path}: {caller!r}: expected a list of service names")
        out[caller] = tuple(sorted(set(callees) - {caller}))
    return out
