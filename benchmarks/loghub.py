"""Template-mining accuracy and speed on the eight loghub 2k samples in ../shared.

For each sample and each message form (`content`: the loghub Content column, header
already cut; `raw`: the whole raw line, header found by rackwatch) it runs

    ../shared/tools/loghub_to_events.py -> LogProcessor.process -> ../shared/tools/loghub_score.py

(the two tools are loaded from ../shared and called in process) and prints grouping
accuracy (GA) beside the published Drain figure, pairwise F1, parsing accuracy (PA)
and the cost of process() in microseconds per line, for a fresh processor and for a
warm one that knows every template (the steady state of a worker).

    python -m benchmarks.loghub                      # the default miner
    python -m benchmarks.loghub --steady-after 0 --json out.json
    python -m benchmarks.loghub --against ../main    # also time another checkout, same run

`quality()` returns the table as text, for `make quality` (one pass, under a minute).
Without ../shared (a checkout on its own) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from streams.logs import LogProcessor, MinerConfig

__all__ = ["DATASETS", "PUBLISHED_DRAIN_GA", "Result", "available", "main", "quality", "run"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATASETS = ("Linux", "OpenSSH", "HDFS", "Spark", "Zookeeper", "OpenStack", "Proxifier",
            "HealthApp")
MESSAGES = ("content", "raw")
# Zhu et al., "Tools and Benchmarks for Automated Log Parsing" (ICSE-SEIP 2019), as
# listed in ../shared/data/README.md
PUBLISHED_DRAIN_GA = {"Linux": 0.69, "OpenSSH": 0.7875, "HDFS": 0.9975, "Spark": 0.92,
                      "Zookeeper": 0.9665, "OpenStack": 0.7325, "Proxifier": 0.5265,
                      "HealthApp": 0.78}

# The child that times another checkout's LogProcessor on the same events (--against).
_TIMER = """
import json, sys, time
import orjson
from streams.logs import LogProcessor
out = {}
for path in sys.argv[1:]:
    events = [orjson.loads(x) for x in open(path, "rb").read().splitlines() if x.strip()]
    best = 1e9
    for _ in range(3):
        p = LogProcessor()
        t0 = time.perf_counter()
        for ev in events:
            p.process(ev)
        best = min(best, time.perf_counter() - t0)
    out[path] = best / len(events) * 1e6
print(json.dumps(out))
"""


@dataclass(frozen=True, slots=True)
class Result:
    """Scores and cost of one dataset in one message form."""

    dataset: str
    message: str
    ga: float
    pair_f1: float
    pa: float
    groups_predicted: int
    groups_truth: int
    lines: int
    us_per_line: float
    warm_us_per_line: float


def _paths(shared: Path, dataset: str) -> tuple[Path, Path, Path]:
    structured = shared / "data" / "loghub" / dataset / f"{dataset}_2k.log_structured.csv"
    tools = shared / "tools"
    return structured, tools / "loghub_to_events.py", tools / "loghub_score.py"


def available(shared: Path = SHARED) -> bool:
    """Whether the samples and the two tools are there."""
    return all(p.is_file() for ds in DATASETS for p in _paths(shared, ds))


def _tool(path: Path) -> ModuleType:
    """Load one of the shared tools as a module (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"_shared_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed(events: list[dict[str, Any]], config: MinerConfig | None,
           repeats: int) -> tuple[list[dict[str, Any]], float, float]:
    """Records of one fresh pass, best fresh and best warm microseconds per line."""
    records: list[dict[str, Any]] = []
    fresh = warm = float("inf")
    for _ in range(repeats):
        proc = LogProcessor(config=config)
        t0 = time.perf_counter()
        out = [dict(proc.process(ev)) for ev in events]
        t1 = time.perf_counter()
        for ev in events:
            proc.process(ev)
        t2 = time.perf_counter()
        records = out
        fresh = min(fresh, (t1 - t0) / len(events) * 1e6)
        warm = min(warm, (t2 - t1) / len(events) * 1e6)
    return records, fresh, warm


def run(shared: Path, workdir: Path, config: MinerConfig | None = None, repeats: int = 3,
        datasets: tuple[str, ...] = DATASETS) -> list[Result]:
    """Convert, process and score every dataset in both message forms (best of `repeats`)."""
    to_events = _tool(shared / "tools" / "loghub_to_events.py")
    scorer = _tool(shared / "tools" / "loghub_score.py")
    results: list[Result] = []
    for dataset in datasets:
        structured, _, _ = _paths(shared, dataset)
        log = structured.with_name(f"{dataset}_2k.log")
        for message in MESSAGES:
            # synthetic clock: every sample gets ordered times (some have no year or none)
            events = list(to_events.events(structured, dataset, message, "synthetic", 2005, log))
            (workdir / f"{dataset}.{message}.events.jsonl").write_bytes(
                b"".join(orjson.dumps(e) + b"\n" for e in events))
            records, fresh, warm = _timed(events, config, repeats)
            records_path = workdir / f"{dataset}.{message}.records.jsonl"
            records_path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
            score = scorer.score(structured, records_path)
            results.append(Result(
                dataset=dataset, message=message, ga=score["GA"], pair_f1=score["pair_F1"],
                pa=score.get("PA", 0.0), groups_predicted=score["groups_predicted"],
                groups_truth=score["groups_truth"], lines=len(events), us_per_line=fresh,
                warm_us_per_line=warm,
            ))
    return results


def _child_times(tree: Path, paths: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    done = subprocess.run([sys.executable, "-c", _TIMER, *paths], capture_output=True,
                          text=True, env=env, cwd=tree, check=True, timeout=900)
    timed: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return timed


def against(other: Path, workdir: Path, results: list[Result],
            rounds: int = 2) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """Fresh microseconds per line of this tree and of another checkout, timed the same
    way in child processes taking turns (so machine load falls on both alike): (this,
    other), best of `rounds` each."""
    paths = [str(workdir / f"{r.dataset}.{r.message}.events.jsonl") for r in results]
    mine: dict[str, float] = {}
    theirs: dict[str, float] = {}
    for _ in range(rounds):
        for tree, best in ((REPO, mine), (other, theirs)):
            for path, us in _child_times(tree, paths).items():
                best[path] = min(best.get(path, us), us)
    keys = [(r.dataset, r.message) for r in results]
    return ({k: mine[p] for k, p in zip(keys, paths, strict=True)},
            {k: theirs[p] for k, p in zip(keys, paths, strict=True)})


Times = dict[tuple[str, str], float]


def table(results: list[Result], compared: tuple[Times, Times] | None = None) -> str:
    """The results as a printable table, with each form's mean and its worst gap to Drain.

    With `compared` (this tree's and another's us/line, from against()), two more
    columns: the other checkout's cost and the ratio of this one's to it."""
    head = (f"{'dataset':10} {'message':7} {'GA':>6} {'Drain':>6} {'pairF1':>7} {'PA':>6} "
            f"{'groups':>9} {'us/line':>8} {'warm':>6}")
    if compared:
        head += f" {'this':>6} {'other':>6} {'ratio':>6}"
    rows = [head, "-" * len(head)]
    for message in MESSAGES:
        mine = [r for r in results if r.message == message]
        for r in mine:
            row = (f"{r.dataset:10} {r.message:7} {r.ga:6.4f} {PUBLISHED_DRAIN_GA[r.dataset]:6.4f} "
                   f"{r.pair_f1:7.4f} {r.pa:6.4f} {r.groups_predicted:4d}/{r.groups_truth:<4d} "
                   f"{r.us_per_line:8.1f} {r.warm_us_per_line:6.1f}")
            if compared:
                this, other = compared[0][(r.dataset, r.message)], compared[1][(r.dataset,
                                                                                r.message)]
                row += f" {this:6.1f} {other:6.1f} {this / other:6.2f}"
            rows.append(row)
        if mine:
            n = len(mine)
            drain = sum(PUBLISHED_DRAIN_GA[r.dataset] for r in mine) / n
            worst = min(r.ga - PUBLISHED_DRAIN_GA[r.dataset] for r in mine)
            mean = (f"{'mean':10} {message:7} {sum(r.ga for r in mine) / n:6.4f} "
                    f"{drain:6.4f}   (worst GA - Drain: {worst:+.4f}; "
                    f"{sum(r.us_per_line for r in mine) / n:.1f} us/line")
            if compared:
                this = sum(compared[0][(r.dataset, message)] for r in mine)
                other = sum(compared[1][(r.dataset, message)] for r in mine)
                mean += f"; this / other: {this / other:.2f}"
            rows.append(mean + ")")
    return "\n".join(rows)


def quality(shared: Path = SHARED) -> str:
    """One pass over the eight samples, content and raw, as a printable table."""
    if not available(shared):
        return f"loghub: skipped, samples or tools not found under {shared}"
    with tempfile.TemporaryDirectory() as tmp:
        results = run(shared, Path(tmp), repeats=1)
    return "loghub grouping accuracy (rackwatch miner vs published Drain)\n" + table(results)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared directory")
    ap.add_argument("--id-mode", choices=("birth", "current"), default="birth")
    ap.add_argument("--similarity", type=float, default=MinerConfig().similarity)
    ap.add_argument("--steady-after", type=int, default=MinerConfig().steady_after)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--against", type=Path,
                    help="another checkout (e.g. the main branch): time its LogProcessor too")
    ap.add_argument("--out", type=Path, help="keep events, records and scores here")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    if not available(args.shared):
        print(f"loghub benchmark skipped: samples or tools not found under {args.shared}")
        return 0
    config = MinerConfig(similarity=args.similarity, id_mode=args.id_mode,
                         steady_after=args.steady_after)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.out or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = run(args.shared, workdir, config, args.repeats)
        compared = against(args.against, workdir, results) if args.against else None
    print(f"miner: similarity={config.similarity} steady_after={config.steady_after} "
          f"id_mode={config.id_mode}")
    if args.against:
        print(f"this / other: this tree and {args.against}, us/line of a fresh processor "
              "timed alike in child processes taking turns")
    print(table(results, compared))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
