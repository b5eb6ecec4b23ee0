"""Configuration: one TOML file plus environment overrides (contract, see DESIGN.md).

The configuration is closed: an unknown section or key is an error that names the
file and the key, and all errors are reported at once before anything starts.
Environment variables override the file:

- RACKWATCH_HOME: state directory (default: ./.rackwatch, or the nearest parent
  directory's .rackwatch when there is one; see `find_home`)
- RACKWATCH_KAFKA_BOOTSTRAP: brokers; unset means the local broker `rackwatch broker` runs
- RACKWATCH_CLICKHOUSE_DSN: default chdb://<home>/clickhouse
- RACKWATCH_TOPIC_PREFIX: default "rackwatch."
- RACKWATCH_CONFIG: path of the config file (default <home>/rackwatch.toml if present)
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BrokerConfig", "Config", "ConfigError", "find_home", "load_config", "mask_dsn",
           "parse_settings"]


class ConfigError(ValueError):
    """Every problem found in a configuration, reported together."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class BrokerConfig:
    """The local single-node KRaft broker that `rackwatch broker` manages."""

    version: str = "3.9.1"
    scala: str = "2.13"
    host: str = "127.0.0.1"
    port: int = 19092
    controller_port: int = 19093
    heap: str = "512m"
    start_timeout_s: float = 90.0


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap: str = ""  # empty: the local broker
    topic_prefix: str = "rackwatch."
    partitions: int = 12
    replication_factor: int = 1


@dataclass(frozen=True)
class ClickHouseConfig:
    dsn: str = ""  # empty: chdb://<home>/clickhouse
    database: str = "rackwatch"
    # Retention per table, in days (TTL with ttl_only_drop_parts).
    ttl_days_metrics: int = 30
    ttl_days_metrics_1m: int = 180
    ttl_days_metrics_1h: int = 730
    ttl_days_logs: int = 30
    ttl_days_alerts: int = 365
    ttl_days_incidents: int = 365
    ttl_days_deadletter: int = 30
    ttl_days_sink_batches: int = 7
    dedup_window: int = 10_000  # insert blocks remembered for deduplication per table


@dataclass(frozen=True)
class AgentConfig:
    interval_s: float = 10.0
    host: str = ""  # empty: this machine's hostname
    labels: dict[str, str] = field(default_factory=dict)
    log_paths: tuple[str, ...] = ()
    kmsg: bool = False
    gpu: bool = True
    buffer_max_batches: int = 100_000
    buffer_memory_batches: int = 1_000


@dataclass(frozen=True)
class WorkerConfig:
    rules: str = ""  # empty: the default rule set shipped with rackwatch
    ewma_tau_s: float = 60.0
    wma_window: int = 5
    standby_replicas: int = 0
    max_future_skew_s: float = 300.0
    max_past_age_s: float = 7 * 86400.0
    # Longest a message waits for its processing batch to fill: the floor of alert
    # latency under light load. Under load batches fill before it (up to 500 messages).
    batch_wait_ms: float = 10.0
    # A worker killed without leaving the group is noticed after this; only then do its
    # partitions move (faust's default, 60 s, stalls those hosts for a minute).
    session_timeout_s: float = 10.0
    # An owned partition with input that has not moved for this long is sought back to
    # its next offset; if that does not help within as long again, the worker exits.
    stall_timeout_s: float = 60.0
    stats_interval_s: float = 60.0  # the periodic "worker: ..." info line
    metrics_host: str = "127.0.0.1"  # /metrics, /healthz, /readyz
    metrics_port: int = 9464  # 0: no endpoint


@dataclass(frozen=True)
class SinkConfig:
    batch_rows: int = 5000
    batch_interval_s: float = 1.0
    max_pending_rows: int = 200_000
    serve_port: int = 18123  # embedded mode: read-only query endpoint on localhost
    serve_token: str = ""
    serve_host: str = "127.0.0.1"
    group_id: str = ""  # empty: <topic prefix>sink
    max_batch_rows: int = 100_000  # batches grow up to this while the store is busy
    max_message_bytes: int = 8 * 1024 * 1024  # larger messages are dead-lettered
    max_field_bytes: int = 1024 * 1024  # a larger string value dead-letters its row
    retry_initial_s: float = 0.2
    retry_max_s: float = 10.0
    shutdown_flush_s: float = 10.0


@dataclass(frozen=True)
class Config:
    home: Path = Path(".rackwatch")
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    clickhouse: ClickHouseConfig = field(default_factory=ClickHouseConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    sink: SinkConfig = field(default_factory=SinkConfig)

    @property
    def bootstrap(self) -> str:
        """Where the brokers are: the configured list, else the local broker."""
        return self.kafka.bootstrap or f"{self.broker.host}:{self.broker.port}"

    @property
    def uses_local_broker(self) -> bool:
        return not self.kafka.bootstrap

    @property
    def clickhouse_dsn(self) -> str:
        return self.clickhouse.dsn or f"chdb://{(self.home / 'clickhouse').resolve()}"

    def topic(self, name: str) -> str:
        """Full topic name: `topic("metrics")` -> "rackwatch.metrics"."""
        return self.kafka.topic_prefix + name


# Section name -> its dataclass, e.g. "kafka" -> KafkaConfig.
_SECTIONS: dict[str, type[Any]] = {
    f.name: type(getattr(Config(), f.name)) for f in dataclasses.fields(Config) if f.name != "home"
}


def _build(section: str, cls: type[Any], raw: dict[str, Any], where: str,
           problems: list[str]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        f = known.get(key)
        if f is None:
            problems.append(f"{where}: unknown key [{section}].{key} "
                            f"(known: {', '.join(sorted(known))})")
            continue
        default = getattr(cls(), key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, tuple):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            value = tuple(value) if ok else value
        elif isinstance(default, dict):
            ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        else:
            ok = isinstance(value, str)
        if not ok:
            problems.append(f"{where}: [{section}].{key} should be like {default!r}, "
                            f"got {value!r}")
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            problems.append(f"{where}: [{section}].{key} must not be negative, got {value!r}")
            continue
        kwargs[key] = value
    return cls(**kwargs)


_SECRET_PARAMS = re.compile(r"(?i)\b(password|passwd|pwd|token|secret|access_key|secret_key)"
                            r"=([^&;\s]+)")
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<pw>[^@/\s]*)@")


def mask_dsn(text: str) -> str:
    """`text` (a DSN, or a message that contains one) with its secrets replaced by ***:
    the password of `scheme://user:password@host`, and `password=`/`token=`-style
    query parameters. What operators print and log goes through this."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:***@", text)
    return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", text)


def find_home(cwd: Path) -> Path:
    """The state directory when RACKWATCH_HOME is unset: `.rackwatch` here or in the
    nearest parent directory that has one (as git finds `.git`), so a command run from a
    subdirectory of a project sees that project's store; else `./.rackwatch`."""
    for d in (cwd, *cwd.parents):
        candidate = d / ".rackwatch"
        if candidate.is_dir():
            return candidate if d != cwd else Path(".rackwatch")
    return Path(".rackwatch")


def parse_settings(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`--set SECTION.KEY=VALUE` items as a config mapping; VALUE is read as TOML (a
    number, true/false, "a string", [a, list]) and taken as a plain string otherwise."""
    raw: dict[str, Any] = {}
    problems = []
    for item in items:
        name, eq, text = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not (eq and dot and section and key):
            problems.append(f"--set {item!r}: expected SECTION.KEY=VALUE")
            continue
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        raw.setdefault(section, {})[key] = value
    if problems:
        raise ConfigError(problems)
    return raw


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None,
                settings: list[str] | tuple[str, ...] = ()) -> Config:
    """Read the config file (if any), then `settings` (`--set SECTION.KEY=VALUE`, which
    win over the file), then apply environment overrides."""
    env = dict(os.environ) if env is None else env
    home = Path(env["RACKWATCH_HOME"]) if "RACKWATCH_HOME" in env else find_home(Path.cwd())
    if path is None:
        path = env.get("RACKWATCH_CONFIG") or None
        if path is None and (home / "rackwatch.toml").is_file():
            path = home / "rackwatch.toml"
    raw: dict[str, Any] = {}
    where = "<defaults>"
    if path is not None:
        where = str(path)
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError([f"{where}: {e}"]) from e
    for section, values in parse_settings(settings).items():
        if isinstance(raw.get(section), dict):
            raw[section] = {**raw[section], **values}
        else:
            raw.setdefault(section, values)
    if settings:
        where = f"{where} + --set"
    problems: list[str] = []
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "home":
            if isinstance(value, str):
                home = Path(value) if "RACKWATCH_HOME" not in env else home
            else:
                problems.append(f"{where}: home should be a path string")
            continue
        if name not in _SECTIONS:
            problems.append(f"{where}: unknown section [{name}] (known: {', '.join(_SECTIONS)})")
            continue
        if not isinstance(value, dict):
            problems.append(f"{where}: [{name}] should be a table")
            continue
        sections[name] = _build(name, _SECTIONS[name], value, where, problems)
    if problems:
        raise ConfigError(problems)
    cfg = Config(home=home, **sections)
    overrides: dict[str, Any] = {}
    if "RACKWATCH_KAFKA_BOOTSTRAP" in env:
        overrides["kafka"] = dataclasses.replace(
            overrides.get("kafka", cfg.kafka), bootstrap=env["RACKWATCH_KAFKA_BOOTSTRAP"])
    if "RACKWATCH_TOPIC_PREFIX" in env:
        overrides["kafka"] = dataclasses.replace(
            overrides.get("kafka", cfg.kafka), topic_prefix=env["RACKWATCH_TOPIC_PREFIX"])
    if "RACKWATCH_CLICKHOUSE_DSN" in env:
        overrides["clickhouse"] = dataclasses.replace(cfg.clickhouse,
                                                      dsn=env["RACKWATCH_CLICKHOUSE_DSN"])
    return dataclasses.replace(cfg, **overrides) if overrides else cfg
