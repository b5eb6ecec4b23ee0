"""`make quality`: every judgement figure in one table, beside its published anchors.

Each part is chosen out of sample and scored on all of ../shared/data:
- anomaly detection: NAB standard (and low-FP / low-FN) on the 41 series, thresholds
  chosen leave-one-category-out, beside ARTime, HTM and the others (benchmarks.nab);
- log templates: grouping accuracy on the 8 loghub samples, from the Content field and
  from the raw line, beside Drain (benchmarks.loghub);
- fault lines: precision / recall / F1 per sample against hand labels, beside a keyword
  list (benchmarks.faultlines);
- fault localisation across services, where the benchmark exists (benchmarks.rca).
Each part runs in its own process (as `make bench` does), so one's memory does not
colour another's cost figures; a part whose data is absent says it skipped.

    python -m benchmarks.quality [--only nab,loghub,faultlines,rca]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time

__all__ = ["main"]

PARTS = ("nab", "loghub", "faultlines", "rca")
_RUN = "import sys, importlib; sys.stdout.write(importlib.import_module({mod!r}).quality())"


def _part(name: str) -> tuple[str, float]:
    mod = f"benchmarks.{name}"
    if importlib.util.find_spec(mod) is None:
        return f"({name}: no such benchmark in this tree)\n", 0.0
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _RUN.format(mod=mod)], capture_output=True,
                          text=True, timeout=900, check=False)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{mod} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout, took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated parts: " + ",".join(PARTS))
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",")] if args.only else list(PARTS)
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    total = time.monotonic()
    for name in parts:
        text, took = _part(name)
        print(f"== {name} ({took:.0f} s)")
        print(text.rstrip() + "\n", flush=True)
    print(f"make quality: {time.monotonic() - total:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
