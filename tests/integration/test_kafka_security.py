"""Secured Kafka: every role over TLS and SASL against a real broker, and clear refusals."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.broker import free_port
from common.kafka import KafkaClient, consumer, producer
from tests.integration.harness import Pipeline
from tests.integration.receivers import Receiver
from tests.integration.secure import PASSWORD, USER, SecuredBroker, start_secured_broker
from tests.integration.test_forwarder import RULES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    sb = start_secured_broker(tmp_path_factory.mktemp("secured"))
    try:
        yield sb
    finally:
        sb.broker.stop()


def modes(sb: SecuredBroker) -> dict[str, KafkaClient]:
    c = sb.certs
    return {
        "ssl-mtls": KafkaClient(sb.ssl, "SSL", ca_file=str(c.ca), cert_file=str(c.client_cert),
                                key_file=str(c.client_key)),
        "sasl-ssl-scram512": KafkaClient(sb.sasl_ssl, "SASL_SSL", ca_file=str(c.ca),
                                         sasl_mechanism="SCRAM-SHA-512", sasl_username=USER,
                                         sasl_password=PASSWORD),
        "sasl-scram256": KafkaClient(sb.sasl_plaintext, "SASL_PLAINTEXT",
                                     sasl_mechanism="SCRAM-SHA-256", sasl_username=USER,
                                     sasl_password=PASSWORD),
        "sasl-plain": KafkaClient(sb.sasl_plaintext, "SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                                  sasl_username=USER, sasl_password=PASSWORD),
    }


def security_toml(sb: SecuredBroker, home: Path, *, password: str = PASSWORD,
                  ca: bool = True) -> str:
    """The [kafka] keys of a SASL_SSL SCRAM-SHA-512 client (the section header first)."""
    (home / "kafka-password").write_text(password + "\n")
    return (f'[kafka]\nsecurity_protocol = "SASL_SSL"\nsasl_mechanism = "SCRAM-SHA-512"\n'
            f'sasl_username = "{USER}"\nsasl_password_file = "{home / "kafka-password"}"\n'
            + (f'ssl_ca_file = "{sb.certs.ca}"\n' if ca else ""))


def add_security(home: Path, sb: SecuredBroker) -> None:
    """The keys into the [kafka] section of the config the harness wrote."""
    path = home / "rackwatch.toml"
    path.write_text(path.read_text().replace("[kafka]\n", security_toml(sb, home), 1))


def simulated(hook: Receiver) -> list[dict[str, object]]:
    """The alerts of the simulated fault (this machine's agent may raise its own)."""
    return [a for a in hook.alerts() if a["labels"].get("host") == "r00-gpu01"]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


class TestEveryMode:
    """Each security protocol and mechanism, through rackwatch's client factories."""

    @pytest.mark.parametrize("mode", ["ssl-mtls", "sasl-ssl-scram512", "sasl-scram256",
                                      "sasl-plain"])
    def test_round_trip(self, secured: SecuredBroker, mode: str) -> None:
        """A producer and a consumer built from the settings reach the broker."""
        kc = modes(secured)[mode]
        topic = f"sec-{mode}-{time.monotonic_ns()}"

        async def main() -> list[bytes]:
            p = producer(kc, acks="all")
            await p.start()
            try:
                await p.send_and_wait(topic, b"hello " + mode.encode(), key=b"k")
            finally:
                await p.stop()
            c = consumer(kc, topic, group_id=None, auto_offset_reset="earliest")
            await c.start()
            try:
                got = await c.getmany(timeout_ms=10_000)
                return [m.value for ms in got.values() for m in ms]
            finally:
                await c.stop()

        assert asyncio.run(main()) == [b"hello " + mode.encode()]


def test_every_role_over_sasl_ssl(tmp_path: Path, secured: SecuredBroker,
                                  topic_prefix: str) -> None:
    """Sink, worker (with faust's own clients), simulator, agent, forwarder and the
    command line's consumer all work over SASL_SSL with SCRAM-SHA-512; the sink's and the
    agent's /metrics and /readyz answer; the password appears in no output."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    pipe = Pipeline(tmp_path / "home", secured.sasl_ssl, topic_prefix, rules=rules,
                    serve_port=free_port())
    add_security(pipe.home, secured)
    hook = Receiver()
    sink_port, agent_port = free_port(), free_port()
    start_ms = (int(time.time()) - 900) * 1000
    pipe.ensure_topics()
    try:
        pipe.start("sink", "--set", f"sink.metrics_port={sink_port}", "sink")
        pipe.start("worker", "--set", f"worker.metrics_port={free_port()}", "worker")
        pipe.start("forward", "--set", f"forwarder.metrics_port={free_port()}", "forward",
                   "--webhook", hook.url)
        pipe.start("agent", "--set", f"agent.metrics_port={agent_port}", "agent",
                   "--interval", "1", "--no-gpu", "--host", "secured-agent",
                   "--label", "rack=rs", "--duration", "60")
        time.sleep(8)  # the forwarder's group starts at the topic's end: let it join
        sim = pipe.cli("simulate", "--hosts", "3", "--interval", "5", "--seed", "5",
                       "--start-ms", str(start_ms), "--duration", "600",
                       "--faults", "cpu_saturation(host=r00-gpu01)@60s:4m", timeout=120)
        assert sim.returncode == 0, sim.stderr
        pipe.wait_for("SELECT count() AS n FROM metrics WHERE host = 'r00-gpu01'",
                      lambda r: r and int(str(r[0]["n"])) > 0, timeout=120)
        pipe.wait_for("SELECT count() AS n FROM metrics WHERE host = 'secured-agent'",
                      lambda r: r and int(str(r[0]["n"])) > 0, timeout=60)
        deadline = time.monotonic() + 60
        while len(simulated(hook)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        follow = pipe.cli("alerts", "--from-beginning", "--limit", "1", "--json", timeout=60)
        sink_metrics, agent_metrics = scrape(sink_port), scrape(agent_port)
        ready = (status(sink_port, "/readyz"), status(agent_port, "/readyz"))
    finally:
        pipe.stop_all()
        hook.close()
    assert follow.returncode == 0, follow.stderr
    first = orjson.loads(follow.stdout.splitlines()[0])
    assert first["schema"] == "rackwatch.alert/v1"
    changes = [(a["status"], a["startsAt"], a["endsAt"]) for a in simulated(hook)]
    assert [c[0] for c in changes] == ["firing", "resolved"], changes
    assert sink_metrics["rackwatch_sink_messages_total"] > 0
    assert sink_metrics["rackwatch_sink_rows_stored_total"] > 0
    assert agent_metrics["rackwatch_agent_records_sent_total"] > 0
    assert ready == (200, 200)
    for name in ("sink", "worker", "forward", "agent"):
        assert PASSWORD not in pipe.log_of(name)
    assert PASSWORD not in follow.stdout + follow.stderr + sim.stdout + sim.stderr


class TestRefusals:
    """A wrong password or a certificate that cannot be verified: a message, exit 1."""

    def run_alerts(self, tmp_path: Path, sb: SecuredBroker, toml: str) -> tuple[int, str]:
        pipe = Pipeline(tmp_path / "home", sb.sasl_ssl, "refused.")
        (pipe.home / "rackwatch.toml").write_text(toml)
        res = pipe.cli("alerts", "--limit", "1", timeout=90)
        return res.returncode, res.stdout + res.stderr

    def test_wrong_password(self, tmp_path: Path, secured: SecuredBroker) -> None:
        """The login is refused: said so, with what to check; no traceback, no password."""
        (tmp_path / "home").mkdir()
        code, out = self.run_alerts(tmp_path, secured, security_toml(
            secured, tmp_path / "home", password="Wrong-pw-x1"))
        assert code == 1, out
        assert "refused the login" in out and "sasl_password" in out
        assert "Traceback" not in out and "Wrong-pw-x1" not in out

    def test_unknown_ca(self, tmp_path: Path, secured: SecuredBroker) -> None:
        """Without the CA the brokers' certificate is not trusted: said so, exit 1."""
        (tmp_path / "home").mkdir()
        code, out = self.run_alerts(tmp_path, secured, security_toml(
            secured, tmp_path / "home", ca=False))
        assert code == 1, out
        assert "TLS to Kafka at" in out and "ssl_ca_file" in out and "Traceback" not in out


def test_demo_never_shows_a_secret(tmp_path: Path, secured: SecuredBroker) -> None:
    """A demo run over the secured cluster, its password and the sink's query token in
    the configuration: neither appears in the demo's output, any role's log or
    `config check`, even with -vv."""
    home = tmp_path / "home"
    home.mkdir()
    token = "Tok-9q8w7e-never-shown"
    (home / "rackwatch.toml").write_text(
        security_toml(secured, home).replace(
            f'sasl_password_file = "{home / "kafka-password"}"\n',
            f'sasl_password = "{PASSWORD}"\n')
        + f'[sink]\nserve_token = "{token}"\nserve_port = {free_port()}\n')
    env = {**os.environ, "RACKWATCH_HOME": str(home),
           "RACKWATCH_KAFKA_BOOTSTRAP": secured.sasl_ssl,
           "RACKWATCH_TOPIC_PREFIX": f"demo{time.monotonic_ns()}."}
    demo = subprocess.run([sys.executable, "-m", "rackwatch.cli", "demo", "--duration", "25",
                           "--hosts", "4"], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    check = subprocess.run([sys.executable, "-m", "rackwatch.cli", "-vv", "config", "check"],
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "alert state changes" in demo.stdout and check.returncode == 0
    shown = demo.stdout + demo.stderr + check.stdout + check.stderr
    logs = [p for p in home.rglob("*") if p.is_file()
            and p.name not in ("rackwatch.toml", "kafka-password")]
    assert any(p.suffix == ".log" for p in logs)
    for secret in (PASSWORD, token):
        assert secret not in shown
        leaked = [str(p) for p in logs if secret.encode() in p.read_bytes()]
        assert leaked == [], f"{secret} in {leaked}"
