"""Errors a person can act on: what went wrong, where, and what to do, without a traceback.

Every command runs under `run_command` (rackwatch.cli): a mistake of the user's (a bad
configuration, a rule file with problems, an input that is not there) or a dependency
that cannot be reached (Kafka, the store) becomes a few lines on stderr and an exit
status; `-v` prints the traceback as well, for developers. Anything else is a bug and
keeps its traceback.

Exit statuses (documented in docs/operations.md):
0 ok; 1 a runtime failure (a dependency unreachable or refusing); 2 a usage or
configuration error (bad flags, configuration, rule file, missing input).
"""

from __future__ import annotations

import logging
import ssl
import sys
import traceback
from collections.abc import Callable

from common.config import Config, ConfigError, mask_dsn

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "EXIT_OK", "UserError", "explain",
           "quiet_client_noise", "run_command"]

log = logging.getLogger("rackwatch")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


class UserError(Exception):
    """A failure already worded for a person, with its exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def _kafka_hint(cfg: Config | None) -> str:
    if cfg is None or cfg.uses_local_broker:
        return ("start the local broker with `rackwatch broker start`, or set "
                "RACKWATCH_KAFKA_BOOTSTRAP (or [kafka] bootstrap) to your cluster")
    return "check that the brokers are up and reachable, or fix RACKWATCH_KAFKA_BOOTSTRAP"


def _kafka_where(cfg: Config | None) -> str:
    if cfg is None:
        return "Kafka"
    from common.kafka import KafkaClient

    k = cfg.kafka
    client = KafkaClient(cfg.bootstrap, k.security_protocol, sasl_mechanism=k.sasl_mechanism,
                         sasl_username=k.sasl_username)
    return f"Kafka at {client.describe()}"


def _kafka(exc: BaseException, cfg: Config | None) -> str | None:
    from aiokafka.errors import (
        AuthenticationFailedError,
        KafkaConnectionError,
        KafkaTimeoutError,
        SaslAuthenticationFailed,
        UnsupportedSaslMechanismError,
    )

    where = _kafka_where(cfg)
    why = _CONNECT.last  # aiokafka says why only in its log line
    if isinstance(exc, KafkaConnectionError) and why:
        found = _kafka_reason(where, why, cfg)
        if found is not None:
            return found
    if isinstance(exc, AuthenticationFailedError | SaslAuthenticationFailed):
        return (f"{where} refused the login: {exc}. Check [kafka] sasl_username, "
                "sasl_password (or sasl_password_file) and sasl_mechanism")
    if isinstance(exc, UnsupportedSaslMechanismError):
        return (f"{where} does not offer that SASL mechanism: {exc}. Set [kafka] "
                "sasl_mechanism to one the listener enables")
    if isinstance(exc, KafkaConnectionError):
        return f"cannot reach {where}: no broker answered; {_kafka_hint(cfg)}"
    if isinstance(exc, KafkaTimeoutError):
        return f"{where} did not answer in time ({exc}); {_kafka_hint(cfg)}"
    return None


def _kafka_reason(where: str, why: str, cfg: Config | None) -> str | None:
    """A message from the reason aiokafka logged for the failed connection."""
    if "Authentication failed" in why or "SaslAuthenticationFailed" in why:
        return (f"{where} refused the login ({why.split(': ', 1)[-1]}). Check [kafka] "
                "sasl_username, sasl_password (or sasl_password_file) and sasl_mechanism")
    if "UnsupportedSaslMechanism" in why:
        return (f"{where} does not offer that SASL mechanism. Set [kafka] sasl_mechanism to "
                "one the listener enables")
    if "SSL" in why or "certificate" in why:
        return _tls_text(why[why.find("["):] if "[" in why else why, cfg)
    if "closed" in why and cfg is not None and cfg.kafka.security_protocol != "PLAINTEXT":
        return (f"{where} closed the connection: a listener that requires a client "
                "certificate does so without one ([kafka] ssl_cert_file, ssl_key_file), and "
                "so does one of another security protocol ([kafka] security_protocol)")
    return None


def _tls(exc: ssl.SSLError, cfg: Config | None) -> str:
    return _tls_text(exc.reason or exc.strerror or str(exc), cfg)


def _tls_text(what: str, cfg: Config | None) -> str:
    return (f"TLS to {_kafka_where(cfg)} failed: {what}. Check [kafka] ssl_ca_file (the CA "
            "that signed the brokers' certificates), ssl_cert_file / ssl_key_file when the "
            "brokers require a client certificate, and ssl_check_hostname")


def _store(exc: BaseException, cfg: Config | None) -> str | None:
    try:
        from sinks.errors import StoreUnreachable
    except ImportError:  # pragma: no cover - sinks is part of the package
        return None
    if isinstance(exc, StoreUnreachable):
        return str(exc)
    return None


def explain(exc: BaseException, cfg: Config | None = None) -> tuple[str, int] | None:
    """What to tell a person about `exc` (or an error it was raised from), and the exit
    status; None: not a user's or a dependency's failure (a bug)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        found = _explain_one(e, cfg)
        if found is not None:
            return found
        e = e.__cause__ or e.__context__
    return None


def _explain_one(exc: BaseException, cfg: Config | None) -> tuple[str, int] | None:
    from common.broker import BrokerError
    from streams.rules.model import RuleError

    if isinstance(exc, UserError):
        return str(exc), exc.status
    if isinstance(exc, ConfigError):
        return str(exc), EXIT_CONFIG
    if isinstance(exc, RuleError):
        return "\n".join([*exc.problems, f"{len(exc.problems)} problem(s) in the rule file; "
                          "`rackwatch rules check FILE` lists them too"]), EXIT_CONFIG
    if isinstance(exc, BrokerError):
        return f"broker: {exc}", EXIT_FAILURE
    if isinstance(exc, ssl.SSLError):
        return _tls(exc, cfg), EXIT_FAILURE
    text = _kafka(exc, cfg) or _store(exc, cfg)
    if text is not None:
        return text, EXIT_FAILURE
    if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError
                  | NotADirectoryError):
        path = exc.filename if exc.filename is not None else "?"
        return f"cannot open {path}: {exc.strerror or exc}", EXIT_CONFIG
    return None


class _ConnectNoise(logging.Filter):
    """Remembers why aiokafka's last connection failed (it says so only in its log), and,
    without -v, drops the client libraries' own lines for a failed connection: the
    message rackwatch prints (or the role's own warning) says where and what to do."""

    def __init__(self) -> None:
        super().__init__()
        self.last = ""
        self.quiet = False

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg.startswith("Unable connect to"):
            self.last = msg.split(": ", 1)[-1]
        noise = (msg.startswith(('Unable connect to "', "Retrying (Retry("))
                 or "Http Driver Exception" in msg)
        return not (noise and self.quiet)


_CONNECT = _ConnectNoise()
for _name in ("aiokafka", "urllib3.connectionpool",
              "clickhouse_connect.driver._backend.http_sync",
              "clickhouse_connect.driver.httpclient"):
    logging.getLogger(_name).addFilter(_CONNECT)


def quiet_client_noise() -> None:
    """Without -v: no duplicate connection-failure lines from aiokafka, urllib3 and
    clickhouse-connect (they stay with -v)."""
    _CONNECT.quiet = True


def run_command(func: Callable[[], int], cfg: Config | None, verbose: int,
                command: str) -> int:
    """Run a command; explained failures become a message and a status (module docs)."""
    try:
        return func()
    except KeyboardInterrupt:
        print(f"rackwatch {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        found = explain(e, cfg)
        if found is None:
            raise
        message, status = found
        if verbose:
            traceback.print_exc()
        print(f"rackwatch {command}: {mask_dsn(message)}", file=sys.stderr)
        if status == EXIT_FAILURE and not verbose:
            print("(rackwatch -v ... shows the traceback)", file=sys.stderr)
        return status
