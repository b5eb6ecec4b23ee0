"""NAB benchmark of the anomaly detector, scored by the shared NAB scorer.

For every labelled NAB data file under ../shared/data/nab it runs
`streams.anomaly.update` over the series, turns the scores into alert episodes the
way an anomaly rule would (fire at `score >= score_above` after `for` samples, stay
firing while `score >= clear_below`, plus `keep_firing_for`), writes them as
`rackwatch.alert/v1` JSON lines (one file per data file, host "nab-<stem>"), and
runs `../shared/tools/nab_score.py alerts --profile all` on them.

    python -m benchmarks.nab                       # default rule settings
    python -m benchmarks.nab --loo                 # + leave-one-file-out threshold choice
    python -m benchmarks.nab --out /tmp/nab-alerts --score-above 0.45

With --loo, the alerts are scored for a grid of thresholds; for each file the
threshold that is best on the *other* files is applied to it, and the normalised
score of those held-out results says how well a threshold chosen on some series
carries to a series it was not chosen on.

Without ../shared (a checkout on its own), it says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from calendar import timegm
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from schemas.ids import ALERT
from streams.anomaly import AnomalyParams, new_state, update

__all__ = ["Episode", "episodes", "main"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
NAB = SHARED / "data" / "nab"
SCORER = SHARED / "tools" / "nab_score.py"
RULE = "NabValueAnomaly"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
LOO_GRID = tuple(round(0.30 + 0.05 * i, 2) for i in range(9))  # 0.30 .. 0.70


@dataclass(frozen=True, slots=True)
class Episode:
    """One firing episode: when it fired and (if it did) when it resolved."""

    fired_at: int
    fired_value: float
    resolved_at: int | None


def episodes(ts: list[int], scores: list[float], above: float, clear: float,
             for_samples: int = 0, keep_firing_for_ms: int = 0) -> list[Episode]:
    """The episodes an anomaly rule would raise on these scores (the rule engine's semantics)."""
    out: list[Episode] = []
    firing = False
    run = 0
    fired_at, fired_value = 0, 0.0
    ok, lapsed_at = True, 0  # as the engine: keep_firing_for counts from the first lapse
    for t, s in zip(ts, scores, strict=True):
        if not firing:
            run = run + 1 if s >= above else 0
            if run > for_samples:
                firing, fired_at, fired_value, ok = True, t, s, True
            continue
        if s >= clear:
            ok = True
            continue
        if ok:
            ok, lapsed_at = False, t
        if t >= lapsed_at + keep_firing_for_ms:
            out.append(Episode(fired_at, fired_value, t))
            firing, run = False, 0
    if firing:
        out.append(Episode(fired_at, fired_value, None))
    return out


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{ms % 1000:03d}Z"


def alert_messages(host: str, eps: list[Episode], above: float) -> list[dict[str, Any]]:
    """Firing and resolved `rackwatch.alert/v1` messages of the episodes."""
    fp = hashlib.sha256(f"alertname\x1f{RULE}\x1ehost\x1f{host}".encode()).hexdigest()[:16]
    labels = {"alertname": RULE, "host": host, "rack": "nab"}
    out: list[dict[str, Any]] = []
    for ep in eps:
        base = {
            "schema": ALERT, "fingerprint": fp, "rule": RULE, "severity": "info",
            "host": host, "labels": labels,
            "annotations": {"summary": f"unusual nab.value on {host}",
                            "description": f"anomaly score {ep.fired_value:.3f}"},
            "value": ep.fired_value, "threshold": above,
            "starts_at": rfc3339(ep.fired_at), "incident_id": None,
        }
        out.append({**base, "status": "firing", "ends_at": None,
                    "updated_at": rfc3339(ep.fired_at)})
        if ep.resolved_at is not None:
            out.append({**base, "status": "resolved", "ends_at": rfc3339(ep.resolved_at),
                        "updated_at": rfc3339(ep.resolved_at)})
    return out


def read_series(path: Path) -> tuple[list[int], list[float]]:
    """A NAB CSV as (epoch ms, value); NAB's naive timestamps are UTC (as nab_to_events.py)."""
    ts, xs = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            t = datetime.fromisoformat(row["timestamp"])
            ts.append(timegm(t.timetuple()) * 1000 + t.microsecond // 1000)
            xs.append(float(row["value"]))
    return ts, xs


def nab_files(nab: Path) -> list[str]:
    """Labelled data files present under data/, as "<category>/<file>.csv"."""
    labels = json.loads((nab / "labels" / "combined_windows.json").read_text())
    return sorted(name for name in labels if (nab / "data" / name).is_file())


def run_detector(nab: Path, files: list[str], params: AnomalyParams
                 ) -> tuple[dict[str, tuple[list[int], list[float]]], dict[str, float]]:
    """Scores per file, plus cost figures: microseconds per update and state size."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    elapsed, samples, max_bytes = 0.0, 0, 0
    for name in files:
        ts, xs = read_series(nab / "data" / name)
        state = new_state(params)
        t0 = time.perf_counter()
        scores = [update(state, t, x, params) for t, x in zip(ts, xs, strict=True)]
        elapsed += time.perf_counter() - t0
        samples += len(xs)
        max_bytes = max(max_bytes, len(orjson.dumps(state)))
        out[name] = (ts, scores)
    return out, {"us_per_update": 1e6 * elapsed / max(samples, 1), "samples": samples,
                 "state_bytes_max": max_bytes}


def write_alerts(folder: Path, scored: dict[str, tuple[list[int], list[float]]],
                 above: float, clear: float, for_samples: int, keep_ms: int) -> int:
    """One <stem>.jsonl per data file; returns the number of episodes."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, (ts, scores) in scored.items():
        stem = Path(name).stem
        eps = episodes(ts, scores, above, clear, for_samples, keep_ms)
        total += len(eps)
        lines = [orjson.dumps(m) for m in alert_messages(f"nab-{stem}", eps, above)]
        (folder / f"{stem}.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    return total


def score(folder: Path, nab: Path, profile: str, quiet: bool) -> dict[str, Any]:
    """Run the shared scorer on a folder of alert files; its JSON result."""
    result = folder / "scores.json"
    cmd = [sys.executable, str(SCORER), "alerts", "--alerts-dir", str(folder), "--nab", str(nab),
           "--profile", profile, "--json", str(result)]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    if not quiet:
        print(proc.stdout, end="")
    data: dict[str, Any] = json.loads(result.read_text())
    return data


def leave_one_out(per_threshold: dict[float, dict[str, dict[str, float]]]
                  ) -> tuple[float, dict[str, float]]:
    """Normalised score of each file under the threshold that is best on the other files."""
    files = sorted(next(iter(per_threshold.values())))

    def normalised(rows: list[dict[str, float]]) -> float:
        raw = sum(r["score"] for r in rows)
        null = sum(r["null"] for r in rows)
        perfect = sum(r["perfect"] for r in rows)
        return 100.0 * (raw - null) / (perfect - null)

    held, chosen = [], {}
    for f in files:
        best = max(per_threshold, key=lambda thr: (
            normalised([per_threshold[thr][g] for g in files if g != f]), -abs(thr - 0.5)))
        chosen[f] = best
        held.append(per_threshold[best][f])
    return normalised(held), chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nab", type=Path, default=NAB, help="NAB tree (default ../shared/data/nab)")
    ap.add_argument("--out", type=Path, help="folder for the alert files (default: a temp dir)")
    ap.add_argument("--score-above", type=float, default=0.5)
    ap.add_argument("--clear-below", type=float, default=0.5)
    ap.add_argument("--for-samples", type=int, default=0)
    ap.add_argument("--keep-firing-for-ms", type=int, default=0)
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="an AnomalyParams field (repeatable), e.g. hold=32")
    ap.add_argument("--loo", action="store_true", help="leave-one-file-out threshold choice")
    args = ap.parse_args(argv)

    if not SCORER.is_file() or not (args.nab / "labels" / "combined_windows.json").is_file():
        print(f"skipped: the NAB data and scorer are not there ({SHARED} is absent)")
        return 0
    params = AnomalyParams(**{k: json.loads(v) for k, v in
                              (p.split("=", 1) for p in args.param)})
    files = nab_files(args.nab)
    scored, cost = run_detector(args.nab, files, params)
    print(f"detector: {len(files)} files, {cost['samples']} samples, "
          f"{cost['us_per_update']:.1f} us/update, state <= {cost['state_bytes_max']} bytes JSON")

    with tempfile.TemporaryDirectory() as tmp:
        base = args.out or Path(tmp)
        n = write_alerts(base / "alerts", scored, args.score_above, args.clear_below,
                         args.for_samples, args.keep_firing_for_ms)
        print(f"rule: score_above {args.score_above}, clear_below {args.clear_below}, "
              f"for {args.for_samples} samples, keep_firing_for {args.keep_firing_for_ms} ms "
              f"-> {n} episodes")
        result = score(base / "alerts", args.nab, "all", quiet=False)
        summary = {p: result["profiles"][p]["normalised"] for p in PROFILES}
        print("NORMALISED " + "  ".join(f"{p} {v:.1f}" for p, v in summary.items()))
        if args.loo:
            per: dict[float, dict[str, dict[str, float]]] = {}
            gap = args.score_above - args.clear_below  # the same hysteresis at every threshold
            for thr in LOO_GRID:
                folder = base / f"loo-{thr:.2f}"
                write_alerts(folder, scored, thr, thr - gap, args.for_samples,
                             args.keep_firing_for_ms)
                res = score(folder, args.nab, "standard", quiet=True)
                per[thr] = {f["file"]: f for f in res["profiles"]["standard"]["files"]}
            curve = "  ".join(f"{thr:.2f}:{_norm(rows):.1f}" for thr, rows in per.items())
            print(f"standard score by score_above: {curve}")
            loo, chosen = leave_one_out(per)
            for f, thr in chosen.items():
                print(f"  held out {f}: score_above {thr:.2f} (best on the other files)")
            print(f"LEAVE-ONE-FILE-OUT standard {loo:.1f}")
    return 0


def _norm(rows: dict[str, dict[str, float]]) -> float:
    raw = sum(r["score"] for r in rows.values())
    null = sum(r["null"] for r in rows.values())
    perfect = sum(r["perfect"] for r in rows.values())
    return 100.0 * (raw - null) / (perfect - null)


if __name__ == "__main__":
    raise SystemExit(main())
