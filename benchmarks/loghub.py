"""Template-mining accuracy and speed on the loghub Linux and OpenSSH 2k samples.

For each sample and each message form (`--message content`: the loghub Content
column, header already cut; `--message raw`: the whole raw line, header parsed by
rackwatch) it runs

    ../shared/tools/loghub_to_events.py -> LogProcessor.process -> ../shared/tools/loghub_score.py

and prints grouping accuracy (GA), pairwise F1 and parsing accuracy (PA) next to the
published Drain figures, plus the throughput of process() (a fresh processor, and a
warm one whose templates are all known, which is the steady state of a worker).

    python -m benchmarks.loghub                 # default miner (template ids fixed at birth)
    python -m benchmarks.loghub --id-mode current --json out.json

Without ../shared (a checkout on its own) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.logs import LogProcessor, MinerConfig

__all__ = ["DATASETS", "PUBLISHED_DRAIN_GA", "Result", "available", "main", "run"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATASETS = ("Linux", "OpenSSH")
MESSAGES = ("content", "raw")
PUBLISHED_DRAIN_GA = {"Linux": 0.69, "OpenSSH": 0.7875}


@dataclass(frozen=True, slots=True)
class Result:
    """Scores and speed of one dataset in one message form."""

    dataset: str
    message: str
    ga: float
    pair_f1: float
    pa: float
    groups_predicted: int
    groups_truth: int
    lines: int
    lines_per_s: float
    warm_lines_per_s: float


def _paths(shared: Path, dataset: str) -> tuple[Path, Path, Path]:
    structured = shared / "data" / "loghub" / dataset / f"{dataset}_2k.log_structured.csv"
    tools = shared / "tools"
    return structured, tools / "loghub_to_events.py", tools / "loghub_score.py"


def available(shared: Path = SHARED) -> bool:
    """Whether the samples and the two tools are there."""
    return all(p.is_file() for ds in DATASETS for p in _paths(shared, ds))


def _throughput(events: list[dict[str, Any]], config: MinerConfig | None,
                repeats: int = 3) -> tuple[list[dict[str, Any]], float, float]:
    """Records of one fresh pass, best fresh lines/s and best warm lines/s."""
    records: list[dict[str, Any]] = []
    fresh = warm = 0.0
    for _ in range(repeats):
        proc = LogProcessor(config=config)
        t0 = time.perf_counter()
        out = [dict(proc.process(ev)) for ev in events]
        t1 = time.perf_counter()
        for ev in events:
            proc.process(ev)
        t2 = time.perf_counter()
        records = out
        fresh = max(fresh, len(events) / (t1 - t0))
        warm = max(warm, len(events) / (t2 - t1))
    return records, fresh, warm


def run(shared: Path, workdir: Path, config: MinerConfig | None = None,
        repeats: int = 3) -> list[Result]:
    """Convert, process and score every dataset in both message forms (best of `repeats`)."""
    results: list[Result] = []
    for dataset in DATASETS:
        structured, to_events, scorer = _paths(shared, dataset)
        for message in MESSAGES:
            events_path = workdir / f"{dataset}.{message}.events.jsonl"
            records_path = workdir / f"{dataset}.{message}.records.jsonl"
            score_path = workdir / f"{dataset}.{message}.score.json"
            subprocess.run([sys.executable, str(to_events), str(structured), str(events_path),
                            "--message", message], check=True)
            events = [orjson.loads(line) for line in events_path.read_bytes().splitlines()
                      if line.strip()]
            records, fresh, warm = _throughput(events, config, repeats)
            records_path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
            subprocess.run([sys.executable, str(scorer), str(structured), str(records_path),
                            "--json", str(score_path)], check=True, stdout=subprocess.DEVNULL)
            score = json.loads(score_path.read_text())
            results.append(Result(
                dataset=dataset, message=message, ga=score["GA"], pair_f1=score["pair_F1"],
                pa=score.get("PA", 0.0), groups_predicted=score["groups_predicted"],
                groups_truth=score["groups_truth"], lines=len(events), lines_per_s=fresh,
                warm_lines_per_s=warm,
            ))
    return results


def _table(results: list[Result]) -> str:
    head = (f"{'dataset':8} {'message':8} {'GA':>6} {'Drain':>6} {'pairF1':>7} {'PA':>6} "
            f"{'groups':>9} {'lines/s':>8} {'warm/s':>8}")
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(
            f"{r.dataset:8} {r.message:8} {r.ga:6.4f} {PUBLISHED_DRAIN_GA[r.dataset]:6.4f} "
            f"{r.pair_f1:7.4f} {r.pa:6.4f} {r.groups_predicted:4d}/{r.groups_truth:<4d} "
            f"{r.lines_per_s:8.0f} {r.warm_lines_per_s:8.0f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared directory")
    ap.add_argument("--id-mode", choices=("birth", "current"), default="birth")
    ap.add_argument("--similarity", type=float, default=MinerConfig().similarity)
    ap.add_argument("--out", type=Path, help="keep events, records and scores here")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    if not available(args.shared):
        print(f"loghub benchmark skipped: samples or tools not found under {args.shared}")
        return 0
    config = MinerConfig(similarity=args.similarity, id_mode=args.id_mode)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        results = run(args.shared, args.out, config)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            results = run(args.shared, Path(tmp), config)
    print(f"miner: similarity={config.similarity} id_mode={config.id_mode}")
    print(_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
