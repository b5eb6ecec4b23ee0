"""A local broker as a secured cluster is: TLS (with client certificates) and SASL.

Keys and certificates are made with openssl for each test session (a CA, the broker's
certificate for 127.0.0.1 and localhost, a client certificate), and the broker gets
three listeners beside its plaintext one:

- SSL: TLS, a client certificate required (mutual TLS);
- SASL_SSL: TLS, then SCRAM-SHA-512 or PLAIN;
- SASL_PLAINTEXT: SCRAM-SHA-256 or PLAIN, no TLS.

The SCRAM users are created when the storage is formatted (`kafka-storage format
--add-scram`), the PLAIN users are in the listener's JAAS line.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from common.broker import Listener, LocalBroker, free_port
from common.config import BrokerConfig

__all__ = ["PASSWORD", "USER", "Certs", "SecuredBroker", "make_certs", "start_secured_broker"]

USER = "rackwatch-svc"
PASSWORD = "Sc7am-pw-never-shown"
_STORE_PASSWORD = "changeit"


@dataclass(frozen=True)
class Certs:
    ca: Path
    broker_p12: Path
    client_cert: Path
    client_key: Path


@dataclass
class SecuredBroker:
    broker: LocalBroker
    certs: Certs
    ssl: str  # bootstrap of each listener
    sasl_ssl: str
    sasl_plaintext: str


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _leaf(d: Path, name: str, cn: str, usage: str, san: str) -> None:
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   f"extendedKeyUsage={usage}\n"
                   "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", ext.name,
             cwd=d)


def make_certs(d: Path) -> Certs:
    """A CA, a broker certificate (in a PKCS#12 keystore) and a client certificate."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=rackwatch-test-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _leaf(d, "broker", "localhost", "serverAuth", "IP:127.0.0.1,DNS:localhost")
    _leaf(d, "client", "rackwatch-client", "clientAuth", "DNS:rackwatch-client")
    _openssl("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile",
             "ca.pem", "-out", "broker.p12", "-passout", f"pass:{_STORE_PASSWORD}", cwd=d)
    return Certs(d / "ca.pem", d / "broker.p12", d / "client.pem", d / "client.key")


def _jaas(module: str, users: dict[str, str] | None = None) -> str:
    extra = "".join(f' user_{u}="{p}"' for u, p in (users or {}).items())
    return f"org.apache.kafka.common.security.{module} required{extra};"


def start_secured_broker(d: Path) -> SecuredBroker:
    """Start a broker with SSL, SASL_SSL and SASL_PLAINTEXT listeners (stop it after)."""
    certs = make_certs(d / "certs")
    ports = {"SSL": free_port(), "SASL_SSL": free_port(), "SASL_PLAINTEXT": free_port()}
    listeners = [Listener(name, port, name) for name, port in ports.items()]
    scram = _jaas("scram.ScramLoginModule")
    plain = _jaas("plain.PlainLoginModule", {USER: PASSWORD})
    props = {
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(certs.broker_p12),
        "ssl.keystore.password": _STORE_PASSWORD,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(certs.ca),
        "listener.name.ssl.ssl.client.auth": "required",
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
        "listener.name.sasl_ssl.plain.sasl.jaas.config": plain,
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "SCRAM-SHA-256,PLAIN",
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": scram,
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain,
    }
    users = [("SCRAM-SHA-512", USER, PASSWORD), ("SCRAM-SHA-256", USER, PASSWORD)]
    cfg = BrokerConfig(port=free_port(), controller_port=free_port())
    broker = LocalBroker(cfg, d / "kafka", listeners=listeners, properties=props,
                         scram_users=users)
    broker.start()
    host = cfg.host
    return SecuredBroker(broker, certs, f"{host}:{ports['SSL']}",
                         f"{host}:{ports['SASL_SSL']}", f"{host}:{ports['SASL_PLAINTEXT']}")
