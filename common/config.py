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

# size: the one configuration model (issue 14): every key of every role declared here, in
# one place, is what keeps the generated reference, `config check` and the roles from
# drifting; the sections are data (declarations with their docs), not logic, and the
# loader beside them is ~150 lines.
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.dsn import mask_dsn

__all__ = ["AgentConfig", "BrokerConfig", "ClickHouseConfig", "Config", "ConfigError",
           "ConsoleConfig", "CorrelatorSection", "ForwarderConfig", "IdentityConfig",
           "KafkaConfig", "RoutingConfig", "ScrapeTargetConfig", "SinkConfig", "WorkerConfig",
           "effective", "find_home", "key", "load_config", "mask_dsn", "parse_settings",
           "read_secret", "sections"]


class ConfigError(ValueError):
    """Every problem found in a configuration, reported together."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


def key(default: Any, doc: str, *, min: float | None = None, above: float | None = None,
        secret: bool = False, factory: Any = None, table: type[Any] | None = None,
        choices: tuple[str, ...] = ()) -> Any:
    """One configuration key: its default, what it is for (the reference in
    docs/configuration.md is generated from these), and the range it must be in
    (`min`: at least, `above`: strictly more than; `choices`: one of these strings).
    Secret keys are masked when shown. `table` makes the key a list of tables
    (`[[section.key]]` in TOML), each read and checked as that dataclass, whose fields
    are keys of their own."""
    meta = {"doc": doc, "min": min, "above": above, "secret": secret, "table": table,
            "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class BrokerConfig:
    """The local single-node KRaft broker that `rackwatch broker` manages."""

    version: str = key("3.9.1", "Apache Kafka version whose jars are fetched from Maven "
                       "Central (3.9.x keeps the protocol versions faust and aiokafka use)")
    scala: str = key("2.13", "Scala version of the Kafka jars")
    host: str = key("127.0.0.1", "address the local broker listens on")
    port: int = key(19092, "client port of the local broker", min=1)
    controller_port: int = key(19093, "KRaft controller port of the local broker", min=1)
    heap: str = key("512m", "JVM heap of the local broker (-Xmx)")
    start_timeout_s: float = key(90.0, "how long `broker start` waits for the broker",
                                 above=0)


@dataclass(frozen=True)
class KafkaConfig:
    """The Kafka cluster every role talks to."""

    bootstrap: str = key("", "brokers, comma-separated host:port; empty: the local broker "
                         "(env RACKWATCH_KAFKA_BOOTSTRAP)")
    topic_prefix: str = key("rackwatch.", "prefix of every topic and consumer group "
                            "(env RACKWATCH_TOPIC_PREFIX)")
    partitions: int = key(12, "partitions of the topics rackwatch creates: the most workers "
                          "that can share the load", min=1)
    replication_factor: int = key(1, "replicas of the topics rackwatch creates", min=1)
    security_protocol: str = key("PLAINTEXT", "how every client reaches the brokers: TLS "
                                 "(SSL), SASL, or both (SASL_SSL)",
                                 choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"))
    ssl_ca_file: str = key("", "PEM file of the CA that signed the brokers' certificates "
                           "(SSL, SASL_SSL); empty: the system's CAs")
    ssl_cert_file: str = key("", "PEM client certificate, for brokers that require one "
                             "(mutual TLS)")
    ssl_key_file: str = key("", "PEM private key of the client certificate")
    ssl_key_password: str = key("", "password of an encrypted client key", secret=True)
    ssl_check_hostname: bool = key(True, "check that a broker's certificate names the host "
                                   "connected to")
    sasl_mechanism: str = key("PLAIN", "SASL mechanism (SASL_PLAINTEXT, SASL_SSL)",
                              choices=("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"))
    sasl_username: str = key("", "SASL user name")
    sasl_password: str = key("", "SASL password (or sasl_password_file)", secret=True)
    sasl_password_file: str = key("", "file whose first line is the SASL password (wins "
                                  "over sasl_password)")


@dataclass(frozen=True)
class ClickHouseConfig:
    """The store: embedded chDB or a ClickHouse server, and what it keeps."""

    dsn: str = key("", "chdb:///path (embedded) or http(s)://host:8123 (a server; options: "
                   "?compress=, ?connect_timeout=, ...); empty: chdb://<home>/clickhouse "
                   "(env RACKWATCH_CLICKHOUSE_DSN)", secret=True)
    user: str = key("", "server user (wins over a user in the DSN); empty: the DSN's, else "
                    "default")
    password: str = key("", "server password (wins over one in the DSN)", secret=True)
    password_file: str = key("", "file whose first line is the server password (wins over "
                             "password)")
    ca_file: str = key("", "https: PEM file of the CA that signed the server's certificate; "
                       "empty: the system's CAs")
    verify: bool = key(True, "https: verify the server's certificate")
    database: str = key("rackwatch", "database that holds the tables")
    ttl_days_metrics: int = key(30, "days of raw samples kept", min=1)
    ttl_days_metrics_1m: int = key(180, "days of the per-minute rollup kept", min=1)
    ttl_days_metrics_1h: int = key(730, "days of the per-hour rollup kept", min=1)
    ttl_days_logs: int = key(30, "days of log records kept", min=1)
    ttl_days_alerts: int = key(365, "days of alert state changes kept", min=1)
    ttl_days_incidents: int = key(365, "days of incident messages kept", min=1)
    ttl_days_deadletter: int = key(30, "days of dead letters kept", min=1)
    ttl_days_sink_batches: int = key(7, "days of the sink's insert journal kept", min=1)
    ttl_days_alert_actions: int = key(730, "days of the alert handling record kept "
                                      "(alert_actions: assigned, acknowledged, ...)", min=1)
    dedup_window: int = key(10_000, "insert blocks each table remembers for deduplication "
                            "(one insert per second per partition covers hours of retries)",
                            min=1)


@dataclass(frozen=True)
class ScrapeTargetConfig:
    """One exporter endpoint the agent reads: a table per target."""

    name: str = key("", "the target's name: the `target` label of its agent.scrape.* samples "
                    "and the default `replica` of its serving samples (required, unique)")
    url: str = key("", "http(s)://host:port/path of its Prometheus text or OpenMetrics "
                   "endpoint (required)")
    labels: dict[str, str] = key(None, "labels put on every sample read from it (model, "
                                 "replica, ...); they win over the exporter's", factory=dict)
    interval_s: float = key(0.0, "seconds between scrapes; 0: the agent's interval_s", min=0)
    timeout_s: float = key(5.0, "a scrape that takes longer fails (at most the interval)",
                           above=0)
    bearer_token: str = key("", "sent as `Authorization: Bearer ...`", secret=True)
    bearer_token_file: str = key("", "file holding the bearer token, read at every scrape "
                                 "(rotated tokens work)")
    tls_ca_file: str = key("", "CA bundle that verifies an https target (empty: the "
                           "system's)")
    tls_cert_file: str = key("", "client certificate for mutual TLS (PEM)")
    tls_key_file: str = key("", "its private key (PEM)")
    tls_insecure_skip_verify: bool = key(False, "accept any server certificate (testing "
                                         "only)")
    include: tuple[str, ...] = key(("*",), "globs of uncatalogued metric families to pass "
                                   "through under their own names")
    exclude: tuple[str, ...] = key(("go_*", "process_*", "python_*", "promhttp_*", "node_*"),
                                   "globs of families never passed through (runtime "
                                   "metrics; node_exporter's thousands beyond host metrics)")
    max_series: int = key(200, "at most this many uncatalogued series pass through from the "
                          "target; the rest are counted (agent.scrape.dropped_series)", min=0)


@dataclass(frozen=True)
class AgentConfig:
    """`rackwatch agent`: what this host publishes."""

    interval_s: float = key(10.0, "seconds between metric batches", above=0)
    host: str = key("", "host id on every event; empty: this machine's hostname")
    labels: dict[str, str] = key(None, "topology labels on every event (rack, cluster, "
                                 "zone, role, node, namespace...)", factory=dict)
    log_paths: tuple[str, ...] = key((), "log files to tail (globs); rotation is followed")
    read_existing_logs: bool = key(False, "ship what a log file already holds when first "
                                   "seen (default: only what is written from then on)")
    log_poll_s: float = key(1.0, "seconds between looks at the tailed files", above=0)
    kmsg: bool = key(False, "ship kernel messages from /dev/kmsg (needs CAP_SYSLOG)")
    kmsg_path: str = key("/dev/kmsg", "where kernel messages are read")
    gpu: bool = key(True, "read GPUs through NVML when a driver is present")
    per_core: bool = key(True, "publish per-core CPU usage")
    host_metrics: bool = key(True, "read CPU, memory, disks and network through psutil "
                             "(false: a node_exporter scrape target supplies them)")
    scrape: tuple[ScrapeTargetConfig, ...] = key((), "Prometheus exporters to read into "
                                                 "the same batches: `[[agent.scrape]]` "
                                                 "tables, keys below",
                                                 table=ScrapeTargetConfig)
    buffer_max_batches: int = key(100_000, "events kept (memory, then spilled to disk) "
                                  "while the broker is away; the oldest go beyond it", min=1)
    buffer_memory_batches: int = key(1_000, "of those, how many are kept in memory", min=1)
    flush_timeout_s: float = key(10.0, "how long a stopping agent tries to send what it "
                                 "holds before keeping it for its next start", min=0)
    metrics_host: str = key("127.0.0.1", "address of the agent's /metrics, /healthz and "
                            "/readyz")
    metrics_port: int = key(0, "port of that endpoint (0: none; 9467 is rackwatch's usual "
                            "agent port)", min=0)


@dataclass(frozen=True)
class WorkerConfig:
    """`rackwatch worker`: stream processing, rules, incidents."""

    rules: str = key("", "rule file (YAML); empty: the rules shipped with rackwatch")
    ewma_tau_s: float = key(60.0, "time constant of the EWMA every series is smoothed with",
                            above=0)
    wma_window: int = key(5, "samples in the weighted moving average of every series", min=1)
    standby_replicas: int = key(0, "standby copies of each state partition on other "
                                "workers (faster take-over)", min=0)
    max_future_skew_s: float = key(300.0, "events stamped further in the future than this "
                                   "are dead-lettered (ts_future)", min=0)
    max_past_age_s: float = key(7 * 86400.0, "events older than this are dead-lettered "
                                "(ts_past)", min=0)
    batch_wait_ms: float = key(10.0, "longest a message waits for its processing batch to "
                               "fill: the floor of alert latency under light load", above=0)
    batch_max_ms: float = key(50.0, "a take batch is processed in parts of at most this much "
                              "processing time, each part's alerts delivered and records "
                              "sent before the next starts (0: whole batches): the ceiling "
                              "an alert waits behind its batch under load", min=0)
    state_interval_ms: float = key(1000.0, "changed host states are written to their "
                                   "changelog at most this often, always after the outputs "
                                   "they imply and before every commit (0: after every "
                                   "batch; above 1000 acts as 1000, the commit interval)",
                                   min=0)
    session_timeout_s: float = key(10.0, "a worker gone without leaving the group is noticed "
                                   "after this; only then do its partitions move", above=0)
    stall_timeout_s: float = key(60.0, "an owned partition with input that has not moved for "
                                 "this long is sought back to its next offset; if that does "
                                 "not help within as long again, the worker exits", above=0)
    stats_interval_s: float = key(60.0, "seconds between the worker's 'worker: ...' info lines",
                                  above=0)
    metrics_host: str = key("127.0.0.1", "address of /metrics, /healthz and /readyz")
    metrics_port: int = key(9464, "port of /metrics, /healthz and /readyz (0: none); a port "
                            "in use falls back to a free one, said in the log", min=0)


@dataclass(frozen=True)
class CorrelatorSection:
    """`rackwatch worker` and `replay`: how alerts and faults are grouped into incidents
    (docs/incidents.md). Times in seconds here, event time in the correlator."""

    window_s: float = key(300.0, "events closer than this belong to one incident; one "
                          "whose alerts all resolved closes after this long quiet", above=0)
    grace_s: float = key(45.0, "a host incident waits this long before it is published, to "
                         "see whether its rack or group fails as a whole", min=0)
    update_interval_s: float = key(30.0, "at most one `updated` per incident this often",
                                   min=0)
    place_labels: tuple[str, ...] = key(("rack",), "topology labels naming a place hosts "
                                        "fail together in (rack, node, zone), first present "
                                        "wins; a host with none has host incidents only")
    rack_min_hosts: int = key(3, "distinct hosts of one place affected within the window "
                              "that make a place incident", min=1)
    rack_min_fraction: float = key(0.5, "...or this fraction of the place's hosts (size "
                                   "known from the events' rack_size)", above=0)
    rack_fraction_floor: int = key(2, "hosts the fraction rule needs at least", min=1)
    group_labels: tuple[str, ...] = key(("job",), "labels whose values form groups (job id, "
                                        "switch, PDU) for group incidents")
    group_min_hosts: int = key(2, "distinct hosts sharing a group value that make a group "
                               "incident", min=1)
    fault_lookback_s: float = key(1800.0, "how far back a group incident looks for a "
                                  "member's first hard fault", above=0)
    service_domain_labels: tuple[str, ...] = key(("cluster",), "labels whose value bounds a "
                                                 "service call graph (service incidents)")
    service_grace_s: float = key(60.0, "a service incident waits this long before its "
                                 "suspects are first ranked", min=0)
    service_burst_s: float = key(180.0, "trouble starting this long after the newest in the "
                                 "open service incidents opens a new one", above=0)
    onset_tolerance_s: float = key(60.0, "starts of trouble this close count as one moment",
                                   min=0)
    call_graph: str = key("", "YAML file of known calls, caller: [callee, ...] (empty: "
                          "none; edges are also learned)")
    learn_call_graph: bool = key(True, "learn caller -> callee edges from trouble that "
                                 "starts together and from shared trace ids")
    max_open_s: float = key(6 * 3600.0, "an incident with no event for this long is "
                            "resolved even if an alert never reported its resolution",
                            above=0)


@dataclass(frozen=True)
class SinkConfig:
    """`rackwatch sink`: batching, exactly-once inserts, the embedded store's query port."""

    group_id: str = key("", "consumer group; empty: <topic prefix>sink")
    batch_rows: int = key(50_000, "a round (one insert per table across all partitions) is "
                          "written once the sink holds this many rows...", min=1)
    batch_interval_s: float = key(1.0, "...or its oldest row has waited this long", above=0)
    max_batch_rows: int = key(100_000, "one partition's batch is cut at this size (a round "
                              "may hold several)", min=1)
    max_pending_rows: int = key(200_000, "rows held before the sink stops reading (back "
                                "pressure)", min=1)
    serve_host: str = key("127.0.0.1", "embedded store: address of the read-only query "
                          "endpoint other commands use while the sink holds the store")
    serve_port: int = key(18123, "embedded store: port of that endpoint (0: a free one)",
                          min=0)
    serve_token: str = key("", "embedded store: bearer token that endpoint requires (empty: "
                           "none; it listens on localhost)", secret=True)
    max_message_bytes: int = key(8 * 1024 * 1024, "larger Kafka messages are dead-lettered",
                                 min=1)
    max_field_bytes: int = key(1024 * 1024, "a larger string value dead-letters its row",
                               min=1)
    retry_initial_s: float = key(0.2, "first wait before retrying a failed insert", above=0)
    retry_max_s: float = key(10.0, "longest wait between insert retries", above=0)
    shutdown_flush_s: float = key(10.0, "how long a stopping sink keeps trying to flush",
                                  min=0)
    metrics_host: str = key("127.0.0.1", "address of the sink's /metrics, /healthz and "
                            "/readyz")
    metrics_port: int = key(9465, "port of that endpoint (0: none); a port in use falls "
                            "back to a free one, said in the log", min=0)
    ready_lag: int = key(10_000, "/readyz: ready while fewer messages than this wait to be "
                         "stored", min=1)


@dataclass(frozen=True)
class ForwarderConfig:
    """`rackwatch forward`: alert state changes to Alertmanager and webhooks."""

    alertmanager_urls: tuple[str, ...] = key((), "Alertmanager base URLs "
                                             "(http://am:9093); alerts go to /api/v2/alerts")
    webhook_urls: tuple[str, ...] = key((), "URLs that receive Alertmanager's webhook payload "
                                        "(version 4) by POST")
    group_id: str = key("", "consumer group prefix; each target has its own group "
                        "<prefix>.<target>; empty: <topic prefix>forward")
    resend_interval_s: float = key(60.0, "firing alerts are sent again this often, so "
                                   "Alertmanager keeps them (Prometheus: 1 minute)", above=0)
    ends_at_after_s: float = key(240.0, "a firing alert's endsAt is this far ahead: "
                                 "Alertmanager resolves it by itself when rackwatch stops "
                                 "sending (Prometheus: 4 re-sends)", above=0)
    max_batch: int = key(64, "alerts per request at most", min=1)
    max_requests_per_s: float = key(5.0, "requests per second per target at most", above=0)
    timeout_s: float = key(10.0, "a request without an answer after this fails", above=0)
    retry_initial_s: float = key(0.5, "first wait before a failed request is retried",
                                 above=0)
    retry_max_s: float = key(30.0, "longest wait between retries (with jitter)", above=0)
    bearer_token: str = key("", "Authorization: Bearer token sent to every target",
                            secret=True)
    bearer_token_file: str = key("", "file whose first line is that token (wins over "
                                 "bearer_token)")
    ca_file: str = key("", "https targets: PEM CA file; empty: the system's CAs")
    generator_url: str = key("http://localhost:3000/d/rackwatch-alerts/alerts-and-incidents"
                             "?var-fingerprint={fingerprint}", "generatorURL of each alert "
                             "({fingerprint}, {rule}, {host} are filled in): where the "
                             "alert's source is shown")
    metrics_host: str = key("127.0.0.1", "address of the forwarder's /metrics, /healthz and "
                            "/readyz")
    metrics_port: int = key(9466, "port of that endpoint (0: none); a port in use falls "
                            "back to a free one", min=0)


@dataclass(frozen=True)
class ConsoleConfig:
    """`rackwatch console`: the web console (docs/console.md)."""

    host: str = key("127.0.0.1", "address it listens on (localhost: it has no login)")
    port: int = key(8470, "port it listens on (0: a free one; in use: a free one, said in "
                    "the log)", min=0)
    scrape: tuple[str, ...] = key((), "metrics endpoints the health panel shows; empty: the "
                                  "configured worker's /metrics and the sink's /ping")
    scrape_interval_s: float = key(2.0, "seconds between scrapes of those", above=0)
    scrape_timeout_s: float = key(1.5, "timeout of one scrape", above=0)
    inventory_interval_s: float = key(30.0, "how often the host list is read from the store",
                                      above=0)
    inventory_window_s: float = key(900.0, "hosts that reported within this are on the grid",
                                    above=0)
    bootstrap_window_s: float = key(86_400.0, "alerts and incidents changed within this are "
                                    "loaded at start", above=0)
    replay_overlap_s: float = key(60.0, "topic messages re-read from before the start", min=0)
    fade_s: float = key(120.0, "resolved alerts and incidents stay this long, fading out",
                        min=0)
    group_labels: tuple[str, ...] = key(("rack", "cluster", "zone", "role"), "topology "
                                        "labels the fleet grid groups hosts by, first found")
    gpu_metric: str = key("gpu.utilization", "a per-GPU metric every GPU reports")
    rules: str = key("", "rule file whose thresholds the charts draw; empty: [worker] rules")
    push_interval_s: float = key(0.25, "live changes are sent to pages this often", above=0)
    max_alerts: int = key(50_000, "alerts kept in the console's memory", min=1)


@dataclass(frozen=True)
class RoutingConfig:
    """Who owns an alert: the routing tree (docs/rules.md, "Routing")."""

    file: str = key("", "routing tree (YAML, Alertmanager-like routes giving every alert an "
                    "assignee and a priority); empty: the tree shipped with rackwatch "
                    "(everything to ops, priority by severity)")


@dataclass(frozen=True)
class IdentityConfig:
    """Who is acting: `rackwatch ack`, `silence`, `resolve`, `reopen`, `assign`."""

    user: str = key("", "the name handling actions are recorded under when --by is not "
                    "given; empty and no --by: the action is refused (no anonymous "
                    "actions)")


@dataclass(frozen=True)
class Config:
    home: Path = Path(".rackwatch")
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    clickhouse: ClickHouseConfig = field(default_factory=ClickHouseConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    correlator: CorrelatorSection = field(default_factory=CorrelatorSection)
    sink: SinkConfig = field(default_factory=SinkConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    forwarder: ForwarderConfig = field(default_factory=ForwarderConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)

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
        table = f.metadata.get("table")
        if table is not None:
            kwargs[key] = _tables(f"{section}.{key}", table, value, where, problems)
            continue
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
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            problems.append(f"{where}: [{section}].{key} must be one of {', '.join(choices)}, "
                            f"got {value!r}")
            continue
        why = _out_of_range(f, value)
        if why:
            problems.append(f"{where}: [{section}].{key} {why}, got {value!r}")
            continue
        kwargs[key] = value
    return cls(**kwargs)


def _tables(name: str, cls: type[Any], value: Any, where: str,
            problems: list[str]) -> tuple[Any, ...]:
    """A `[[name]]` list of tables, each read as `cls` (problems named by position)."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.append(f"{where}: [[{name}]] should be a list of tables, got {value!r:.60}")
        return ()
    return tuple(_build(f"{name}[{i}]", cls, v, where, problems) for i, v in enumerate(value))


def _out_of_range(f: dataclasses.Field[Any], value: Any) -> str | None:
    """Why a number is outside its key's range (None: it is inside)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    low, above = f.metadata.get("min"), f.metadata.get("above")
    if above is not None and not value > above:
        return f"must be more than {above:g}"
    if low is not None and value < low:
        return f"must be at least {low:g}"
    if low is None and above is None and value < 0:
        return "must not be negative"
    return None


def sections() -> dict[str, type[Any]]:
    """Section name -> its dataclass, in the order the reference lists them."""
    return dict(_SECTIONS)


def effective(cfg: Config) -> dict[str, dict[str, Any]]:
    """The configuration in effect, section by section, secrets masked: what
    `rackwatch config check` prints."""
    out: dict[str, dict[str, Any]] = {"": {"home": str(cfg.home)}}
    for name in _SECTIONS:
        out[name] = _shown(getattr(cfg, name))
    return out


def _shown(sec: Any) -> dict[str, Any]:
    """A section's (or a table's) keys as plain values, secrets masked."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(sec):
        v = getattr(sec, f.name)
        if f.metadata.get("secret") and isinstance(v, str) and v:
            v = mask_dsn(v) if "://" in v else "***"
        if f.metadata.get("table") is not None:
            v = [_shown(t) for t in v]
        values[f.name] = list(v) if isinstance(v, tuple) else v
    return values


def read_secret(value: str, path: str, what: str) -> str:
    """A secret given in the configuration or, winning over it, in a file (its first
    line): files let a secret stay out of the config file, the environment and `ps`."""
    if not path:
        return value
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError([f"{what}: cannot read {path}: {e.strerror or e}"]) from e
    return lines[0].strip() if lines else ""


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
    cfg = dataclasses.replace(cfg, **overrides) if overrides else cfg
    from common.checks import config_problems  # (it reads this module's classes)

    problems = config_problems(cfg, where + (" + environment" if overrides else ""))
    if problems:
        raise ConfigError(problems)
    return cfg
