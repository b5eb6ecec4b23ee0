"""Run rackwatch roles as real processes against the session's broker, as operators do.

Each test gets its own topic prefix, state directory and chDB store, so tests never
see each other's data; every process started here is stopped at the end, and a
process that fails to stop is killed, so nothing is left running.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from common.config import Config, load_config
from common.topics import ensure_topics

__all__ = ["Pipeline", "consume_all", "produce"]


class Pipeline:
    """Worker(s) and sink processes sharing one environment."""

    def __init__(self, home: Path, bootstrap: str, prefix: str, *, rules: Path | None = None,
                 partitions: int = 4, serve_port: int | None = None) -> None:
        self.home = home
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        home.mkdir(parents=True, exist_ok=True)
        cfg = [f"[kafka]\npartitions = {partitions}\n"]
        if rules is not None:
            cfg.append(f'[worker]\nrules = "{rules}"\n')
        if serve_port is not None:
            cfg.append(f"[sink]\nserve_port = {serve_port}\nbatch_interval_s = 0.3\n")
        (home / "rackwatch.toml").write_text("".join(cfg))
        self.env = {**os.environ, "RACKWATCH_HOME": str(home),
                    "RACKWATCH_KAFKA_BOOTSTRAP": bootstrap, "RACKWATCH_TOPIC_PREFIX": prefix}

    def config(self) -> Config:
        return load_config(self.home / "rackwatch.toml", env=self.env)

    def ensure_topics(self) -> None:
        """Declare the topics with the test's partition count before anyone produces."""
        asyncio.run(ensure_topics(self.config()))

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rackwatch.cli", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 (child keeps the fd)
        proc = subprocess.Popen([sys.executable, "-m", "rackwatch.cli", *args], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.procs[name] = proc
        return proc

    def log_of(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def query(self, sql: str) -> list[dict[str, object]]:
        res = self.cli("query", "--format", "jsonl", sql)
        if res.returncode != 0:
            raise RuntimeError(f"query failed: {res.stderr}")
        return [orjson.loads(line) for line in res.stdout.splitlines() if line.strip()]

    def wait_for(self, sql: str, predicate: object,
                 timeout: float = 90.0) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n"
                                       f"{self.log_of(name)[-3000:]}")
            try:
                rows = self.query(sql)
            except RuntimeError:
                rows = []
            if callable(predicate) and predicate(rows):
                return rows
            time.sleep(1.0)
        raise TimeoutError(f"timed out waiting on {sql!r}; last rows {rows!r:.500}")


async def _produce(bootstrap: str, topic: str, messages: Iterable[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[bytes, bytes]]) -> None:
    asyncio.run(_produce(bootstrap, topic, list(messages)))


async def _consume(bootstrap: str, topic: str, idle_s: float, max_s: float) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    out: list[bytes] = []
    try:
        deadline = time.monotonic() + max_s
        last = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last < idle_s:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                for m in msgs:
                    out.append(m.value)
                    last = time.monotonic()
    finally:
        await consumer.stop()
    return out


def consume_all(bootstrap: str, topic: str, idle_s: float = 3.0,
                max_s: float = 30.0) -> list[bytes]:
    return asyncio.run(_consume(bootstrap, topic, idle_s, max_s))
