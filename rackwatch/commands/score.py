"""`rackwatch score MANIFEST`: the scorecard of a run or a replay (rackwatch.scorecard).

The alerts and incidents come from JSON-lines files (`replay --emit alerts,incidents`
output, or a dump of the topics), or, when none is given, from the store's `alerts`
and `incidents` tables over the manifest's time range.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from common.config import Config
from schemas.ids import ALERT, INCIDENT

__all__ = ["register"]

_ALERTS_SQL = """
SELECT fingerprint, status, rule, host,
       toUnixTimestamp64Milli(starts_at) AS starts_ms,
       toUnixTimestamp64Milli(updated_at) AS updated_ms
FROM alerts
WHERE updated_at >= fromUnixTimestamp64Milli({lo}) AND updated_at <= fromUnixTimestamp64Milli({hi})
ORDER BY updated_at
"""
_INCIDENTS_SQL = """
SELECT incident_id, status, suspect, hosts,
       toUnixTimestamp64Milli(opened_at) AS opened_ms
FROM incidents
WHERE updated_at >= fromUnixTimestamp64Milli({lo}) AND updated_at <= fromUnixTimestamp64Milli({hi})
ORDER BY updated_at
"""


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_bytes().splitlines():
        line = line.strip()
        if line.startswith(b"{"):
            out.append(orjson.loads(line))
    return out


def _from_store(cfg: Config, lo: int, hi: int) -> tuple[list[dict[str, Any]],
                                                       list[dict[str, Any]]]:
    from sinks.query import run_query
    from streams.core.timefmt import ms_to_rfc3339

    def rows(sql: str) -> list[dict[str, Any]]:
        text = run_query(cfg, sql.format(lo=lo, hi=hi), "jsonl")
        return [orjson.loads(line) for line in text.splitlines() if line.strip()]

    alerts = [{"schema": ALERT, "fingerprint": r["fingerprint"], "status": r["status"],
               "rule": r["rule"], "host": r["host"],
               "starts_at": ms_to_rfc3339(int(r["starts_ms"])),
               "updated_at": ms_to_rfc3339(int(r["updated_ms"]))} for r in rows(_ALERTS_SQL)]
    incidents = [{"schema": INCIDENT, "incident_id": r["incident_id"], "status": r["status"],
                  "suspect": r["suspect"], "hosts": r["hosts"],
                  "opened_at": ms_to_rfc3339(int(r["opened_ms"]))}
                 for r in rows(_INCIDENTS_SQL)]
    return alerts, incidents


def _score(args: argparse.Namespace, cfg: Config) -> int:
    from rackwatch.scorecard import GRACE_MS, LEAD_MS, score

    manifest = Path(args.manifest)
    try:
        faults = _read_jsonl(manifest)
        inputs = [m for p in args.input for m in _read_jsonl(Path(p))]
    except OSError as e:
        print(f"score: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    if args.input:
        alerts = [m for m in inputs if m.get("schema") == ALERT]
        incidents = [m for m in inputs if m.get("schema") == INCIDENT]
    elif faults:
        lo = min(int(f["start_ms"]) for f in faults) - LEAD_MS
        hi = max(int(f["end_ms"]) for f in faults) + GRACE_MS
        alerts, incidents = _from_store(cfg, lo, hi)
    else:
        alerts, incidents = [], []
    card = score(faults, alerts, incidents, exclude_hosts=args.exclude_host)
    sys.stdout.write(card.render())
    return 0 if card.perfect or not args.require_all else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("score", help="score alerts and incidents against a fault manifest",
                       description="Print which injected faults (a `simulate --manifest` "
                                   "file) the pipeline caught, how fast, with which suspect, "
                                   "and the false alarms.")
    s.add_argument("manifest", help="the simulator's ground-truth manifest (JSON lines)")
    s.add_argument("--input", action="append", default=[], metavar="FILE.jsonl",
                   help="alert/incident messages (replay output, a topic dump); repeatable; "
                        "default: the store's alerts and incidents tables")
    s.add_argument("--exclude-host", action="append", default=[], metavar="HOST",
                   help="hosts outside the simulation (their alerts are not false alarms)")
    s.add_argument("--require-all", action="store_true",
                   help="exit 1 unless every fault is caught with the right suspect")
    s.set_defaults(func=_score)
