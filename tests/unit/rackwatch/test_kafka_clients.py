"""Every Kafka client is built from the [kafka] settings, and the settings hang together."""

from __future__ import annotations

import ast
import re
import ssl
from pathlib import Path

import pytest

from common.config import ConfigError, load_config
from common.kafka import KafkaClient, client_args, kafka_client

REPO = Path(__file__).resolve().parents[3]
PRODUCT = ("common", "producers", "streams", "sinks", "rackwatch")
_CLIENTS = re.compile(r"^AIOKafka(Producer|Consumer|AdminClient)$")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rackwatch.toml"
    p.write_text(text)
    return p


class TestEveryClient:
    """No role builds a Kafka client the settings cannot reach."""

    def test_no_client_is_constructed_outside_common_kafka(self) -> None:
        """Every AIOKafka*(...) call of the product is in common/kafka.py, and the one
        faust.App(...) is given the credentials (a new client anywhere fails this test)."""
        found: dict[str, int] = {}
        for pkg in PRODUCT:
            for path in (REPO / pkg).rglob("*.py"):
                for node in ast.walk(ast.parse(path.read_text(), str(path))):
                    if not isinstance(node, ast.Call):
                        continue
                    f = node.func
                    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                    faust_app = name == "App" and "faust" in ast.unparse(f)
                    if _CLIENTS.match(name) or faust_app:
                        where = str(path.relative_to(REPO))
                        found[where] = found.get(where, 0) + 1
                    if faust_app:
                        assert "broker_credentials" in {k.arg for k in node.keywords}
        assert found == {"common/kafka.py": 3, "streams/worker/app.py": 1}

    def test_the_worker_gives_faust_the_credentials(self) -> None:
        """faust's own clients get SASL (with TLS) or TLS from the same settings."""
        import faust

        from streams.worker.app import faust_credentials

        sasl = faust_credentials(KafkaClient("b:1", "SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                                             sasl_username="u", sasl_password="p"))
        assert isinstance(sasl, faust.SASLCredentials)
        assert (sasl.mechanism.value, sasl.protocol.value, sasl.password) == (
            "SCRAM-SHA-512", "SASL_SSL", "p")
        assert isinstance(faust_credentials(KafkaClient("b:1", "SSL")), faust.SSLCredentials)
        assert faust_credentials(KafkaClient("b:1")) is None


class TestClientArgs:
    """What aiokafka is given for each security protocol."""

    def test_plaintext(self) -> None:
        """A bare address is an unsecured cluster."""
        assert client_args("h:9092") == {"bootstrap_servers": "h:9092",
                                         "security_protocol": "PLAINTEXT"}

    def test_sasl_ssl_from_the_configuration(self, tmp_path: Path) -> None:
        """SASL_SSL: a TLS context with the CA and the hostname check, the SASL login,
        the password read from its file."""
        (tmp_path / "pw").write_text("from-file\n")
        cfg = load_config(write(tmp_path, f"""[kafka]
bootstrap = "k1:9093,k2:9093"
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-256"
sasl_username = "svc"
sasl_password_file = "{tmp_path / 'pw'}"
"""), env={})
        args = client_args(cfg)
        assert args["bootstrap_servers"] == "k1:9093,k2:9093"
        assert (args["security_protocol"], args["sasl_mechanism"]) == ("SASL_SSL",
                                                                       "SCRAM-SHA-256")
        assert (args["sasl_plain_username"], args["sasl_plain_password"]) == ("svc",
                                                                              "from-file")
        ctx = args["ssl_context"]
        assert isinstance(ctx, ssl.SSLContext) and ctx.check_hostname
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        assert "from-file" not in repr(kafka_client(cfg))

    def test_hostname_check_can_be_switched_off(self) -> None:
        """ssl_check_hostname = false: the certificate is still verified, not the name."""
        ctx = KafkaClient("h:1", "SSL", check_hostname=False).ssl_context()
        assert ctx is not None and not ctx.check_hostname
        assert ctx.verify_mode == ssl.CERT_REQUIRED

    def test_describe_names_the_login_not_the_password(self) -> None:
        """Messages say where and how, never the secret."""
        c = KafkaClient("h:1", "SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u",
                        sasl_password="s3cret")
        assert c.describe() == "h:1 (SASL_PLAINTEXT, PLAIN as u)"
        assert "s3cret" not in repr(c)


class TestSettingsHangTogether:
    """Settings that contradict each other are errors before anything starts."""

    @pytest.mark.parametrize(("text", "fragment"), [
        ('[kafka]\nsecurity_protocol = "TLS"\n', "must be one of PLAINTEXT, SSL"),
        ('[kafka]\nsecurity_protocol = "SASL_SSL"\n', "[kafka].sasl_username is needed"),
        ('[kafka]\nsecurity_protocol = "SASL_PLAINTEXT"\nsasl_username = "u"\n',
         "sasl_password or sasl_password_file is needed"),
        ('[kafka]\nsasl_username = "u"\n', "SASL needs SASL_PLAINTEXT or SASL_SSL"),
        ('[kafka]\nsecurity_protocol = "SSL"\nssl_ca_file = "/nonexistent/ca.pem"\n',
         "[kafka].ssl_ca_file: no such file: /nonexistent/ca.pem"),
        ('[kafka]\nssl_ca_file = "/etc/hostname"\n', "TLS needs SSL or SASL_SSL"),
        ('[kafka]\nsasl_mechanism = "GSSAPI"\n', "must be one of PLAIN, SCRAM-SHA-256"),
        ('[kafka]\nbootstrap = "k1:9093,k2"\n', "'k2' is not host:port"),
        ('[clickhouse]\npassword = "x"\n', "is embedded (no server to log in to)"),
        ('[clickhouse]\ndsn = "htp://ch:8123"\n', "unknown scheme 'htp'"),
        ('[clickhouse]\ndsn = "http://ch:8123"\npassword_file = "/nonexistent/pw"\n',
         "[clickhouse].password_file: no such file"),
        ('[forwarder]\nwebhook_urls = ["ftp://x"]\n', "is not an http(s):// URL"),
        ('[forwarder]\nresend_interval_s = 300\n', "ends_at_after_s (240) must be more"),
    ])
    def test_each_problem_is_named(self, tmp_path: Path, text: str, fragment: str) -> None:
        """One problem, named with its key and the file it came from."""
        p = write(tmp_path, text)
        with pytest.raises(ConfigError) as e:
            load_config(p, env={})
        assert fragment in str(e.value) and str(p) in str(e.value)

    def test_all_problems_at_once(self, tmp_path: Path) -> None:
        """Per-key and whole-configuration problems are reported together."""
        with pytest.raises(ConfigError) as e:
            load_config(write(tmp_path, '[kafka]\nsecurity_protocol = "SASL_SSL"\n'
                                        '[clickhouse]\ndsn = "ch:8123"\n'), env={})
        assert len(e.value.problems) == 3

    def test_the_worked_example(self) -> None:
        """deploy/rackwatch.example.toml is valid but for the secret files it names, which
        exist only where it is deployed."""
        with pytest.raises(ConfigError) as e:
            load_config(REPO / "deploy" / "rackwatch.example.toml", env={})
        assert e.value.problems and all("no such file: /etc/rackwatch/" in p
                                        for p in e.value.problems)
