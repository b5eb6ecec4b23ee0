"""The fleet as a pure generator of events in event-time order, plus its ground truth.

No Kafka, no clock, no I/O: `Fleet(opts).events()` yields the very dicts real
agents publish (`rackwatch.metrics/v1`, `rackwatch.logs/v1`), interval after
interval, each interval's events sorted by event time. Everything random comes
from generators seeded by (seed, purpose), so a given seed yields the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from producers.events import log_event, metric_batch
from producers.simulator.faults import Fault, StepContext
from producers.simulator.loglines import background_syslog
from producers.simulator.model import HostSim, PendingLog
from producers.simulator.options import SimOptions
from producers.simulator.placement import resolve_faults
from producers.simulator.spec import parse_faults
from producers.simulator.topology import Topology, build_topology
from schemas.events import LogEvent, MetricBatch

__all__ = ["Event", "Fleet", "generate"]

Event = MetricBatch | LogEvent


class Fleet:
    """A simulated fleet: topology, per-host dynamics and resolved faults."""

    def __init__(self, opts: SimOptions, *, origin_ms: int | None = None) -> None:
        problems = opts.problems()
        if problems:
            from producers.simulator.spec import FaultSpecError

            raise FaultSpecError(problems)
        self.opts = opts
        self.origin_ms = origin_ms if origin_ms is not None else opts.origin_ms(0)
        self.interval_ms = opts.interval_ms
        self.topology: Topology = build_topology(opts)
        self.sims: dict[str, HostSim] = {
            h.name: HostSim(h, self.topology.jobs.get(self.topology.job_of.get(h.name, "")),
                            opts.seed, self.origin_ms, self.topology.serving.get(h.name))
            for h in self.topology.hosts
        }
        self.faults: list[Fault] = resolve_faults(
            parse_faults(opts.faults) if opts.faults else [], self.topology, seed=opts.seed,
            origin_ms=self.origin_ms, interval_ms=self.interval_ms)
        self._log_p = min(1.0, opts.interval_s / 300.0) if opts.background_logs else 0.0

    def manifest(self) -> list[dict[str, Any]]:
        """Ground truth: one entry per injected fault, in spec order."""
        return [f.manifest() for f in self.faults]

    def step_time(self, k: int) -> int:
        """Event time of interval `k`."""
        return self.origin_ms + k * self.interval_ms

    def step(self, k: int) -> list[Event]:
        """All events of interval `k`, sorted by event time (ties: metrics, then host order)."""
        t = self.step_time(k)
        ctx = StepContext(t, t + self.interval_ms, self.sims)
        for f in self.faults:
            if f.overlaps(ctx):
                f.apply(ctx)
        dt_s = self.interval_ms / 1000.0
        keyed: list[tuple[int, int, int, int, Event]] = []
        job_of = self.topology.job_of
        stalled_jobs = ctx.stalled_jobs
        for sim in self.sims.values():
            spec = sim.spec
            fx = ctx.effects.get(spec.name)
            if self._log_p and sim.rng.random() < self._log_p:
                ts = t + sim.rng.randrange(self.interval_ms)
                sim.logs.append(PendingLog(ts, "/var/log/syslog",
                                           background_syslog(ts, spec.name, sim.rng)))
            if fx is not None and fx.silent:
                logs = [lg for lg in sim.logs if lg.ts >= fx.silent_until]
            else:
                stalled = spec.name in job_of and job_of[spec.name] in stalled_jobs
                samples = sim.render(t, dt_s, fx, stalled)
                sim.metrics_seq += 1
                batch = metric_batch(spec.name, t + spec.ts_offset_ms, sim.metrics_seq,
                                     dict(spec.labels), samples, self.interval_ms,
                                     epoch=self.opts.epoch)
                keyed.append((batch["ts"], 0, spec.index, sim.metrics_seq, batch))
                logs = sim.logs
            if logs:
                logs.sort(key=lambda lg: lg.ts)
                for lg in logs:
                    sim.logs_seq += 1
                    labels = dict(spec.labels)
                    if lg.labels:
                        labels.update(lg.labels)
                    ev = log_event(spec.name, lg.ts, sim.logs_seq, lg.message, lg.source, labels,
                                   epoch=self.opts.epoch)
                    keyed.append((lg.ts, 1, spec.index, sim.logs_seq, ev))
            sim.logs = []
        keyed.sort(key=lambda e: e[:4])
        return [e[4] for e in keyed]

    def events(self, steps: int | None = None) -> Iterator[Event]:
        """Events of intervals 0..steps-1 (default: the options' duration), in order."""
        n = self.opts.steps() if steps is None else steps
        k = 0
        while n is None or k < n:
            yield from self.step(k)
            k += 1


def generate(opts: SimOptions) -> Iterator[Event]:
    """Shorthand: the events of a fleet built from `opts`."""
    return Fleet(opts).events()
