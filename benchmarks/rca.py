"""Fault localisation benchmark: which service do the alerts and incidents point at?

The shared fault-injection data (../shared/data/rca/onlineboutique: a Kubernetes demo shop,
two days, 56 injected faults of five kinds, one-minute pod metrics) is converted with
../shared/tools/rca_to_events.py (cached in the temp directory), replayed through the
processing core (`streams.replay.replay_lines`, what `rackwatch replay --emit
alerts,incidents` runs) with deploy/rules/services.yaml, and scored with
../shared/tools/rca_score.py's rules, in process: per fault, is the injected service the
first (A@1) or among the first three (A@3) services the alerts, and the incidents' ranked
suspects, point at within five minutes; and how many firing alerts are away from faults.

Both days are replayed as one stream (day two continues day one's series, as a fleet
running on would), and reported per day. The correlator's service settings and the
anomaly rules' hold are also chosen out of sample: the grid's best on day one is reported
on day two, and the other way round. Beside: the shipped rules with one anomaly rule per
pod metric (the issue's starting point), and the published n-sigma and Nezha figures.

    python -m benchmarks.rca            # the table (about a minute and a half)
    python -m benchmarks.rca --quick    # the documented settings only

Without ../shared (a checkout on its own) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import importlib.util
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType

import yaml

from streams.incidents.config import CorrelatorConfig
from streams.replay import replay_lines
from streams.rules import DEFAULT_RULES_PATH, RuleSet, parse_rules

__all__ = ["PUBLISHED", "Score", "available", "main", "quality", "run"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data" / "rca" / "onlineboutique"
TOOLS = SHARED / "tools"
SERVICES = REPO / "deploy" / "rules" / "services.yaml"
# Published on these 56 faults (../shared/data/README.md): service-level A@1, A@3 in %.
PUBLISHED = {"n-sigma (largest deviation from the previous hour)": (39.3, 58.9),
             "Nezha (metrics, logs and traces)": (92.9, 96.4)}
# The grid of the out-of-sample choice: service_grace_ms x the anomaly rules' hold.
GRACE = (0, 60_000, 120_000)
HOLD = (2, 3, 5)


def load_tool(name: str) -> ModuleType:
    """A script of ../shared/tools as a module."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(TOOLS))  # the scorer imports the converter by name
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(TOOLS))
    return module


def available() -> bool:
    """Whether ../shared has the fault data, the converter and the scorer."""
    return all((TOOLS / f"{t}.py").is_file() for t in ("rca_to_events", "rca_score")) \
        and bool(days())


def days() -> list[Path]:
    return sorted(d for d in DATA.glob("*") if (d / "fault_list.json").is_file())


def _cache_dir() -> Path:
    """A temp directory keyed by the converter and the data, so a change of either
    converts again."""
    h = hashlib.sha256((TOOLS / "rca_to_events.py").read_bytes())
    for f in sorted(DATA.rglob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.relative_to(DATA)}:{st.st_size}:{int(st.st_mtime)}".encode())
    d = Path(tempfile.gettempdir()) / f"rackwatch-rca-{h.hexdigest()[:12]}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def events_file() -> Path:
    """Both days as rackwatch events (converted once, then cached)."""
    path = _cache_dir() / "events.jsonl"
    if not path.is_file():
        tmp = path.with_suffix(".part")
        with tmp.open("wb") as out:
            subprocess.run([sys.executable, str(TOOLS / "rca_to_events.py"),
                            *map(str, days())], stdout=out, check=True)
        tmp.replace(path)
    return path


@dataclass(frozen=True)
class Row:
    """One set of faults (a day, or all): counts and percentages."""

    faults: int
    detected: float
    culprit_alerted: float  # the injected service raised an alert in the window at all
    alert_a1: float
    alert_a3: float
    incident_a1: float
    incident_a3: float


@dataclass
class Score:
    """What the scorer says of one replay."""

    rows: dict[str, Row] = field(default_factory=dict)  # day name or "all"
    noise: int = 0  # firing alert messages away from any fault window
    noise_per_h: float = 0.0
    by_kind: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # n, culprit
    # alerted, alert A@1


def score(output: Path) -> Score:
    """rca_score.py's figures for one replay output (its own functions, in process)."""
    sc = load_tool("rca_score")
    with warnings.catch_warnings():  # the scorer leaves its file to the garbage collector
        warnings.simplefilter("ignore", ResourceWarning)
        alerts, incidents = sc.read(str(output))
    counts: dict[str, list[int]] = {}
    kinds: dict[str, list[int]] = {}
    spans = []
    for start, end, truth, kind, day in sc.windows(sc.faults(days())):
        spans.append((start, end))
        a, i = sc.ranking(alerts, start, end), sc.ranking(incidents, start, end)
        hit = [1, bool(a), truth in a, truth in a[:1], truth in a[:3], truth in i[:1],
               truth in i[:3]]
        counts[day] = [x + y for x, y in zip(counts.get(day, [0] * 7), hit, strict=True)]
        kinds[kind] = [x + y for x, y in zip(kinds.get(kind, [0] * 4), hit[:4], strict=True)]
    counts["all"] = [sum(c) for c in zip(*counts.values(), strict=True)]
    out = Score(by_kind={k: (v[0], v[2], v[3]) for k, v in kinds.items()})
    for name, c in counts.items():
        out.rows[name] = Row(c[0], *(round(100 * x / c[0], 1) for x in c[1:]))
    quiet = [t for t, _ in alerts if not any(s <= t <= e for s, e in spans)]
    hours = (alerts[-1][0] - alerts[0][0]) / 3_600_000 if len(alerts) > 1 else 0.0
    out.noise = len(quiet)
    out.noise_per_h = round(len(quiet) / hours, 1) if hours else 0.0
    return out


def services_rules(above: float | None = None, hold: int | None = None) -> RuleSet:
    """deploy/rules/services.yaml, with every anomaly rule's threshold or hold changed."""
    doc = yaml.safe_load(SERVICES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("kind") != "anomaly":
                continue
            if above is not None:
                rule["above"] = rule["clear"] = above
            if hold is not None:
                rule["params"] = {**rule.get("params", {}), "hold": hold}
    return parse_rules(yaml.safe_dump(doc, sort_keys=False), str(SERVICES))


def baseline_rules() -> RuleSet:
    """The issue's starting point: shipped rules + one anomaly rule per pod metric."""
    out = subprocess.run([sys.executable, str(TOOLS / "rca_rules.py"), str(DEFAULT_RULES_PATH)],
                         capture_output=True, text=True, check=True).stdout
    return parse_rules(out, "rca_rules.py")


def given_graph() -> dict[str, tuple[str, ...]]:
    """The data's own call graph (metric/dependency.csv: Source, Target), as an operator
    would give one in a file (streams.incidents.callgraph.load_call_graph's form)."""
    graph: dict[str, set[str]] = {}
    for day in days():
        path = day / "metric" / "dependency.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt", newline="") as fh:
                for row in csv.DictReader(fh):
                    if row.get("Source") and row.get("Target") and row["Source"] != row["Target"]:
                        graph.setdefault(row["Source"], set()).add(row["Target"])
    return {k: tuple(sorted(v)) for k, v in sorted(graph.items())}


def run(rules: RuleSet, config: CorrelatorConfig | None = None, name: str = "run") -> Score:
    """Replay both days with these rules and correlator settings, and score it."""
    out = _cache_dir() / f"{name}.jsonl"
    with events_file().open("rb") as src, out.open("wb") as dst:
        for line in replay_lines(src, rules, {"alerts", "incidents"}, correlator=config):
            dst.write(line + b"\n")
    return score(out)


@dataclass
class Result:
    """The documented settings, the out-of-sample choices and the baseline."""

    documented: Score
    grid: dict[tuple[int, int], Score] = field(default_factory=dict)  # (grace, hold)
    chosen: dict[str, tuple[int, int]] = field(default_factory=dict)  # by day: choice
    baseline: Score | None = None
    with_graph: Score | None = None  # documented settings, the data's call graph given
    seconds: float = 0.0


def _key(s: Score, day: str) -> tuple[float, float, int]:
    """Better first incidents, then fewer alerts away from faults."""
    r = s.rows[day]
    return (r.incident_a1, r.incident_a3, -s.noise)


def evaluate(quick: bool = False, log: Callable[[str], None] | None = None) -> Result:
    """Everything the table shows."""
    t0 = time.perf_counter()
    say = log or (lambda _: None)
    res = Result(documented=run(services_rules(), CorrelatorConfig(), "documented"))
    say("documented settings done")
    if not quick:
        for grace in GRACE:
            for hold in HOLD:
                cfg = replace(CorrelatorConfig(), service_grace_ms=grace)
                res.grid[(grace, hold)] = run(services_rules(hold=hold), cfg,
                                              f"g{grace}-h{hold}")
                say(f"grid grace={grace} hold={hold} done")
        names = [d.name for d in days()]
        for day in names:
            # ties go to the shorter grace (incidents out sooner), then the longer hold
            # (fewer episodes of one event)
            res.chosen[day] = max(res.grid, key=lambda k: (_key(res.grid[k], day), -k[0],
                                                           k[1]))
        res.baseline = run(baseline_rules(), CorrelatorConfig(), "baseline")
        res.with_graph = run(services_rules(), CorrelatorConfig(call_graph=given_graph()),
                             "given-graph")
    res.seconds = time.perf_counter() - t0
    return res


def _cells(r: Row, s: Score | None = None) -> str:
    noise = f" {s.noise} ({s.noise_per_h}/h) |" if s is not None else " |"
    return (f" {r.detected} | {r.culprit_alerted} | {r.alert_a1} | {r.alert_a3} |"
            f" {r.incident_a1} | {r.incident_a3} |{noise}")


def _lines(res: Result) -> Iterator[str]:
    names = [d.name for d in days()]
    doc = res.documented
    yield ("| run | faults | detected % | culprit alerted | alert A@1 | alert A@3 | "
           "first incident A@1 | A@3 | alerts away from faults |")
    yield "|---|---|---|---|---|---|---|---|---|"
    yield f"| rackwatch, services.yaml, both days | {doc.rows['all'].faults} |" + \
        _cells(doc.rows["all"], doc)
    for day in names:
        yield f"| rackwatch, {day} | {doc.rows[day].faults} |" + _cells(doc.rows[day])
    for chosen_on, (grace, hold) in sorted(res.chosen.items()):
        for day in names:
            if day != chosen_on:
                s = res.grid[(grace, hold)]
                yield (f"| chosen on {chosen_on} (grace {grace // 1000} s, hold {hold}), "
                       f"scored on {day} | {s.rows[day].faults} |" + _cells(s.rows[day]))
    if res.with_graph is not None:
        g = res.with_graph
        yield (f"| rackwatch, the data's call graph given, both days | {g.rows['all'].faults} |"
               + _cells(g.rows["all"], g))
    if res.baseline is not None:
        b = res.baseline
        yield (f"| shipped rules + an anomaly rule per pod metric, both days | "
               f"{b.rows['all'].faults} |" + _cells(b.rows["all"], b))
    for name, (a1, a3) in PUBLISHED.items():
        yield f"| {name}, published | 56 | - | - | {a1} | {a3} | - | - | - |"


def report(res: Result) -> str:
    kinds = ", ".join(f"{k} {v[2]}/{v[1]}/{v[0]}"
                      for k, v in sorted(res.documented.by_kind.items()))
    return "\n".join(["RCA: fault localisation on OnlineBoutique (Nezha's data, 56 faults)",
                      *_lines(res),
                      "documented settings by fault kind, alert A@1 / culprit alerted / "
                      f"faults: {kinds}",
                      f"({res.seconds:.0f} s)"])


def quality() -> str:
    """The RCA table for `make quality` (about a minute and a half)."""
    if not available():
        return f"RCA: skipped (the fault data and scorer are not there: {SHARED} is absent)"
    return report(evaluate())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the documented settings only")
    args = ap.parse_args(argv)
    if not available():
        print(f"skipped: the fault data and scorer are not there ({SHARED} is absent)")
        return 0
    res = evaluate(quick=args.quick, log=lambda m: print(m, file=sys.stderr))
    print(report(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
