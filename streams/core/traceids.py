"""Trace and request ids in log lines, sampled per host, for learning who calls whom.

Two services that log the same trace (or request, or correlation) id within minutes are
on one request's path. The ids of every line cannot all travel to the correlator, so each
host keeps a *consistent* sample: an id is kept when its hash falls in the same 1/`RATE`
slice on every host (the way tracers sample by trace id), so a sampled request is
sampled on all the services it touched. At most `MAX_PER_INTERVAL` hashes are kept per
host between two of its metric batches; the runtime sends them on with the batch as a
`traces` correlation event to the host's service domain (streams.incidents.callgraph).

Ids are read from the raw line, so JSON logs (`"trace_id": "..."`, `"traceId"`,
`"x-request-id"`...) and text logs (`trace_id=...`, `TraceId: ...`, `[requestId=...]`,
W3C `traceparent` values, OpenStack's `req-<uuid>`) are read alike, whatever the parser
kept of the line.
"""

from __future__ import annotations

import hashlib
import logging
import re

from streams.core.hoststate import HostState

__all__ = ["MAX_PER_INTERVAL", "RATE", "sample_ids", "take_sample", "trace_ids"]

log = logging.getLogger(__name__)

RATE = 16  # one id in RATE is sampled (by hash, the same ones on every host)
MAX_PER_INTERVAL = 16  # sampled ids kept per host between two metric batches
_KEYED = re.compile(
    r"(?i)(?<![a-z0-9])(?:x-b3-traceid|trace[_.-]?id|request[_.-]?id|x-request-id"
    r"|correlation[_.-]?id)[\"']?\s*[:=]\s*[\"']?([0-9a-z][0-9a-z_-]{7,63})")
_TRACEPARENT = re.compile(r"(?<![0-9a-f])00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}(?![0-9a-f])")
# OpenStack-style request ids: "req-" and a UUID, wherever they stand in the line
_REQ_UUID = re.compile(r"(?<![0-9a-z-])(req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                       r"[0-9a-f]{12})(?![0-9a-f])", re.IGNORECASE)
_MAX_SCAN = 4096  # characters of a line searched


def trace_ids(line: str) -> list[str]:
    """The trace/request ids a line names (lower-cased, at most a few)."""
    text = line[:_MAX_SCAN]
    lower = text.lower()
    if "id" not in lower and "00-" not in text and "req-" not in lower:
        return []
    found = [m.group(1).lower() for m in _KEYED.finditer(text)]
    found += [m.group(1) for m in _TRACEPARENT.finditer(text)]
    found += [m.group(1).lower() for m in _REQ_UUID.finditer(text)]
    return list(dict.fromkeys(found))[:4]


def _hash(trace_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(trace_id.encode(), digest_size=8).digest(), "big")


def sample_ids(state: HostState, line: str, ts: int) -> None:
    """Keep the line's sampled ids (as hashes, with the line's time) in the host state."""
    for tid in trace_ids(line):
        h = _hash(tid)
        if h % RATE:
            continue
        sample = state.trace_sample
        if sample is None:
            sample = state.trace_sample = []
        key = format(h, "016x")
        if len(sample) < MAX_PER_INTERVAL and all(k != key for k, _ in sample):
            sample.append([key, ts])


def take_sample(state: HostState) -> list[list[object]]:
    """The sampled ids since the last batch (and forget them)."""
    sample = state.trace_sample or []
    state.trace_sample = None
    return list(sample)
