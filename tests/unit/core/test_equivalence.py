"""The columnar core against the plain reference implementation, on randomised streams.

Hosts send batches that mostly repeat their shape (the core's fast path) and sometimes
do not: series appear, vanish, come twice, are rejected, arrive late or at the same
instant; batches are resent, sequence numbers restart, ticks close windows, and the
state is now and then serialised and restored as the worker's changelog would. Rows,
alerts, rejections, host contexts and counters must agree exactly, byte for byte.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.hoststate import HostState
from streams.core.metrics import MetricsCore, host_context
from streams.core.smoothing import SmoothingParams
from streams.core.windows import WindowSpec
from streams.rules import RuleEngine, default_rules, parse_rules
from streams.rules.model import RuleSet

from .reference import ReferenceCore, reference_context

T0 = 1_700_000_000_000

# (name, labels) an agent may send; aliases fold onto other series (cpu.percent is
# cpu.usage in percent, gpu.temp is gpu.temperature, gpu.power_mw is scaled by 1/1000)
POOL: list[tuple[str, dict[str, str] | None]] = [
    ("cpu.usage", None), ("cpu.percent", None), ("mem.usage", None), ("load.1m", None),
    ("gpu.temperature", {"gpu": "0"}), ("gpu.temperature", {"gpu": "1"}),
    ("gpu.temp", {"gpu": "1"}), ("gpu.power_watts", {"gpu": "0"}),
    ("gpu.power_mw", {"gpu": "1"}), ("gpu.ecc.dbe_per_s", {"gpu": "0"}),
    ("gpu.retired_pages", {"gpu": "0"}), ("disk.busy", {"device": "sda"}),
    ("disk.read_bytes_per_s", {"device": "sda"}), ("disk.write_bytes_per_s", {"device": "sda"}),
    ("custom.thing", {"Weird Key": " v ", "empty": " "}), ("net.rx_bytes_per_s", {"iface": "e0"}),
]
# a plausible level per name, and whether it is a 0..1 fraction
LEVEL = {"cpu.usage": 0.4, "cpu.percent": 40.0, "mem.usage": 0.6, "load.1m": 3.0,
         "gpu.temperature": 60.0, "gpu.temp": 60.0, "gpu.power_watts": 300.0,
         "gpu.power_mw": 300_000.0, "gpu.ecc.dbe_per_s": 0.0, "gpu.retired_pages": 5.0,
         "disk.busy": 0.5, "disk.read_bytes_per_s": 4e7, "disk.write_bytes_per_s": 3e7,
         "custom.thing": -3.0, "net.rx_bytes_per_s": 1e6}

TEST_RULES = parse_rules("""
groups:
  - name: t
    rules:
      - {alert: TempHigh, kind: threshold, metric: gpu.temperature, smoothing: wma,
         above: 62, clear: 61}
      - {alert: PowerZ, kind: zscore, metric: gpu.power_watts, above: 1.5, clear: 1}
      - {alert: CpuRate, kind: rate, metric: cpu.usage, above: 0.001}
      - {alert: Busy, kind: threshold, metric: disk.busy, smoothing: ewma, above: 0.5}
      - {alert: TempAnomaly, kind: anomaly, metric: gpu.temperature, above: 0.2,
         params: {block: 4, blocks: 8, min_blocks: 4, seasonal: false, hold: 3}}
      - {alert: GpuGone, kind: absent, metric: gpu.power_watts, duration: 30s}
""")


@dataclasses.dataclass
class Knobs:
    hosts: int
    steps: int
    vary: float  # chance a batch differs from the host's usual shape
    oddity: float  # chance of a resend, a late or same-instant batch, a tick, a restore
    tau_ms: float
    wma_n: int
    spec: WindowSpec
    rules: RuleSet


def _value(rng: random.Random, name: str) -> float:
    level = LEVEL[name]
    r = rng.random()
    if r < 0.02:
        return -1.0 if level >= 0 else -1e9  # impossible for most metrics: rejected
    if r < 0.04:
        return level * 50 + 7.0  # a spike (and past the bounds of a fraction)
    if r < 0.06:
        return rng.choice([0.0, -0.0, level])
    return round(level * (1 + rng.gauss(0, 0.1)), rng.choice([1, 4, 12]))


def _stream(rng: random.Random, k: Knobs) -> list[tuple[str, Any]]:
    """Operations: ("batch", batch) / ("tick", (host, now)) / ("restore", host)."""
    shapes = {f"h{i}": rng.sample(POOL, rng.randint(1, len(POOL))) for i in range(k.hosts)}
    ts = {h: T0 + rng.randrange(60_000) for h in shapes}
    seq = dict.fromkeys(shapes, 0)
    sent: dict[str, list[dict[str, Any]]] = {h: [] for h in shapes}
    ops: list[tuple[str, Any]] = []
    for _ in range(k.steps):
        h = rng.choice(list(shapes))
        odd = rng.random() < k.oddity
        kind = rng.randrange(7) if odd else -1
        if kind == 0 and sent[h]:
            ops.append(("batch", rng.choice(sent[h][-3:])))  # a resend
            continue
        if kind == 1:
            ops.append(("tick", (h, max(ts.values()) + rng.choice([0, 4_000, 61_000, 400_000]))))
            continue
        if kind == 2:
            ops.append(("restore", h))
            continue
        step = {3: -rng.randrange(1, 90_000), 4: 0, 5: rng.randrange(60_000, 900_000)}.get(
            kind, 10_000)
        ts[h] += step
        seq[h] = 0 if kind == 6 and seq[h] > 200_000 else seq[h] + (200_000 if kind == 6 else 1)
        shape = list(shapes[h])
        if rng.random() < k.vary:
            r = rng.random()
            if r < 0.3 and len(shape) > 1:
                shape.pop(rng.randrange(len(shape)))
            elif r < 0.6:
                shape.insert(rng.randrange(len(shape) + 1), rng.choice(POOL))
            elif r < 0.8:
                rng.shuffle(shape)
            else:
                shapes[h] = shape = rng.sample(POOL, rng.randint(1, len(POOL)))
        batch = {"schema": "rackwatch.metrics/v1", "host": h, "ts": ts[h], "seq": seq[h],
                 "labels": {"rack": f"r{int(h[1:]) % 2}", "Zone": " z1 "},
                 "samples": [{"name": name, "value": _value(rng, name),
                              **({"labels": dict(lb)} if lb else {})} for name, lb in shape]}
        sent[h].append(batch)
        ops.append(("batch", batch))
    return ops


def _dumps(x: Any) -> bytes:
    return orjson.dumps(x)


def run_both(seed: int, k: Knobs) -> int:
    """Run both cores over one random stream, asserting agreement; returns batches run."""
    rng = random.Random(seed)
    p = SmoothingParams(tau_ms=k.tau_ms, wma_n=k.wma_n)
    core = MetricsCore(RuleEngine(k.rules), p, k.spec)
    ref = ReferenceCore(RuleEngine(k.rules), p, k.spec)
    states: dict[str, HostState] = {}
    rstates: dict[str, Any] = {}
    n = 0
    for op, arg in _stream(rng, k):
        if op == "restore":
            if arg in states:
                states[arg] = HostState.loads(states[arg].dumps())  # through the changelog
            continue
        if op == "tick":
            host, now = arg
            if host in states:
                assert _dumps(core.tick(states[host], host, now)) == \
                    _dumps(ref.tick(rstates[host], host, now))
            continue
        batch = orjson.loads(orjson.dumps(arg))  # each core gets its own decoded copy
        h = batch["host"]
        states[h], res = core.process(states.get(h), batch)
        rstates[h], want = ref.process(rstates.get(h), orjson.loads(orjson.dumps(arg)))
        n += 1
        assert res.duplicate == want["duplicate"]
        assert _dumps(res.rows) == _dumps(want["rows"])
        assert _dumps(res.alerts) == _dumps(want["alerts"])
        assert [(raw, e.code, str(e)) for raw, e in res.rejected] == want["rejected"]
        assert _dumps(host_context(states[h])) == _dumps(reference_context(rstates[h]))
    assert dataclasses.asdict(core.counters) == ref.counters
    for h, s in states.items():  # the state survives the changelog's JSON as it is
        assert HostState.loads(s.dumps()) == s, h
    return n


SPECS = st.sampled_from([
    WindowSpec(),
    WindowSpec(size_ms=30_000, lateness_ms=0, keep=3),
    WindowSpec(size_ms=60_000, hop_ms=20_000, lateness_ms=5_000, keep=4),
    WindowSpec(percentile=0.95, keep=2),
    WindowSpec(keep=0),
])


class TestColumnarCoreMatchesReference:
    @settings(max_examples=150, deadline=None)
    @given(seed=st.integers(0, 2**32), hosts=st.integers(1, 3), steps=st.integers(1, 300),
           vary=st.sampled_from([0.0, 0.05, 0.3]), oddity=st.sampled_from([0.0, 0.05, 0.2]),
           tau_ms=st.sampled_from([10_000.0, 60_000.0, 3e9]), wma_n=st.integers(2, 6),
           spec=SPECS, default=st.booleans())
    def test_random_streams(self, seed: int, hosts: int, steps: int, vary: float,
                            oddity: float, tau_ms: float, wma_n: int, spec: WindowSpec,
                            default: bool) -> None:
        """Rows, alerts, rejections, contexts and counters agree for any stream."""
        rules = default_rules() if default else TEST_RULES
        run_both(seed, Knobs(hosts, steps, vary, oddity, tau_ms, wma_n, spec, rules))

    def test_long_regular_stream(self) -> None:
        """Hundreds of same-shape batches (the fast path), through anomaly warm-up."""
        assert run_both(7, Knobs(2, 600, 0.01, 0.01, 60_000.0, 5, WindowSpec(),
                                 TEST_RULES)) > 500
