"""docker-compose.yml: valid Compose, and consistent with rackwatch itself."""

from __future__ import annotations

import base64
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from common.broker import LocalBroker
from common.config import BrokerConfig, SinkConfig, WorkerConfig
from tests.unit.deploy import compose
from tests.unit.deploy.helpers import (
    REPO,
    check_command,
    config_key_known,
    env_read_by_rackwatch,
    tool,
)

MODEL = compose.load()
SERVICES = compose.rackwatch_services(MODEL)
# role -> its metrics port, as the configuration model declares it (pending roles: 94xx)
ROLE_PORTS = {"worker": WorkerConfig().metrics_port, "sink": 9465, "forwarder": 9466,
              "agent": 9467}
CONFIG_FILE = REPO / "deploy" / "compose" / "rackwatch.toml"


def _kafka_env() -> dict[str, str]:
    return compose.env_map(MODEL["services"]["kafka"])


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    out = {}
    for item in value.split(","):
        name, _, rest = item.partition("://")
        host, _, port = rest.rpartition(":")
        out[name] = (host, int(port))
    return out


class TestSpecification:
    """The files are Compose as its specification defines it."""

    @pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.gpu.yml"])
    def test_valid_against_the_compose_specification(self, name: str) -> None:
        """check-jsonschema's copy of the compose-spec schema accepts the file."""
        exe = tool("check-jsonschema")
        run = subprocess.run([str(exe), "--builtin-schema", "vendor.compose-spec",
                              str(REPO / name)], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr

    def test_every_variable_has_a_value_or_says_what_to_set(self) -> None:
        """Each ${VAR} is in .env, has a default, or fails with a message (secrets)."""
        text = (REPO / "docker-compose.yml").read_text()
        env = compose.dotenv()
        for name in compose.variables(text):
            if name in env:
                continue
            assert f"${{{name}:-" in text or f"${{{name}:?" in text, name
        for name in compose.SECRETS:
            with pytest.raises(ValueError, match=name):
                compose.load(env={name: ""})


class TestCommands:
    """Every service runs a real rackwatch command line."""

    @pytest.mark.parametrize("name", sorted(SERVICES))
    def test_command_is_a_real_subcommand_with_valid_flags(self, name: str) -> None:
        """The real parser (rackwatch.cli.build_parser) accepts the command."""
        check_command(SERVICES[name]["command"])

    @pytest.mark.parametrize("name", sorted(SERVICES))
    def test_environment_is_read_by_rackwatch(self, name: str) -> None:
        """No variable rackwatch would ignore (names found in the code itself)."""
        read = env_read_by_rackwatch()
        unknown = set(compose.env_map(SERVICES[name])) - read
        assert not unknown, f"{name}: rackwatch reads none of {unknown} (it reads {read})"

    def test_the_agent_keeps_the_shared_environment(self) -> None:
        """The agent's own variables extend the shared map instead of replacing it."""
        shared = compose.env_map(SERVICES["worker"])
        agent = compose.env_map(SERVICES["agent"])
        assert set(shared) <= set(agent)
        assert agent["RACKWATCH_HOME"] == shared["RACKWATCH_HOME"]


class TestConfigFile:
    """The configuration the containers share is rackwatch's."""

    KEYS = [(s, k) for s, body in tomllib.loads(CONFIG_FILE.read_text()).items()
            for k in body]

    @pytest.mark.parametrize(("section", "key"), KEYS)
    def test_every_key_is_in_the_configuration_model(self, section: str, key: str) -> None:
        """Each [section] key exists (or is one another branch adds, said so)."""
        why = config_key_known(section, key)
        if why:
            pytest.skip(f"[{section}] {key}: {why}")

    def test_every_container_reads_it(self) -> None:
        for name, service in SERVICES.items():
            env = compose.env_map(service)
            mounts = [v.split(":")[1] for v in service.get("volumes", [])]
            assert env["RACKWATCH_CONFIG"] in mounts, name

    @pytest.mark.parametrize("role", ["worker", "sink", "forwarder", "agent"])
    def test_health_checks_ask_the_roles_own_port(self, role: str) -> None:
        """The health check's port is the role's metrics port in the shared file, which
        listens beyond the container's loopback unless the role shares the host's."""
        conf = tomllib.loads(CONFIG_FILE.read_text())[role]
        assert conf["metrics_port"] == ROLE_PORTS[role]
        service = SERVICES[role]
        assert service["healthcheck"]["test"] == ["CMD", "rackwatch-healthcheck",
                                                  str(ROLE_PORTS[role])]
        host_net = service.get("network_mode") == "host"
        assert conf["metrics_host"] == ("127.0.0.1" if host_net else "0.0.0.0")


class TestKafka:
    """Kafka's listeners, storage and limits line up with the clients."""

    def test_same_version_as_the_local_broker(self) -> None:
        assert MODEL["services"]["kafka"]["image"] == f"apache/kafka:{BrokerConfig().version}"

    def test_data_is_where_kafka_writes(self) -> None:
        """KAFKA_LOG_DIRS is the mounted volume (unset it defaults under /tmp)."""
        env = _kafka_env()
        mounts = {v.split(":")[1]: v.split(":")[0] for v in
                  MODEL["services"]["kafka"]["volumes"]}
        assert env["KAFKA_LOG_DIRS"] in mounts
        assert mounts[env["KAFKA_LOG_DIRS"]] in MODEL["volumes"]

    def test_message_limit_matches_rackwatch(self, tmp_path: Path) -> None:
        """The broker takes what rackwatch sends: the sink's limit and the local
        broker's message.max.bytes."""
        props = LocalBroker(BrokerConfig(), tmp_path)._write_config().read_text()
        local = dict(line.split("=", 1) for line in props.splitlines() if "=" in line)
        env = _kafka_env()
        assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) == SinkConfig().max_message_bytes
        assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) == int(local["message.max.bytes"])
        assert int(env["KAFKA_REPLICA_FETCH_MAX_BYTES"]) >= int(env["KAFKA_MESSAGE_MAX_BYTES"])

    def test_listeners_and_clients_line_up(self) -> None:
        """Every advertised listener exists and has a protocol; containers bootstrap from
        the internal one, the host-network agent from the published host one."""
        env = _kafka_env()
        listeners = _listeners(env["KAFKA_LISTENERS"])
        advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
        protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
                         .split(","))
        assert set(advertised) <= set(listeners) and set(listeners) <= set(protocols)
        assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
        voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")[1]
        assert int(voter.split(":")[1]) == listeners["CONTROLLER"][1]
        internal = "{}:{}".format(*advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]])
        host_side = "{}:{}".format(*advertised["HOST"])
        published = {p.rsplit(":", 1)[0]: int(p.rsplit(":", 1)[1])
                     for p in MODEL["services"]["kafka"]["ports"]}
        assert published[host_side] == listeners["HOST"][1]
        for name, service in SERVICES.items():
            bootstrap = compose.env_map(service)["RACKWATCH_KAFKA_BOOTSTRAP"]
            want = host_side if service.get("network_mode") == "host" else internal
            assert bootstrap == want, name

    def test_cluster_id_is_a_kraft_id(self) -> None:
        """16 bytes in URL-safe base64, as kafka-storage.sh format requires."""
        cid = _kafka_env()["CLUSTER_ID"]
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


class TestVolumesAndOrder:
    """State survives restarts; services start once what they need is healthy."""

    def test_named_volumes_are_declared_and_used(self) -> None:
        used = set()
        for service in MODEL["services"].values():
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith((".", "/")):
                    if source.startswith("."):
                        assert (REPO / source).exists(), volume
                    continue
                used.add(source)
        assert used == set(MODEL["volumes"])

    @pytest.mark.parametrize("name", ["sink", "agent", "simulator"])
    def test_roles_with_state_keep_it_on_a_volume(self, name: str) -> None:
        """Their home is a named volume (the root filesystem is read-only)."""
        home = compose.env_map(SERVICES[name])["RACKWATCH_HOME"]
        sources = {v.split(":")[1]: v.split(":")[0] for v in SERVICES[name]["volumes"]}
        assert sources[home] in MODEL["volumes"]

    def test_depends_on_waits_for_health(self) -> None:
        for name, service in MODEL["services"].items():
            for dep, cond in (service.get("depends_on") or {}).items():
                assert cond["condition"] == "service_healthy", (name, dep)
                assert "healthcheck" in MODEL["services"][dep], dep
                assert not MODEL["services"][dep]["healthcheck"].get("disable"), dep

    def test_worker_replicas_fit_the_partitions(self) -> None:
        conf = tomllib.loads(CONFIG_FILE.read_text())
        assert 1 <= int(SERVICES["worker"]["deploy"]["replicas"]) <= conf["kafka"]["partitions"]


class TestHostAccess:
    """The agent sees the host; GPU hosts add NVML through an override file."""

    def test_agent_sees_the_host(self) -> None:
        agent: dict[str, Any] = SERVICES["agent"]
        assert agent["pid"] == "host" and agent["network_mode"] == "host"
        targets = {v.split(":")[1] for v in agent["volumes"]}
        assert {"/sys", "/var/log"} <= targets
        assert "/dev/kmsg:/dev/kmsg" in agent["devices"]
        assert agent["cap_drop"] == ["ALL"] and set(agent["cap_add"]) == {"SYSLOG",
                                                                        "DAC_READ_SEARCH"}
        check_command(agent["command"])
        assert "--kmsg" in agent["command"]

    def test_gpu_override_gives_the_agent_nvml(self) -> None:
        model = compose.load(("docker-compose.yml", "docker-compose.gpu.yml"))
        devices = model["services"]["agent"]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia" and "utility" in devices[0]["capabilities"]
        assert model["services"]["agent"]["pid"] == "host"  # the base is kept

    def test_demo_fleet_is_a_profile(self) -> None:
        assert SERVICES["simulator"]["profiles"] == ["demo"]
        assert "simulate" in SERVICES["simulator"]["command"]


class TestClickHouse:
    """The server gets the users rackwatch logs in as, with passwords it is given."""

    def test_passwords_come_from_the_environment_it_gets(self) -> None:
        service = MODEL["services"]["clickhouse"]
        env = compose.env_map(service)
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            if source.endswith(".xml"):
                text = (REPO / source).read_text()
                for var in re.findall(r'from_env="([A-Z_]+)"', text):
                    assert var in env, (source, var)

    def test_the_sink_logs_in_as_a_declared_user(self) -> None:
        dsn = compose.env_map(SERVICES["sink"])["RACKWATCH_CLICKHOUSE_DSN"]
        user = dsn.split("//")[1].split(":")[0]
        users = (REPO / "deploy/clickhouse/users.d/rackwatch.xml").read_text()
        assert f"<{user}>" in users
