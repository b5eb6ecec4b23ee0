"""Fault lines on the eight loghub samples: rackwatch's classifier against hand labels.

The labels (tests/data/loghub_fault_labels.csv) say, per template of each sample,
whether its lines report a fault; the rule they follow is written at the top of that
file. For each sample and each message form (`content`: the loghub Content column;
`raw`: the whole line, header left to rackwatch) this runs the measurement path

    ../shared/tools/loghub_to_events.py -> rackwatch replay --emit logs

(in process: the tool's `events()` and `streams.replay.replay_lines`, which is what the
command runs) and counts a line as flagged when its record has a `fault_class`. Beside
it, the keyword baseline: a line is flagged when it contains one of KEYWORDS.

Precision and recall are given per line and per template (a template counts as flagged
when at least half of its lines are), with us/line of `LogProcessor.process` on a warm
processor, with and without the generic layer (the cost of this layer).

    python -m benchmarks.faultlines [--json OUT]

Without ../shared (a checkout on its own) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from streams.logs import LogProcessor
from streams.replay import replay_lines
from streams.rules import default_rules

__all__ = ["KEYWORDS", "LABELS", "SAMPLES", "Counts", "Result", "available", "load_labels",
           "main", "quality", "run"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
LABELS = REPO / "tests" / "data" / "loghub_fault_labels.csv"
SAMPLES = ("HDFS", "Spark", "Zookeeper", "OpenStack", "HealthApp", "Linux", "OpenSSH",
           "Proxifier")
MESSAGES = ("content", "raw")
# The baseline: the failure words a person would grep for first.
KEYWORDS = ("error", "fail", "fatal", "exception", "panic", "abort", "crash", "critical",
            "timeout", "timed out", "refused", "denied", "killed")


@dataclass(frozen=True, slots=True)
class Counts:
    """A confusion count and the figures derived from it (precision 1.0 when nothing flagged)."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


@dataclass(frozen=True, slots=True)
class Result:
    """One sample in one message form: ours and the baseline, per line and per template."""

    sample: str
    message: str
    lines: Counts
    templates: Counts
    base_lines: Counts
    base_templates: Counts
    by_source: dict[str, int]
    us_per_line: float
    us_per_line_catalogue: float


def _tool(shared: Path) -> ModuleType:
    path = shared / "tools" / "loghub_to_events.py"
    spec = importlib.util.spec_from_file_location("loghub_to_events", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _structured(shared: Path, sample: str) -> Path:
    return shared / "data" / "loghub" / sample / f"{sample}_2k.log_structured.csv"


def available(shared: Path = SHARED) -> bool:
    """Whether the samples, the converter and the labels are there."""
    return LABELS.is_file() and (shared / "tools" / "loghub_to_events.py").is_file() and all(
        _structured(shared, s).is_file() for s in SAMPLES)


def load_labels(path: Path = LABELS) -> dict[tuple[str, str], bool]:
    """(sample, event id) -> is a fault; '#' lines are the labelling rule."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {(r["sample"], r["event_id"]): r["fault"] == "1" for r in rows}


def _event_ids(shared: Path, sample: str) -> dict[int, str]:
    with _structured(shared, sample).open(encoding="utf-8", newline="") as f:
        return {int(r["LineId"]): r["EventId"] for r in csv.DictReader(f)}


def _events(tool: ModuleType, shared: Path, sample: str, message: str) -> list[dict[str, Any]]:
    structured = _structured(shared, sample)
    clock = "real" if sample in tool.REAL_CLOCKS else "synthetic"
    log_path = structured.with_name(f"{sample}_2k.log")
    return list(tool.events(structured, sample, message, clock, 2005, log_path))


def _replayed(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """seq -> log record, through the replay command's own function."""
    lines: Iterable[bytes] = (orjson.dumps(e) for e in events)
    records = (orjson.loads(b) for b in replay_lines(lines, default_rules(), {"logs"}))
    return {int(r["seq"]): r for r in records}


def _keyword(text: str) -> bool:
    low = text.lower()
    return any(k in low for k in KEYWORDS)


def _score(flags: dict[int, bool], truth: dict[int, bool],
           template_of: dict[int, str]) -> tuple[Counts, Counts]:
    tp = sum(1 for i, t in truth.items() if t and flags.get(i))
    fp = sum(1 for i, t in truth.items() if not t and flags.get(i))
    fn = sum(1 for i, t in truth.items() if t and not flags.get(i))
    per: dict[str, list[int]] = {}
    for i, tid in template_of.items():
        per.setdefault(tid, [0, 0])[0] += 1
        per[tid][1] += 1 if flags.get(i) else 0
    t_truth = {tid: truth[next(i for i, t in template_of.items() if t == tid)] for tid in per}
    flagged = {tid: 2 * n_flag >= n for tid, (n, n_flag) in per.items()}
    ttp = sum(1 for tid, t in t_truth.items() if t and flagged[tid])
    tfp = sum(1 for tid, t in t_truth.items() if not t and flagged[tid])
    tfn = sum(1 for tid, t in t_truth.items() if t and not flagged[tid])
    return Counts(tp, fp, fn), Counts(ttp, tfp, tfn)


def _us_per_line(events: list[dict[str, Any]], repeats: int) -> tuple[float, float]:
    """us per line of process() on warm processors (each has seen the sample once), with
    and without the generic layer, timed in turns so that load on the machine hits both
    alike; best of `repeats`. (0.0, 0.0) when repeats is 0 (figures only)."""
    if repeats < 1:
        return 0.0, 0.0
    procs = (LogProcessor(), LogProcessor(generic=False))
    for proc in procs:
        for ev in events:
            proc.process(ev)
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, proc in enumerate(procs):
            t0 = time.perf_counter()
            for ev in events:
                proc.process(ev)
            best[i] = min(best[i], time.perf_counter() - t0)
    return best[0] / len(events) * 1e6, best[1] / len(events) * 1e6


def _one(tool: ModuleType, shared: Path, labels: dict[tuple[str, str], bool], sample: str,
         message: str, repeats: int) -> Result:
    template_of = _event_ids(shared, sample)
    truth = {i: labels[(sample, tid)] for i, tid in template_of.items()}
    events = _events(tool, shared, sample, message)
    records = _replayed(events)
    ours = {i: bool(r.get("fault_class")) for i, r in records.items()}
    base = {int(e["seq"]): _keyword(str(e["message"])) for e in events}
    sources: dict[str, int] = {}
    for r in records.values():
        if r.get("fault_class"):
            src = str(r.get("fault_source") or "catalogue")
            sources[src] = sources.get(src, 0) + 1
    lines, templates = _score(ours, truth, template_of)
    base_lines, base_templates = _score(base, truth, template_of)
    us, us_catalogue = _us_per_line(events, repeats)
    return Result(sample, message, lines, templates, base_lines, base_templates, sources, us,
                  us_catalogue)


def run(shared: Path = SHARED, repeats: int = 3) -> list[Result]:
    """Every sample in both message forms."""
    tool = _tool(shared)
    labels = load_labels()
    return [_one(tool, shared, labels, s, m, repeats) for m in MESSAGES for s in SAMPLES]


def _ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}" if b else "-"


def _pct(x: float) -> str:
    return f"{x:5.3f}"


def _rows(results: list[Result]) -> Iterator[str]:
    head = (f"{'sample':9} {'msg':7} {'faults':>6} | {'P':>5} {'R':>5} {'F1':>5} | "
            f"{'tP':>5} {'tR':>5} | {'kwP':>5} {'kwR':>5} {'kwF1':>5} | {'us/line':>7} "
            f"{'x':>5} | sources")
    yield head
    yield "-" * len(head)
    for message in MESSAGES:
        part = [r for r in results if r.message == message]
        for r in part:
            src = " ".join(f"{k}:{v}" for k, v in sorted(r.by_source.items()))
            yield (f"{r.sample:9} {r.message:7} {r.lines.tp + r.lines.fn:6d} | "
                   f"{_pct(r.lines.precision)} {_pct(r.lines.recall)} {_pct(r.lines.f1)} | "
                   f"{_pct(r.templates.precision)} {_pct(r.templates.recall)} | "
                   f"{_pct(r.base_lines.precision)} {_pct(r.base_lines.recall)} "
                   f"{_pct(r.base_lines.f1)} | {r.us_per_line:7.1f} "
                   f"{_ratio(r.us_per_line, r.us_per_line_catalogue):>5} | {src}")
        if not part:
            continue
        total = sum((r.lines for r in part), Counts(0, 0, 0))
        ttotal = sum((r.templates for r in part), Counts(0, 0, 0))
        base = sum((r.base_lines for r in part), Counts(0, 0, 0))
        us = sum(r.us_per_line for r in part) / len(part)
        us0 = sum(r.us_per_line_catalogue for r in part) / len(part)
        yield (f"{'all':9} {message:7} {total.tp + total.fn:6d} | {_pct(total.precision)} "
               f"{_pct(total.recall)} {_pct(total.f1)} | {_pct(ttotal.precision)} "
               f"{_pct(ttotal.recall)} | {_pct(base.precision)} {_pct(base.recall)} "
               f"{_pct(base.f1)} | {us:7.1f} {_ratio(us, us0):>5} |")


def table(results: list[Result]) -> str:
    """The printable table: per sample and message form, then the totals."""
    legend = ("P/R/F1: lines (fault_class set vs the hand labels); tP/tR: templates "
              "(flagged when half their lines are); kw: keyword baseline; x: us/line "
              "against the catalogue alone")
    return "\n".join([*_rows(results), legend])


def quality(shared: Path = SHARED) -> str:
    """The fault-line figures as a printable table (for `make quality`)."""
    if not available(shared):
        return f"fault lines: skipped (samples, tools or labels not found under {shared})"
    return "fault lines (loghub 2k samples, hand labels)\n" + table(run(shared, repeats=2))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared directory")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timing repeats, best kept (0: figures only)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    if not available(args.shared):
        print(f"fault-line benchmark skipped: samples, tools or labels not found under "
              f"{args.shared}")
        return 0
    results = run(args.shared, args.repeats)
    print(table(results))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
