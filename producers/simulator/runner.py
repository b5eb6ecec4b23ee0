"""Play a simulated fleet to Kafka (or a JSON-lines file), fast or in real time.

The imperative shell around `Fleet`: pacing (real time, a batches-per-second cap,
or as fast as the broker takes it, with back-pressure instead of drops), the
shared `Publisher` for Kafka, and the manifest, whose lines are written as each
fault begins so an interrupted demo still has the truth of what it injected.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from common.config import Config, ConfigError
from producers.buffer import SpillBuffer
from producers.publisher import KafkaTransport, Publisher, Transport
from producers.simulator.fleet import Event, Fleet
from producers.simulator.options import SimOptions
from producers.state import new_epoch
from schemas.ids import METRICS

__all__ = ["SimStats", "run_simulator"]

log = logging.getLogger(__name__)


@dataclass
class SimStats:
    """What a simulator run produced."""

    hosts: int = 0
    steps: int = 0
    batches: int = 0
    log_events: int = 0
    samples: int = 0
    faults_started: int = 0
    sent: int = 0
    buffered: int = 0
    dropped: int = 0
    origin_ms: int = 0
    elapsed_s: float = 0.0


class _Manifest:
    def __init__(self, path: Path | None, fleet: Fleet) -> None:
        self.pending = sorted(fleet.manifest(), key=lambda e: e["start_ms"])
        self.fh: IO[bytes] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.started = 0

    def advance(self, until_ms: int) -> None:
        """Write the entries of faults that began before `until_ms`."""
        while self.pending and self.pending[0]["start_ms"] < until_ms:
            entry = self.pending.pop(0)
            self.started += 1
            log.info("fault %s on %s from %d to %d", entry["kind"],
                     ",".join(entry["hosts"][:4]) + ("..." if len(entry["hosts"]) > 4 else ""),
                     entry["start_ms"], entry["end_ms"])
            if self.fh is not None:
                self.fh.write(orjson.dumps(entry) + b"\n")
                self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def _open_output(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "wb")


async def run_simulator(cfg: Config, opts: SimOptions, *, stop: asyncio.Event,
                        transport: Transport | None = None,
                        clock: Callable[[], float] = time.time) -> SimStats:
    """Run until the options' duration is covered or `stop` is set.

    Raises ConfigError (bad options) or FaultSpecError (bad faults) before anything starts.
    """
    problems = opts.problems()
    if problems:
        raise ConfigError(problems)
    origin = opts.origin_ms(int(clock() * 1000))
    if opts.epoch is None and opts.output is None:
        opts = dataclasses.replace(opts, epoch=new_epoch())  # a new run: a new sequence
    fleet = Fleet(opts, origin_ms=origin)
    stats = SimStats(hosts=opts.hosts, origin_ms=origin)
    manifest = _Manifest(opts.manifest, fleet)
    topics = cfg.topic("metrics"), cfg.topic("logs")
    out: IO[bytes] | None = None
    publisher: Publisher | None = None
    pub_task: asyncio.Task[None] | None = None
    pub_stop = asyncio.Event()
    if opts.output is not None:
        out = _open_output(opts.output)
        where = str(opts.output)
    else:
        if transport is None:
            transport = _kafka_transport(cfg)
        publisher = _publisher(cfg, opts, transport)
        pub_task = asyncio.create_task(publisher.run(pub_stop, flush_timeout=30.0))
        where = transport.description
    n = opts.steps()
    log.info("simulating %d hosts in %d racks every %.3gs (%s, seed %d, epoch %s, %d faults) "
             "to %s", opts.hosts, opts.rack_count, opts.interval_s,
             "real time" if opts.realtime else "fast", opts.seed, opts.epoch or "-",
             len(fleet.faults), where)
    started = time.monotonic()
    room = 4 * opts.hosts + 1000
    k = 0
    try:
        while (n is None or k < n) and not stop.is_set():
            t = fleet.step_time(k)
            if opts.realtime and await _stopped_within(stop, t / 1000.0 - clock()):
                break
            manifest.advance(t + fleet.interval_ms)
            _emit(fleet.step(k), stats, out, publisher, topics)
            k += 1
            stats.steps = k
            if publisher is not None:
                await publisher.wait_room(room)
            if opts.rate is not None:
                ahead = stats.batches / opts.rate - (time.monotonic() - started)
                if await _stopped_within(stop, ahead):
                    break
            else:
                await asyncio.sleep(0)
    finally:
        manifest.close()
        if out is not None:
            out.close()
        if publisher is not None and pub_task is not None:
            pub_stop.set()
            await pub_task
            stats.sent, stats.buffered = publisher.stats.sent, publisher.left_at_close
            stats.dropped = publisher.dropped
    stats.faults_started = manifest.started
    stats.elapsed_s = time.monotonic() - started
    log.info("simulator done: %d intervals, %d batches (%d samples), %d log events, "
             "%d faults in %.1fs", stats.steps, stats.batches, stats.samples, stats.log_events,
             stats.faults_started, stats.elapsed_s)
    return stats


def _kafka_transport(cfg: Config) -> Transport:
    """The Kafka transport, creating the topics before the first send."""
    from common.kafka import kafka_client
    from common.topics import ensure_topics

    async def prepare() -> object:
        return await ensure_topics(cfg, ("metrics", "logs"))

    return KafkaTransport(kafka_client(cfg), client_id="rackwatch-simulator", prepare=prepare)


def _publisher(cfg: Config, opts: SimOptions, transport: Transport) -> Publisher:
    """The shared publisher, its buffer sized for the fleet (at least the agent's)."""
    spill = cfg.home / "simulator" / f"seed{opts.seed}.spill"
    buffer = SpillBuffer(max_items=max(cfg.agent.buffer_max_batches, 10 * opts.hosts),
                         memory_items=max(cfg.agent.buffer_memory_batches, 4 * opts.hosts),
                         spill_path=spill)
    return Publisher(transport, buffer)


def _emit(events: Iterable[Event], stats: SimStats, out: IO[bytes] | None,
          publisher: Publisher | None, topics: tuple[str, str]) -> None:
    """One interval's events to the file or the publisher, counted."""
    metrics_topic, logs_topic = topics
    for ev in events:
        data = orjson.dumps(ev)
        is_metrics = ev["schema"] == METRICS
        if is_metrics:
            stats.batches += 1
            stats.samples += len(ev["samples"])  # type: ignore[typeddict-item]
        else:
            stats.log_events += 1
        if out is not None:
            out.write(data + b"\n")
        else:
            assert publisher is not None
            publisher.publish(metrics_topic if is_metrics else logs_topic,
                              ev["host"].encode(), data)


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` (none when not positive); whether `stop` was set meanwhile."""
    if seconds <= 0:
        return False
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except TimeoutError:
        return False
