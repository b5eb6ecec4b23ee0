"""A local single-node Apache Kafka broker in KRaft mode, run by rackwatch itself.

There is no container engine on the machines rackwatch is developed and tested on,
so the project resolves a pinned Kafka release's jars from Maven Central with the
machine's Maven (once, into a cache directory: common.jars) and runs them on the
machine's Java.

Why Kafka 3.9.x: it is the last line that still speaks the older protocol versions
some Python clients negotiate (Kafka 4.0 removed them, KIP-896), and it runs KRaft
without ZooKeeper. aiokafka 0.14 and faust-streaming 0.15 are tested against it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.config import BrokerConfig
from common.jars import BrokerError, fetch_jars, jar_cache_dir

__all__ = ["BrokerError", "Listener", "LocalBroker", "fetch_jars", "jar_cache_dir"]

log = logging.getLogger(__name__)

_LOG4J = """log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={logfile}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""


@dataclass(frozen=True)
class Listener:
    """A listener beside the plaintext one: its name, port and security protocol."""

    name: str
    port: int
    protocol: str


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def free_port() -> int:
    """A TCP port the OS says is free now (for tests that run several brokers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); check its state where /proc exists.
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        if stat.read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


@dataclass
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path


class LocalBroker:
    """One Kafka process (broker + controller) with its data under `data_dir`.

    The process is started detached (its own session), so it outlives the command
    that started it; its pid is kept in `data_dir/broker.pid` so `stop` and `status`
    work from any later command.
    """

    def __init__(self, cfg: BrokerConfig, data_dir: Path, *,
                 listeners: Sequence[Listener] = (), properties: Mapping[str, str] | None = None,
                 scram_users: Sequence[tuple[str, str, str]] = ()) -> None:
        """`listeners`, `properties` and `scram_users` ((mechanism, user, password),
        created when the storage is formatted) add secured listeners beside the plaintext
        one: how tests reach a broker over TLS and SASL as a secured cluster is reached."""
        self.cfg = cfg
        self.listeners = tuple(listeners)
        self.properties = dict(properties or {})
        self.scram_users = tuple(scram_users)
        self.data_dir = data_dir.resolve()
        self.pid_file = self.data_dir / "broker.pid"
        self.log_file = self.data_dir / "broker.log"
        self._proc: subprocess.Popen[bytes] | None = None  # when this object started it

    @property
    def bootstrap(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port}"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def status(self) -> BrokerStatus:
        pid = self._pid()
        running = pid is not None and _port_open(self.cfg.host, self.cfg.port)
        return BrokerStatus(running, pid, self.bootstrap, self.data_dir)

    def _write_config(self) -> Path:
        c = self.cfg
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{c.host}:{c.controller_port}",
            "listeners": ",".join([f"PLAINTEXT://{c.host}:{c.port}",
                                   f"CONTROLLER://{c.host}:{c.controller_port}",
                                   *(f"{x.name}://{c.host}:{x.port}" for x in self.listeners)]),
            "advertised.listeners": ",".join([f"PLAINTEXT://{c.host}:{c.port}", *(
                f"{x.name}://{c.host}:{x.port}" for x in self.listeners)]),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(
                ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT",
                 *(f"{x.name}:{x.protocol}" for x in self.listeners)]),
            "log.dirs": str(self.data_dir / "kafka-logs"),
            "num.partitions": "12",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.retention.hours": "168",
            "log.segment.bytes": str(256 * 1024 * 1024),
            "message.max.bytes": str(8 * 1024 * 1024),
            **self.properties,
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.data_dir / "log4j.properties").write_text(
            _LOG4J.format(logfile=self.data_dir / "server.log"))
        return path

    def _scram_args(self) -> list[str]:
        args: list[str] = []
        for mechanism, user, password in self.scram_users:
            args += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
        return args

    def _java(self, lib: Path, main: str, *args: str, heap: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise BrokerError("Java (java) is not on PATH; Kafka needs Java 17")
        return [
            java, f"-Xmx{heap}", f"-Xms{min(heap, '256m', key=_heap_mb)}",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp", f"{lib}/*", main, *args,
        ]

    def start(self, progress: Callable[[str], None] | None = None) -> str:
        """Start the broker unless it is running; return its bootstrap address.
        `progress` hears of a first run's jar download (fetch_jars)."""
        st = self.status()
        if st.running:
            return self.bootstrap
        if st.pid is not None:  # alive but not listening yet: another start is in progress
            self._wait_ready(st.pid)
            return self.bootstrap
        if _port_open(self.cfg.host, self.cfg.port):
            raise BrokerError(f"port {self.cfg.port} is in use by another process")
        lib = fetch_jars(self.cfg, progress)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._write_config()
        if not (self.data_dir / "kafka-logs" / "meta.properties").is_file():
            cluster_id = _cluster_id(self.data_dir)
            proc = subprocess.run(
                self._java(lib, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                           "-c", str(props), "--ignore-formatted", *self._scram_args(),
                           heap="256m"),
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                raise BrokerError(f"formatting the storage failed:\n{proc.stdout}{proc.stderr}")
        with open(self.log_file, "ab") as out:
            proc2 = subprocess.Popen(
                self._java(lib, "kafka.Kafka", str(props), heap=self.cfg.heap),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._proc = proc2
        self.pid_file.write_text(f"{proc2.pid}\n")
        self._wait_ready(proc2.pid)
        log.info("Kafka %s is up on %s (pid %d)", self.cfg.version, self.bootstrap, proc2.pid)
        return self.bootstrap

    def _wait_ready(self, pid: int) -> None:
        deadline = time.monotonic() + self.cfg.start_timeout_s
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                raise BrokerError(f"the broker exited during start; see {self.log_file} and "
                                  f"{self.data_dir / 'server.log'}")
            if _port_open(self.cfg.host, self.cfg.port) and _broker_answers(self.bootstrap):
                return
            time.sleep(0.25)
        raise BrokerError(f"the broker did not answer within {self.cfg.start_timeout_s:.0f}s")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after `timeout_s`)."""
        pid = self._pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _pid_alive(pid):
            _reap(pid)
            time.sleep(0.1)
        if _pid_alive(pid):
            log.warning("the broker did not stop within %.0fs; killing it", timeout_s)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        self._forget_child()
        return True

    def _forget_child(self) -> None:
        if self._proc is not None:
            self._proc.wait()  # collects the status (or finds it collected already)
            self._proc = None

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would (for failure tests)."""
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        self._forget_child()


def _reap(pid: int) -> None:
    """Collect the exit status when the broker is our own child (tests start it so)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _heap_mb(size: str) -> int:
    units = {"k": 1 / 1024, "m": 1, "g": 1024}
    s = size.strip().lower()
    return int(float(s[:-1]) * units[s[-1]]) if s[-1] in units else int(s) // (1024 * 1024)


def _cluster_id(data_dir: Path) -> str:
    """A KRaft cluster id (22-char base64 of a UUID), stable for one data directory."""
    import base64

    seed = str(data_dir).encode()
    while True:
        # An id that starts with "-" reads as an option to Kafka's argument parser (Kafka's
        # own Uuid.randomUuid() skips those for the same reason), so re-hash until it doesn't.
        seed = hashlib.sha256(seed).digest()
        cid = base64.urlsafe_b64encode(seed[:16]).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _broker_answers(bootstrap: str) -> bool:
    """True once the broker serves metadata (the port opening is not enough in KRaft)."""
    import asyncio

    from common.kafka import admin_client

    async def probe() -> bool:
        admin = admin_client(bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:  # any failure means "not ready yet"
            return False
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    return asyncio.run(probe())
