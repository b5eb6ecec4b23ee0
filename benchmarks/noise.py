"""False alarms of the shipped anomaly rules where nothing is wrong.

Two sources with no labels to tune to:

- the fleet simulator (`producers.simulator`), every series the shipped anomaly rules
  watch (cpu.usage, gpu.temperature, gpu.power_watts), fault-free stretches only: each
  injected fault's hosts, and every host of a training job one of them runs (a stalled
  job idles all its ranks), are left out from a minute before the fault to 15 minutes
  after it. Several seeds, fleet sizes and lengths; fleets start with fresh series, as
  after a first deployment, so the first hour is reported apart;
- pure noise: fresh Gaussian, Laplace and log-normal series, by age (the start-up
  period of the first 512 samples, samples 512-4096, then a full horizon).

The figure is alarms (new firing episodes) per 1,000 series-hours at the fleet's 10-s
interval, through each rule's episode logic (fires above `above`, resolves at or below
`clear`, as the engine does), on the detector's scores. The largest burst is the most
alarms that started in the same interval across the fleet (one checkpoint, one job);
the worst series is the one with the most alarms.

    python -m benchmarks.noise            # the tables (a few minutes)
    python -m benchmarks.noise --quick    # the 40-minute fleets and shorter noise
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from schemas.events import MetricBatch
from streams.anomaly import AnomalyParams, new_state, update
from streams.rules import default_rules
from streams.rules.model import AnomalyCond

__all__ = ["NOISE", "FleetRun", "episode_starts", "fleet_alarms", "main", "noise_alarms",
           "quality", "shipped_rules"]

START_MS = 1_700_000_000_000
INTERVAL_MS = 10_000
SETTLE_MS = 15 * 60_000  # a fault's effects may outlast its end (a reboot, a restart)
# (hosts, seed, batches, faults): the fleet first, then others, none tuned to
FLEETS = ((50, 7, 240, "all"), (50, 5, 240, "all"), (100, 4, 240, "all"),
          (50, 1, 1080, "none"), (50, 2, 1080, "all"), (20, 3, 1080, "all"))
BANDS = ((0, 512), (512, 4096), (4096, 20_000))


@dataclass(frozen=True)
class Rule:
    """What the benchmark needs of a shipped anomaly rule."""

    alert: str
    metric: str
    above: float
    clear: float
    params: AnomalyParams


def shipped_rules() -> list[Rule]:
    """The anomaly rules of streams/rules/default_rules.yaml."""
    out = []
    for r in default_rules().rules:
        cond = r.condition
        if isinstance(cond, AnomalyCond):
            params: dict[str, Any] = dict(cond.params)
            out.append(Rule(r.alert, cond.selector.name, cond.compare.fire, cond.compare.clear,
                            AnomalyParams(**params)))
    return out


def episode_starts(scores: Iterable[float], above: float, clear: float) -> list[int]:
    """Indexes where a rule with these thresholds starts firing."""
    out, firing = [], False
    for i, s in enumerate(scores):
        if not firing and s > above:
            out.append(i)
            firing = True
        elif firing and s <= clear:
            firing = False
    return out


# ------------------------------------------------------------------ the fleet
@dataclass
class FleetRun:
    """Alarms on one simulated fleet's fault-free stretches."""

    hosts: int
    seed: int
    batches: int
    faults: str
    series: int = 0
    hours: float = 0.0  # fault-free series-hours
    first_hour: int = 0  # alarms in the fleet's first hour
    later: int = 0
    burst: int = 0  # most alarms starting in the same interval
    worst: int = 0  # most alarms on one series
    per_rule: Counter[str] | None = None

    @property
    def alarms(self) -> int:
        return self.first_hour + self.later

    @property
    def rate(self) -> float:
        return 1000.0 * self.alarms / self.hours if self.hours else 0.0


def _fleet_series(hosts: int, seed: int, batches: int, faults: str, metrics: set[str]
                  ) -> tuple[dict[tuple[str, str, str], tuple[list[int], list[float]]],
                             dict[str, list[tuple[int, int]]]]:
    """The watched series of a simulated fleet, and each host's fault windows."""
    from producers.simulator import Fleet, SimOptions

    fleet = Fleet(SimOptions(hosts=hosts, seed=seed, faults=faults, batches=batches,
                             start_ms=START_MS, background_logs=False))
    series: dict[tuple[str, str, str], tuple[list[int], list[float]]] = defaultdict(
        lambda: ([], []))
    for ev in fleet.events():
        if ev["schema"] != "rackwatch.metrics/v1":
            continue
        batch = cast(MetricBatch, ev)
        for s in batch["samples"]:
            if s["name"] in metrics:
                labels = s.get("labels") or {}
                ts, xs = series[(batch["host"], s["name"], ",".join(sorted(labels.values())))]
                ts.append(batch["ts"])
                xs.append(s["value"])
    topo = fleet.topology
    windows: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for fault in fleet.manifest():
        hit = set(fault["hosts"])
        for h in fault["hosts"]:
            job = topo.jobs.get(topo.job_of.get(h, ""))
            hit.update(job.hosts if job else ())
        for h in hit:
            windows[h].append((fault["start_ms"] - 60_000, fault["end_ms"] + SETTLE_MS))
    return dict(series), windows


def fleet_alarms(hosts: int, seed: int, batches: int, faults: str,
                 rules: list[Rule] | None = None) -> FleetRun:
    """Run the shipped anomaly rules over a simulated fleet's fault-free stretches."""
    rules = rules if rules is not None else shipped_rules()
    by_metric = {r.metric: r for r in rules}
    series, windows = _fleet_series(hosts, seed, batches, faults, set(by_metric))
    run = FleetRun(hosts, seed, batches, faults, per_rule=Counter())
    starts: Counter[int] = Counter()
    for (host, metric, _), (ts, xs) in series.items():
        rule = by_metric[metric]
        state = new_state(rule.params)
        scores = [update(state, t, x, rule.params) for t, x in zip(ts, xs, strict=True)]
        clean = [not any(a <= t <= b for a, b in windows.get(host, ())) for t in ts]
        run.series += 1
        run.hours += sum(clean) * INTERVAL_MS / 3.6e6
        alarms = [i for i in episode_starts(scores, rule.above, rule.clear) if clean[i]]
        run.worst = max(run.worst, len(alarms))
        for i in alarms:
            if ts[i] - START_MS < 3_600_000:
                run.first_hour += 1
            else:
                run.later += 1
            run.per_rule[rule.alert] += 1  # type: ignore[index]
            starts[(ts[i] - START_MS) // INTERVAL_MS] += 1
    run.burst = max(starts.values(), default=0)
    return run


# ------------------------------------------------------------------ pure noise
def _laplace(rng: random.Random) -> float:
    return rng.expovariate(1.0) - rng.expovariate(1.0)


NOISE: dict[str, Callable[[random.Random], float]] = {
    "Gaussian": lambda rng: rng.gauss(0.0, 1.0),
    "Laplace": _laplace,
    "log-normal": lambda rng: math.exp(rng.gauss(0.0, 1.0)),
}


def noise_alarms(draw: Callable[[random.Random], float], series: int, samples: int,
                 params: AnomalyParams | None = None, above: float = 0.5,
                 clear: float = 0.3, seed: int = 0) -> list[float]:
    """Alarms per 1,000 series-hours (10-s samples) of fresh noise series, per age band."""
    counts = [0] * len(BANDS)
    for k in range(series):
        rng = random.Random(f"{seed}:{k}")
        state = new_state(params)
        scores = [update(state, START_MS + i * INTERVAL_MS, draw(rng), params)
                  for i in range(samples)]
        for i in episode_starts(scores, above, clear):
            counts[next(b for b, (lo, hi) in enumerate(BANDS) if lo <= i < hi)] += 1
    hours = [series * max(0, min(hi, samples) - lo) * INTERVAL_MS / 3.6e6 for lo, hi in BANDS]
    return [1000.0 * c / h if h else math.nan for c, h in zip(counts, hours, strict=True)]


# ------------------------------------------------------------------ report
def report(quick: bool = False, log: Callable[[str], None] = lambda s: None) -> str:
    """The printable tables."""
    rules = shipped_rules()
    lines = ["shipped anomaly rules: " + ", ".join(f"{r.alert} ({r.metric}, above {r.above:g})"
                                                   for r in rules), "",
             "fleet simulator, fault-free stretches, fresh series at the start:",
             f"  {'hosts':>5} {'seed':>4} {'hours':>5} {'faults':5} {'series-h':>9} "
             f"{'alarms 1st h':>12} {'later':>6} {'burst':>5} {'worst':>5} "
             f"{'per 1000 series-h':>18}"]
    total = FleetRun(0, 0, 0, "")
    for hosts, seed, batches, faults in FLEETS:
        if quick and batches > 240:
            continue
        r = fleet_alarms(hosts, seed, batches, faults, rules)
        log(f"fleet {hosts} hosts seed {seed}: {r.alarms} alarms")
        lines.append(f"  {hosts:5d} {seed:4d} {batches * INTERVAL_MS / 3.6e6:5.2f} {faults:5} "
                     f"{r.hours:9.0f} {r.first_hour:12d} {r.later:6d} {r.burst:5d} "
                     f"{r.worst:5d} {r.rate:18.0f}")
        total.hours += r.hours
        total.first_hour += r.first_hour
        total.later += r.later
    lines.append(f"  {'all':>5} {'':4} {'':5} {'':5} {total.hours:9.0f} {total.first_hour:12d} "
                 f"{total.later:6d} {'':5} {'':5} {total.rate:18.0f}")
    samples, series = (4096, 40) if quick else (20_000, 20)
    lines += ["", f"pure noise, {series} fresh series of {samples} samples, above 0.5 clear 0.3,"
              " alarms per 1000 series-hours at 10 s, by age in samples:",
              "  " + f"{'':12}" + "".join(f"{f'{lo}-{hi}':>12}" for lo, hi in BANDS)]
    for name, draw in NOISE.items():
        rates = noise_alarms(draw, series, samples)
        lines.append(f"  {name:12}" + "".join(f"{r:12.0f}" for r in rates))
    return "\n".join(lines)


def quality() -> str:
    """The noise tables, quick form (for the quality report)."""
    return report(quick=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="40-minute fleets, shorter noise")
    args = ap.parse_args(argv)
    print(report(args.quick, log=print))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
