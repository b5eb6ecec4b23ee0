"""NAB benchmark of the documented anomaly rule, through the rule engine, scored by NAB's rules.

The rule is the `NabValueAnomaly` YAML block of docs/anomaly.md, read from the doc so
that the two cannot drift. Every labelled NAB file under ../shared/data/nab becomes
rackwatch metric events (../shared/tools/nab_to_events.py), the events go through the
replay core with that rule (`streams.replay.replay_lines`, what `rackwatch replay`
runs), and the alert/v1 lines it emits are scored by ../shared/tools/nab_score.py
(its functions, in process: one detection per new firing episode).

Thresholds are chosen out of sample: for each category, the `above` that scores best on
the other five categories (a grid, scored on the detector's scores with the rule's
episode logic, `emulated_alerts`, which a unit test holds identical to the engine's
alerts on the NAB data) is applied to that category through the engine. The headline is
the normalised score of those held-out results (leave one category out, LOCO), per NAB
profile; beside it, the documented rule (above 0.5) on all files.

    python -m benchmarks.nab                       # the quality table (about a minute)
    python -m benchmarks.nab --param seasonal=false --quick   # an ablation, grid only
    python -m benchmarks.nab --above 0.6 --out nab-alerts   # one threshold, files kept

Without ../shared (a checkout on its own) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import yaml

from schemas.ids import ALERT
from streams.anomaly import AnomalyParams, new_state, update
from streams.replay import replay_lines
from streams.rules import RuleSet, parse_rules
from streams.rules.model import AnomalyCond

__all__ = ["PUBLISHED", "AnomalyParams", "Corpus", "emulated_alerts", "engine_alerts", "main",
           "quality"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
NAB = SHARED / "data" / "nab"
TOOLS = SHARED / "tools"
DOC = REPO / "docs" / "anomaly.md"
RULE = "NabValueAnomaly"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
GRID = tuple(round(0.30 + 0.025 * i, 3) for i in range(17))  # 0.30 .. 0.70
# Published detectors on exactly these 41 files, NAB standard profile (../shared/data/README.md)
PUBLISHED = {"ARTime": 76.73, "Numenta HTM": 68.94, "relative entropy": 56.25,
             "Random Cut Forest": 49.68, "windowed Gaussian": 42.58}


def load_tool(name: str) -> ModuleType:
    """A script of ../shared/tools as a module."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def available() -> bool:
    """Whether ../shared has the NAB data and the scorer."""
    labels = NAB / "labels" / "combined_windows.json"
    return (TOOLS / "nab_score.py").is_file() and labels.is_file()


# ----------------------------------------------------------------- the rule
def documented_rule(doc: Path = DOC) -> dict[str, Any]:
    """The rules file of the doc's ```yaml block that defines NabValueAnomaly."""
    for block in re.findall(r"```yaml\n(.*?)```", doc.read_text(), flags=re.S):
        if f"alert: {RULE}" in block:
            loaded: dict[str, Any] = yaml.safe_load(block)
            return loaded
    raise LookupError(f"no yaml block with alert: {RULE} in {doc}")


def rule_set(doc_rule: dict[str, Any], above: float | None = None,
             params: dict[str, Any] | None = None) -> RuleSet:
    """The documented rule, with another `above` (clear moves with it) or extra params."""
    spec = json.loads(json.dumps(doc_rule))
    rule = next(r for g in spec["groups"] for r in g["rules"] if r.get("alert") == RULE)
    if above is not None:
        gap = float(rule["above"]) - float(rule.get("clear", rule["above"]))
        rule["above"], rule["clear"] = above, round(above - gap, 6)
    if params:
        rule["params"] = {**rule.get("params", {}), **params}
    return parse_rules(yaml.safe_dump(spec))


def rule_of(rules: RuleSet) -> tuple[float, float, int, AnomalyParams]:
    """above, clear, stale_after (ms) and detector parameters of the NAB rule."""
    rule = next(r for r in rules.rules if r.alert == RULE)
    cond = rule.condition
    assert isinstance(cond, AnomalyCond)
    params: dict[str, Any] = dict(cond.params)
    return cond.compare.fire, cond.compare.clear, rule.stale_ms, AnomalyParams(**params)


# ----------------------------------------------------------------- the data
@dataclass
class Corpus:
    """The NAB files as events, and as (time, value) series."""

    names: list[str]
    events: dict[str, list[bytes]]
    series: dict[str, tuple[list[int], list[float]]]

    @classmethod
    def load(cls, nab: Path = NAB) -> Corpus:
        to_events = load_tool("nab_to_events")
        labels = json.loads((nab / "labels" / "combined_windows.json").read_text())
        names = sorted(n for n in labels if (nab / "data" / n).is_file())
        events, series = {}, {}
        for name in names:
            evs = list(to_events.events(nab / "data" / name))
            events[name] = [orjson.dumps(e) for e in evs]
            series[name] = ([e["ts"] for e in evs], [e["samples"][0]["value"] for e in evs])
        return cls(names, events, series)

    @staticmethod
    def category(name: str) -> str:
        return name.split("/", 1)[0]

    def categories(self) -> list[str]:
        return sorted({self.category(n) for n in self.names})


# ------------------------------------------------------------ alerts, two ways
def engine_alerts(lines: list[bytes], rules: RuleSet) -> list[dict[str, Any]]:
    """The alert/v1 messages the replay core emits for these events."""
    return [orjson.loads(line) for line in replay_lines(lines, rules, {"alerts"})]


def detector_scores(ts: list[int], xs: list[float], params: AnomalyParams
                    ) -> list[float | None]:
    """The detector's score of every sample, as the engine computes it for the rule.

    Like the engine, a sample older than the latest one is not scored (None): NAB's
    machine_temperature file repeats an hour (a clock change), and the detector only
    moves forward in time.
    """
    state = new_state(params)
    out: list[float | None] = []
    latest = None
    for t, x in zip(ts, xs, strict=True):
        if latest is not None and t < latest:
            out.append(None)
            continue
        latest = t
        out.append(update(state, t, x, params))
    return out


def emulated_alerts(host: str, ts: Sequence[int], scores: Sequence[float | None], above: float,
                    clear: float, stale_ms: int) -> list[dict[str, Any]]:
    """Firing/resolved messages of the rule's episodes, without the engine.

    The rule has no `for` and no `keep_firing_for`: it fires at the first score above
    `above`, holds while the score is above `clear`, resolves at the first sample that
    is not, or at the last sample + stale_after when the next one is later than that.
    Samples without a score (late ones) are not seen by the rule.
    """
    out: list[dict[str, Any]] = []
    firing, last, started = False, 0, 0
    for t, s in zip(ts, scores, strict=True):
        if s is None:
            continue
        if firing and t - last > stale_ms:
            out.append(_message(host, "resolved", started, last + stale_ms))
            firing = False
        if firing:
            last = t
            if s <= clear:
                out.append(_message(host, "resolved", started, t))
                firing = False
        elif s > above:
            firing, last, started = True, t, t
            out.append(_message(host, "firing", t, None))
    return out


def _message(host: str, status: str, start: int, end: int | None) -> dict[str, Any]:
    return {"schema": ALERT, "rule": RULE, "fingerprint": f"{RULE}/{host}", "host": host,
            "status": status, "starts_at": _rfc3339(start),
            "updated_at": _rfc3339(start if end is None else end),
            "ends_at": None if end is None else _rfc3339(end)}


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{ms % 1000:03d}Z"


def episodes(messages: Iterable[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(started, resolved) per firing episode, as the scorer reads them (re-sends merged)."""
    out: list[tuple[str, str | None]] = []
    open_start: str | None = None
    for m in messages:
        if m.get("schema") != ALERT or m.get("rule") != RULE:
            continue
        if m["status"] == "firing" and open_start != m["starts_at"]:
            open_start = m["starts_at"]
            out.append((open_start, None))
        elif m["status"] == "resolved" and open_start is not None:
            out[-1] = (open_start, m["ends_at"])
            open_start = None
    return out


# ------------------------------------------------------------------ scoring
class Scorer:
    """nab_score.py's rules over alert messages, per file and profile."""

    def __init__(self, names: list[str], nab: Path = NAB) -> None:
        self.tool = load_tool("nab_score")
        tree = self.tool.Tree(nab)
        self.corpus = self.tool.load_corpus(tree, names)
        self.profiles = {p.name: p for p in self.tool.pick_profiles(tree, "all")}

    def files(self, alerts: dict[str, list[dict[str, Any]]], profile: str) -> dict[str, Any]:
        """FileScore per file for these alert messages."""
        out = {}
        for name, msgs in alerts.items():
            times, _ = self.tool.alert_detections(msgs, self.tool.host_for(name), {RULE})
            rows, _ = self.corpus[name].rows_at(times)
            out[name] = self.tool.score_series(self.corpus[name], rows, self.profiles[profile])
        return out

    def normalised(self, rows: Iterable[Any]) -> float:
        return float(self.tool.normalised(list(rows)))


def loco_choice(per: dict[float, dict[str, Any]], names: list[str], scorer: Scorer,
                default: float) -> dict[str, float]:
    """For each category, the grid threshold best on the other categories' files."""
    chosen = {}
    for cat in sorted({Corpus.category(n) for n in names}):
        others = [n for n in names if Corpus.category(n) != cat]
        chosen[cat] = max(per, key=lambda thr: (scorer.normalised(per[thr][n] for n in others),
                                                -abs(thr - default)))
    return chosen


# ------------------------------------------------------------------- report
@dataclass
class Result:
    """What `evaluate` measured."""

    grid: dict[str, dict[float, float]]  # profile -> above -> normalised, all files (emulated)
    chosen: dict[str, dict[str, float]]  # profile -> category -> above chosen on the others
    loco: dict[str, float]  # profile -> held-out normalised (engine)
    documented: dict[str, float]  # profile -> normalised at the documented above (engine)
    per_category: dict[str, tuple[float, int, int, int]]  # raw, detected, windows, FP (doc rule)
    above: float
    us_per_sample: float
    samples: int
    seconds: float


def evaluate(params: dict[str, Any] | None = None, engine: bool = True,
             out: Path | None = None, above: float | None = None,
             log: Callable[[str], None] = lambda s: None) -> Result:
    """Grid (emulated), leave-one-category-out choice, and the engine's alerts at the choices."""
    start = time.perf_counter()
    doc_rule = documented_rule()
    rules = rule_set(doc_rule, above, params)
    doc_above, doc_clear, stale_ms, det = rule_of(rules)
    corpus = Corpus.load()
    scorer = Scorer(corpus.names)
    t0 = time.perf_counter()
    scores = {n: detector_scores(*corpus.series[n], det) for n in corpus.names}
    elapsed = time.perf_counter() - t0
    samples = sum(len(s) for s in scores.values())
    log(f"detector: {samples} samples, {1e6 * elapsed / samples:.2f} us/sample")
    gap = doc_above - doc_clear

    def emulated(thr: float) -> dict[str, list[dict[str, Any]]]:
        return {n: emulated_alerts(f"nab-{Path(n).stem}", corpus.series[n][0], scores[n], thr,
                                   thr - gap, stale_ms) for n in corpus.names}

    per: dict[str, dict[float, dict[str, Any]]] = {prof: {} for prof in PROFILES}
    for thr in GRID:
        alerts = emulated(thr)
        for prof in PROFILES:
            per[prof][thr] = scorer.files(alerts, prof)
    chosen = {prof: loco_choice(per[prof], corpus.names, scorer, doc_above) for prof in PROFILES}
    cache: dict[float, dict[str, list[dict[str, Any]]]] = {}

    def alerts_at(thr: float, names: list[str]) -> dict[str, list[dict[str, Any]]]:
        got = cache.setdefault(thr, {})
        for n in names:
            if n not in got:
                got[n] = (engine_alerts(corpus.events[n], rule_set(doc_rule, thr, params))
                          if engine else emulated(thr)[n])
        return {n: got[n] for n in names}

    documented_alerts = alerts_at(doc_above, corpus.names)
    loco, documented = {}, {}
    for prof in PROFILES:
        held: dict[str, Any] = {}
        for cat, thr in chosen[prof].items():
            names = [n for n in corpus.names if Corpus.category(n) == cat]
            held.update(scorer.files(alerts_at(thr, names), prof))
        loco[prof] = scorer.normalised(held.values())
        documented[prof] = scorer.normalised(scorer.files(documented_alerts, prof).values())
    std = scorer.files(documented_alerts, "standard")
    per_category = {}
    for cat in corpus.categories():
        rows = [r for n, r in std.items() if Corpus.category(n) == cat]
        per_category[cat] = (sum(r.score for r in rows), sum(r.windows_detected for r in rows),
                             sum(r.windows for r in rows), sum(r.fp_detections for r in rows))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for n, msgs in documented_alerts.items():
            (out / f"{Path(n).stem}.jsonl").write_bytes(b"".join(orjson.dumps(m) + b"\n"
                                                                 for m in msgs))
    grid = {prof: {thr: scorer.normalised(per[prof][thr].values()) for thr in GRID}
            for prof in PROFILES}
    return Result(grid, chosen, loco, documented, per_category, doc_above,
                  1e6 * elapsed / samples, samples, time.perf_counter() - start)


def report(r: Result, engine: bool = True) -> str:
    """The printable quality table."""
    how = "rule engine" if engine else "emulated rule"
    lines = [f"NAB, 41 files, 6 categories ({how}; {r.samples} samples, "
             f"detector {r.us_per_sample:.2f} us/sample, {r.seconds:.0f} s)", "",
             f"documented rule (above {r.above}), standard profile, per category:",
             f"  {'category':24} {'raw':>7} {'windows':>9} {'FP':>4}"]
    for cat, (raw, det, win, fp) in r.per_category.items():
        lines.append(f"  {cat:24} {raw:7.2f} {det:4d}/{win:<4d} {fp:4d}")
    total = sum(v[0] for v in r.per_category.values())
    det = sum(v[1] for v in r.per_category.values())
    win = sum(v[2] for v in r.per_category.values())
    fp = sum(v[3] for v in r.per_category.values())
    lines.append(f"  {'total':24} {total:7.2f} {det:4d}/{win:<4d} {fp:4d}"
                 f"   -> normalised {r.documented['standard']:.2f}")
    lines += ["", f"  {'profile':20} {'LOCO (headline)':>16} {'all files, above 0.5':>21}"
              f"   thresholds chosen out of sample"]
    for prof in PROFILES:
        picks = sorted(set(r.chosen[prof].values()))
        lines.append(f"  {prof:20} {r.loco[prof]:16.2f} {r.documented[prof]:21.2f}   "
                     + ", ".join(f"{t:g}" for t in picks))
    best = max(r.grid["standard"], key=lambda t: r.grid["standard"][t])
    lines += [f"  (in sample, best grid threshold on all files: standard "
              f"{r.grid['standard'][best]:.2f} at {best:g})", "",
              "published detectors on these 41 files (standard, thresholds tuned on NAB):",
              "  " + ", ".join(f"{k} {v:.2f}" for k, v in PUBLISHED.items())]
    return "\n".join(lines)


def quality() -> str:
    """The NAB quality table for `make quality` (about a minute; engine alerts)."""
    if not available():
        return f"NAB: skipped (the NAB data and scorer are not there: {SHARED} is absent)"
    return report(evaluate())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="an AnomalyParams field for the rule (repeatable), e.g. hold=0")
    ap.add_argument("--above", type=float, help="score this `above` instead of the doc's")
    ap.add_argument("--quick", action="store_true",
                    help="emulated alerts only (seconds; for ablations and grids)")
    ap.add_argument("--out", type=Path, help="keep the documented rule's alert files here")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args(argv)
    if not available():
        print(f"skipped: the NAB data and scorer are not there ({SHARED} is absent)")
        return 0
    params = {k: yaml.safe_load(v) for k, v in (p.split("=", 1) for p in args.param)}
    r = evaluate(params or None, engine=not args.quick, out=args.out, above=args.above,
                 log=print)
    print(report(r, engine=not args.quick))
    if args.json:
        print(json.dumps({"loco": r.loco, "documented": r.documented,
                          "per_category": r.per_category, "us_per_sample": r.us_per_sample,
                          "chosen": r.chosen}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
