"""The console under load: 2,000 hosts and 50 alert changes a second, in headless Chromium.

    python -m benchmarks.console [--hosts 2000] [--rate 50] [--seconds 60] [--loads 5]

The console serves a synthetic fleet (tests/browser/fakes.py) and takes a storm of
alert changes from an in-process feeder: each alert fires on a random host and resolves
20-60 s later, `rate` changes a second in all, stamped with the wall time they were made.
Kafka and the store are not measured here (the pipeline benchmarks do); this measures the
console's own path: hub, batching, server-sent events, the page's model and drawing.
Each figure has a baseline measured in the same run, in the same browser:

- time to first render (navigation start to the painted grid of every host, with the
  alerts of the storm so far), against the time a bare EventSource on the same origin
  takes to receive and parse the same snapshot (no drawing);
- update latency (an alert change made -> the page painted it), against the latency of
  the same stream to a bare EventSource listener on a page that draws nothing, measured
  just before for half as long: both include the console's 250 ms batching of pushes;
- browser memory (JS heap, DOM nodes) after the first render and after the storm, and
  the renderer's main-thread busy share during the storm.
Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common.config import Config
from console.app import start_console
from console.hub import Hub
from tests.browser.chromium import heap_metrics, missing, start_browser
from tests.browser.fakes import FakeReader, alert_message, fleet_hosts

__all__ = ["main"]

RULES = (("GpuTooHot", "critical", True), ("CpuHigh", "warning", False),
         ("MemoryHigh", "warning", False), ("GpuEccCorrectableHigh", "warning", True),
         ("CpuUsageAnomaly", "info", False))

_BARE_SNAPSHOT = """
const done = arguments[arguments.length - 1];
const t0 = performance.now();
const es = new EventSource('/api/events');
es.addEventListener('snapshot', (e) => {
  const doc = JSON.parse(e.data);
  es.close();
  done([performance.now() - t0, doc.alerts.length, e.data.length]);
});
"""

_BARE_LISTENER = """
window.bareLatencies = [];
const es = new EventSource('/api/events');
es.addEventListener('snapshot', () => {});
es.addEventListener('changes', (e) => {
  const now = Date.now();
  for (const a of JSON.parse(e.data).alerts) window.bareLatencies.push(now - a.updated_ms);
});
window.bareSource = es;
"""


def storm(hosts: list[tuple[str, str, str]], rate: float, seed: int = 1) -> Any:
    """A feeder making `rate` alert changes a second (fires, and resolutions 20-60 s later)."""
    rng = random.Random(seed)

    async def feed(hub: Hub, stop: asyncio.Event) -> None:
        pending: list[tuple[float, int, dict[str, Any]]] = []  # (resolve at, n, message)
        n = 0
        start = time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - start) * rate) - n
            now = time.time()
            for _ in range(max(0, due)):
                n += 1
                if pending and pending[0][0] <= now:
                    _, _, msg = heapq.heappop(pending)
                    stamp = int(time.time() * 1000)
                    hub.take_message("alerts", {**msg, "status": "resolved",
                                                "ends_at": _iso(stamp),
                                                "updated_at": _iso(stamp)}, stamp)
                    continue
                host, rack, _ = rng.choice(hosts)
                rule, sev, per_gpu = rng.choice(RULES)
                gpu = str(rng.randrange(8)) if per_gpu and rack else None
                stamp = int(time.time() * 1000)
                msg = alert_message(host, rack, rule, sev, "firing", stamp,
                                    fingerprint=f"{rule}-{host}-{gpu}-{n}", gpu=gpu)
                hub.take_message("alerts", msg, stamp)
                heapq.heappush(pending, (now + rng.uniform(20, 60), n, msg))
            await asyncio.sleep(0.02)

    return feed


def _iso(ms: int) -> str:
    from tests.browser.fakes import iso

    return iso(ms)


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def _busy(before: dict[str, float], after: dict[str, float], seconds: float) -> float:
    return (after.get("TaskDuration", 0.0) - before.get("TaskDuration", 0.0)) / seconds


def run(args: argparse.Namespace) -> dict[str, Any]:
    fleet = fleet_hosts(args.hosts, args.rackless)
    with tempfile.TemporaryDirectory() as tmp:
        url, stop = start_console(Config(home=Path(tmp) / "home"), port=0,
                                  reader=FakeReader(args.hosts, args.rackless), follow=False,
                                  feeders=[storm(fleet, args.rate)],
                                  scrape=("http://127.0.0.1:9/metrics",))
        driver = start_browser(Path(tmp) / "profile")
        try:
            time.sleep(args.warmup)  # let the storm build its active alerts
            first, bare_first, alerts_at_load, snapshot_bytes = [], [], [], []
            for _ in range(args.loads):
                driver.get(url + "api/status")
                ms, n_alerts, size = driver.execute_async_script(_BARE_SNAPSHOT)
                bare_first.append(ms)
                driver.get("about:blank")
                driver.get(url)
                got = None
                deadline = time.monotonic() + 60
                while got is None and time.monotonic() < deadline:
                    got = driver.execute_script(
                        "const s = window.rackwatchConsole && window.rackwatchConsole.stats;"
                        "return s && s.firstRenderMs !== null ? [s.firstRenderMs, "
                        "document.querySelectorAll('.cell').length] : null")
                    time.sleep(0.05)
                if got is None or got[1] != args.hosts:
                    raise RuntimeError(f"the page did not render {args.hosts} hosts: {got}")
                first.append(float(got[0]))
                alerts_at_load.append(n_alerts)
                snapshot_bytes.append(size)
            # baseline: the same stream to a bare listener on a page that draws nothing
            driver.get(url + "api/status")
            driver.execute_script(_BARE_LISTENER)
            time.sleep(args.seconds / 2)
            bare = [float(x) for x in driver.execute_script("return window.bareLatencies")]
            driver.get(url)
            time.sleep(5)  # past the first render
            loaded = heap_metrics(driver)
            driver.execute_script("window.rackwatchConsole.stats.latencies.length = 0;"
                                  "window.rackwatchConsole.stats.drawMs.length = 0;")
            time.sleep(args.seconds)
            after = heap_metrics(driver)
            lat = [float(x) for x in driver.execute_script(
                "return window.rackwatchConsole.stats.latencies")]
            draws = [float(x) for x in driver.execute_script(
                "return window.rackwatchConsole.stats.drawMs")]
            rows = driver.execute_script("return document.querySelectorAll('#alerts tbody tr')"
                                         ".length")
        finally:
            driver.quit()
            stop()
    return {
        "hosts": args.hosts, "rate_per_s": args.rate, "seconds": args.seconds,
        "first_render_ms": first, "bare_snapshot_ms": bare_first,
        "alerts_in_snapshot": alerts_at_load, "snapshot_bytes": snapshot_bytes,
        "latency_ms": {"n": len(lat), "p50": _pct(lat, 0.5), "p95": _pct(lat, 0.95),
                       "p99": _pct(lat, 0.99), "max": max(lat, default=float("nan"))},
        "bare_latency_ms": {"n": len(bare), "p50": _pct(bare, 0.5), "p95": _pct(bare, 0.95),
                            "p99": _pct(bare, 0.99), "max": max(bare, default=float("nan"))},
        "heap_mb_loaded": loaded.get("JSHeapUsedSize", 0) / 2**20,
        "heap_mb_after": after.get("JSHeapUsedSize", 0) / 2**20,
        "dom_nodes_loaded": loaded.get("Nodes", 0), "dom_nodes_after": after.get("Nodes", 0),
        "main_thread_busy": _busy(loaded, after, args.seconds), "alert_rows_shown": rows,
        "draw_ms": {"n": len(draws), "p50": _pct(draws, 0.5), "p95": _pct(draws, 0.95)},
        "busy_by_kind": {k: (after.get(k, 0.0) - loaded.get(k, 0.0)) / args.seconds
                         for k in ("ScriptDuration", "LayoutDuration", "RecalcStyleDuration",
                                   "TaskDuration")},
    }


def render(r: dict[str, Any]) -> str:
    f, b = statistics.median(r["first_render_ms"]), statistics.median(r["bare_snapshot_ms"])
    lat, bare = r["latency_ms"], r["bare_latency_ms"]
    lines = [
        f"console under load: {r['hosts']} hosts, {r['rate_per_s']:.0f} alert changes/s, "
        f"{r['seconds']:.0f} s",
        f"  time to first render   {f:7.0f} ms  (median of {len(r['first_render_ms'])} loads; "
        f"{statistics.median(r['alerts_in_snapshot']):.0f} alerts, "
        f"{statistics.median(r['snapshot_bytes']) / 1024:.0f} KiB snapshot)",
        f"    baseline: bare snapshot receive+parse {b:.0f} ms -> ratio {f / b:.1f}x",
        f"  update latency p50/p95/p99/max  {lat['p50']:.0f} / {lat['p95']:.0f} / "
        f"{lat['p99']:.0f} / {lat['max']:.0f} ms  ({lat['n']} changes painted)",
        f"    baseline: bare EventSource {bare['p50']:.0f} / {bare['p95']:.0f} / "
        f"{bare['p99']:.0f} / {bare['max']:.0f} ms -> p95 ratio "
        f"{lat['p95'] / bare['p95']:.2f}x",
        f"  JS heap {r['heap_mb_loaded']:.1f} MiB after load, {r['heap_mb_after']:.1f} MiB "
        f"after the storm; DOM nodes {r['dom_nodes_loaded']:.0f} -> {r['dom_nodes_after']:.0f}",
        f"  renderer main thread busy {r['main_thread_busy']:.0%} during the storm (script "
        f"{r['busy_by_kind']['ScriptDuration']:.0%}, style "
        f"{r['busy_by_kind']['RecalcStyleDuration']:.0%}, layout "
        f"{r['busy_by_kind']['LayoutDuration']:.0%}); a draw takes "
        f"{r['draw_ms']['p50']:.1f} ms (p95 {r['draw_ms']['p95']:.1f})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=2000)
    ap.add_argument("--rackless", type=int, default=16, help="hosts without a rack label")
    ap.add_argument("--rate", type=float, default=50.0, help="alert changes per second")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the measured storm")
    ap.add_argument("--warmup", type=float, default=30.0, help="storm before the first load")
    ap.add_argument("--loads", type=int, default=5, help="page loads timed")
    args = ap.parse_args(argv)
    reason = missing()
    if reason:
        print(f"benchmarks.console: {reason}", file=sys.stderr)
        return 2
    result = run(args)
    print(render(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
