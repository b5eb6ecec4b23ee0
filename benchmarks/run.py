"""`make bench`: every figure of the performance suite, each with its baseline and ratio.

Runs each benchmark module in its own process (so one's memory and threads do not
colour another's figures), collects their JSON, and prints one table: the figure, the
baseline measured in the same run, the ratio, the target, and the spread of the
repeats (a spread over 25 % is flagged: do not trust that ratio).

    python -m benchmarks.run [--quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

WIDE = 0.25


def _run(module: str, *args: str, timeout: float = 900) -> dict[str, Any]:
    """Run `python -m module args`; its last stdout line that parses as JSON is the result."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    print(f"  {module} {' '.join(args)}: {time.monotonic() - t0:.0f}s", file=sys.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    text = proc.stdout.strip()
    try:
        parsed: dict[str, Any] = json.loads(text)
        return parsed
    except json.JSONDecodeError:
        pass
    for line in reversed(text.splitlines()):
        try:
            parsed = json.loads(line)
            return parsed
        except json.JSONDecodeError:
            continue
    raise RuntimeError(f"{module} printed no JSON result:\n{text[-2000:]}")


def _spread(xs: list[float]) -> float:
    med = statistics.median(xs)
    return (max(xs) - min(xs)) / med if med else 0.0


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str]] = []

    def add(self, name: str, figure: str, baseline: str, ratio: str, target: str,
            spread: float | None, met: bool | None) -> None:
        flag = "" if spread is None else f"{spread:.0%}" + (" WIDE" if spread > WIDE else "")
        verdict = "" if met is None else ("met" if met else "MISSED")
        self.rows.append((name, figure, baseline, ratio, f"{target} {verdict}".strip(), flag))

    def render(self) -> str:
        head = ("figure", "value", "baseline (same run)", "ratio", "target", "spread")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(6)]
        line = "  ".join("{:<" + str(w) + "}" for w in widths)
        out = [line.format(*head), line.format(*("-" * w for w in widths))]
        out += [line.format(*r) for r in self.rows]
        return "\n".join(out)


COST_ROWS = (
    ("broker", "broker (the pipeline's traffic, input taken apart)"),
    ("broker_input", "broker: taking in the input (produce)"),
    ("worker", "worker"),
    ("sink", "sink, whole process"),
    ("sink_loop", "  sink event loop (Kafka, batching, commits)"),
    ("sink_writer", "  sink writer (columns, journal; outside store calls)"),
    ("store", "  embedded store (engine threads + store calls)"),
    ("plain_consumer", "baseline: plain consumer (getmany + orjson)"),
    ("broker_plain_consumer", "baseline: broker serving that consumer"),
)


def cost_table(pipe: dict[str, Any]) -> str:
    """CPU-seconds per million samples, per process, median of the R1 repeats, with the
    plain columnar insert of the same samples beside them."""
    r1 = pipe["r1"]
    lines = ["cost (R1): CPU-seconds per million samples, median of the repeats [min..max]"]
    for key, label in COST_ROWS:
        xs = [x["cpu_s_per_m"][key] for x in r1 if key in x.get("cpu_s_per_m", {})]
        if xs:
            lines.append(f"  {label:<55} {statistics.median(xs):6.2f}  "
                         f"[{min(xs):.2f}..{max(xs):.2f}]")
    base = pipe.get("insert_baseline") or []
    for key, label in (("plain_cpu_s_per_m", "baseline: plain columnar insert (no views)"),
                       ("rollups_cpu_s_per_m", "reference: columnar insert into metrics "
                                               "+ rollups")):
        xs = [b[key] for b in base]
        if xs:
            lines.append(f"  {label:<55} {statistics.median(xs):6.2f}  "
                         f"[{min(xs):.2f}..{max(xs):.2f}]")
    idle = [x["idle_cpu_per_s"] for x in r1 if "idle_cpu_per_s" in x]
    if idle:
        lines.append("  idle (nothing to do), CPU-seconds per second: " + ", ".join(
            f"{k} {statistics.median(i[k] for i in idle):.3f}" for k in idle[0]))
    return "\n".join(lines)


def _ratios(num: list[float], den: list[float]) -> list[float]:
    return [a / b for a, b in zip(num, den, strict=False) if b]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    ap.add_argument("--json", help="also write every raw result here")
    ap.add_argument("--skip", default="", help="comma-separated: core,sink,agent,pipeline")
    args = ap.parse_args(argv)
    skip = set(args.skip.split(",")) - {""}
    repeats = "1" if args.quick else "3"
    raw: dict[str, Any] = {}
    t = Table()
    t0 = time.monotonic()

    if "core" not in skip:
        core = raw["core"] = _run("benchmarks.core", "--json", "--repeats", repeats)
        ratios = core["ratios"]
        t.add("R3 core (replay path)", f"{statistics.median(core['core_sps']):,.0f} samples/s",
              f"{statistics.median(core['baseline_sps']):,.0f} samples/s (1 EWMA/sample)",
              f"{statistics.median(ratios):.2f}", ">= 0.3", _spread(ratios),
              statistics.median(ratios) >= 0.3)

    if "sink" not in skip:
        sink = raw["sink"] = _run("benchmarks.sink", "--repeats", repeats, "--rows",
                                  "100000" if args.quick else "200000")
        rc = sink["sink_writer/bulk_columns"]
        t.add("R4 sink (writer)", f"{sink['sink_writer']['median']:,.0f} rows/s",
              f"{sink['bulk_columns']['median']:,.0f} rows/s (plain columnar insert)",
              f"{rc['median']:.2f}", ">= 0.8", rc.get("spread"), rc["median"] >= 0.8)
        r = sink["sink_writer/bulk_messages"]
        t.add("R4' sink vs its own path", f"{sink['sink_writer']['median']:,.0f} rows/s",
              f"{sink['bulk_messages']['median']:,.0f} rows/s (one insert of the messages)",
              f"{r['median']:.2f}", "(info)", r.get("spread"), None)

    if "agent" not in skip:
        agent = raw["agent"] = _run("benchmarks.agent_cpu", "--json", "--repeats", repeats,
                                    "--intervals", "20" if args.quick else "30",
                                    "--loop-interval", "0.5")
        ratio = agent["ratio_loop_to_paced_floor"]
        t.add("R5 agent CPU", f"{agent['agent_loop']['median_ms']:.3f} ms/interval",
              f"{agent['floor_paced']['median_ms']:.3f} ms (psutil calls only)",
              f"{ratio:.2f}", "<= 2", None, ratio <= 2)

    if "pipeline" not in skip:
        pipe = raw["pipeline"] = _run("benchmarks.pipeline", *(["--quick"] if args.quick
                                                               else []), timeout=1500)
        r1 = pipe["r1"]
        sps = [x["pipeline_sps"] for x in r1]
        r1r = _ratios(sps, [x["raw_sps"] for x in r1])
        t.add("R1 end to end", f"{statistics.median(sps):,.0f} samples/s",
              f"{statistics.median(x['raw_sps'] for x in r1):,.0f} samples/s (getmany+loads)",
              f"{statistics.median(r1r):.3f}", ">= 0.2", _spread(r1r),
              statistics.median(r1r) >= 0.2)
        if "r2_naive" in pipe:
            naive = [x["naive_sps"] for x in pipe["r2_naive"]]
            r2 = statistics.median(sps) / statistics.median(naive)
            t.add("R2 vs naive faust", f"{statistics.median(sps):,.0f} samples/s",
                  f"{statistics.median(naive):,.0f} samples/s (1 sample/message)",
                  f"{r2:.1f}x", ">= 30x", _spread(naive), r2 >= 30)
        if "r6" in pipe:
            p99 = [x["p99_ms"] for x in pipe["r6"]]
            rt = [x["rt_p99_ms"] for x in pipe["r6"]]
            p50 = statistics.median(x["p50_ms"] for x in pipe["r6"])
            ratio = statistics.median(p99) / statistics.median(rt)
            t.add("R6 alert latency p99", f"{statistics.median(p99):.0f} ms (p50 {p50:.0f} ms) "
                  f"at {statistics.median(x['rate_bps'] for x in pipe['r6']):.0f} batches/s "
                  f"(70% of {statistics.median(x['sustained_bps'] for x in pipe['r6']):.0f})",
                  f"{statistics.median(rt):.0f} ms (produce->consume p99)", f"{ratio:.1f}x",
                  "p99 <= 1 s and <= 3x", _spread(p99),
                  statistics.median(p99) <= 1000 and ratio <= 3)
        if "r7" in pipe:
            two = [x["pipeline_sps"] for x in pipe["r7"]]
            r7 = statistics.median(two) / statistics.median(sps)
            broker = statistics.median(x["broker_cpu_share"] for x in pipe["r7"])
            t.add("R7 two workers / one", f"{statistics.median(two):,.0f} samples/s",
                  f"{statistics.median(sps):,.0f} samples/s (one worker)", f"{r7:.2f}",
                  f"(info; broker used {broker:.0%} of a core)", _spread(two), None)
        if "mem" in pipe:
            m = pipe["mem"][0]
            t.add("Memory (worker RSS)", f"{m['rss_mib']:.0f} MiB",
                  f"{m['hosts']:,} hosts x {m['series']} series", "", "< 1024 MiB", None,
                  m["rss_mib"] < 1024)

    print()
    print(t.render())
    if "pipeline" in raw and raw["pipeline"].get("r1"):
        print()
        print(cost_table(raw["pipeline"]))
    print(f"\n(total {time.monotonic() - t0:.0f}s; spread = (max-min)/median of the repeats)")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
