"""`rackwatch demo`: the whole pipeline on embedded defaults, live alerts on the terminal.

Each role runs as its own process, exactly as in production (broker, worker, sink,
this host's agent, a simulated fleet with injected faults); the demo only starts them,
follows the alerts topic, and stops everything it started, in reverse order, at the
end of `--duration` or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rackwatch.config import Config

__all__ = ["register", "run_demo"]

log = logging.getLogger(__name__)

DEFAULT_FAULTS = "cpu_saturation@20s:60s,gpu_xid_79@30s,slow_disk@25s:60s,host_silent@40s:40s"


class Roles:
    """The child processes of the demo, stopped in reverse start order."""

    def __init__(self, home: Path) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logdir = home / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        out = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 (closed by the child's exit)
        proc = subprocess.Popen([sys.executable, "-m", "rackwatch.cli", *args], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        out.close()
        self.procs.append((name, proc))
        print(f"  started {name:<9} pid {proc.pid:<7} log {self.logdir / (name + '.log')}")
        return proc

    def check(self) -> list[str]:
        return [f"{n} exited with {p.returncode}" for n, p in self.procs if p.poll() is not None]

    def stop(self, timeout_s: float = 20.0) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %.0fs; killing it", name, timeout_s)
                    proc.kill()
                    proc.wait()
            print(f"  stopped {name}")


async def _follow(cfg: Config, stop: asyncio.Event) -> int:
    from aiokafka import AIOKafkaConsumer

    from streams.cli import format_alert

    consumer = AIOKafkaConsumer(cfg.topic("alerts"), bootstrap_servers=cfg.bootstrap,
                                group_id=None, auto_offset_reset="latest",
                                enable_auto_commit=False)
    await consumer.start()
    n = 0
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                for m in msgs:
                    print("  " + format_alert(m.value), flush=True)
                    n += 1
    finally:
        await consumer.stop()
    return n


def run_demo(cfg: Config, duration: float, hosts: int, faults: str) -> int:
    from rackwatch.broker import LocalBroker
    from rackwatch.topics import ensure_topics

    env_home = str(cfg.home.resolve())
    os.environ["RACKWATCH_HOME"] = env_home
    broker = LocalBroker(cfg.broker, cfg.home / "kafka") if cfg.uses_local_broker else None
    started_broker = False
    roles = Roles(cfg.home)
    print(f"rackwatch demo: state in {env_home}, store {cfg.clickhouse_dsn}")
    try:
        if broker is not None:
            started_broker = not broker.status().running
            print(f"  Kafka {cfg.broker.version} (KRaft) on {broker.start()}")
        asyncio.run(ensure_topics(cfg))
        roles.start("sink", "sink")
        roles.start("worker", "worker")
        roles.start("agent", "agent", "--interval", "2", "--label", "rack=local",
                    "--label", "role=demo")
        roles.start("simulate", "simulate", "--hosts", str(hosts), "--interval", "2",
                    "--realtime", "--seed", "7", "--faults", faults,
                    "--manifest", str(cfg.home / "demo-manifest.jsonl"))
        print(f"  following {cfg.topic('alerts')} for {duration:.0f}s (Ctrl-C to stop early)\n")
        alerts = asyncio.run(_watch(cfg, duration, roles))
        print(f"\n  {alerts} alert state changes seen")
    except KeyboardInterrupt:
        print("\n  interrupted")
    finally:
        print("stopping:")
        roles.stop()
        if broker is not None and started_broker:
            broker.stop()
            print("  stopped broker")
    _summary(cfg)
    return 0


async def _watch(cfg: Config, duration: float, roles: Roles) -> int:
    stop = asyncio.Event()
    task = asyncio.create_task(_follow(cfg, stop))
    deadline = time.monotonic() + duration
    try:
        while time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.5)
            for problem in roles.check():
                print(f"  ! {problem}")
                raise RuntimeError(problem)
    finally:
        stop.set()
    return await task


def _summary(cfg: Config) -> None:
    """What landed in the store: the demo's proof that rows were written."""
    try:
        from sinks.store import open_store
    except ImportError:
        return
    try:
        store = open_store(cfg)
        for table in ("metrics", "logs", "alerts", "incidents", "deadletter"):
            rows = store.query(f"SELECT count() FROM {table}").result_rows
            print(f"  {table:<10} {rows[0][0]:>9} rows")
        store.close()
    except Exception as e:  # the summary is a courtesy; never fail the demo on it
        print(f"  (store summary unavailable: {e})")


def _cmd(args: argparse.Namespace, cfg: Config) -> int:
    return run_demo(cfg, args.duration, args.hosts, args.faults)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    d = sub.add_parser("demo", help="run everything on embedded defaults with live alerts")
    d.add_argument("--duration", type=float, default=120.0, help="seconds to run (default 120)")
    d.add_argument("--hosts", type=int, default=40, help="simulated hosts (default 40)")
    d.add_argument("--faults", default=DEFAULT_FAULTS, help="fault spec for the simulator")
    d.set_defaults(func=_cmd)
