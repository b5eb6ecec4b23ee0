"""Problems a configuration can only show as a whole: after every key is in range.

`load_config` raises them all at once with the per-key problems' wording (`rackwatch
config check` lists them, and every command exits 2 on them before anything starts):
a store DSN that does not parse, Kafka security settings that contradict each other,
files named by a key that cannot be read, forwarder targets that are not URLs.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from common.config import Config
from common.dsn import DsnError, mask_dsn, parse_dsn

__all__ = ["config_problems"]


def _file(section: str, key: str, path: str) -> list[str]:
    if not path:
        return []
    if not os.path.isfile(path):
        return [f"[{section}].{key}: no such file: {path}"]
    if not os.access(path, os.R_OK):
        return [f"[{section}].{key}: cannot read {path} (permissions)"]
    return []


def _kafka(cfg: Config) -> list[str]:
    k = cfg.kafka
    out: list[str] = []
    tls = k.security_protocol in ("SSL", "SASL_SSL")
    sasl = k.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")
    for key in ("ssl_ca_file", "ssl_cert_file", "ssl_key_file"):
        path = getattr(k, key)
        if path and not tls:
            out.append(f"[kafka].{key} is set but security_protocol is "
                       f"{k.security_protocol} (TLS needs SSL or SASL_SSL)")
        out += _file("kafka", key, path)
    if bool(k.ssl_cert_file) != bool(k.ssl_key_file):
        out.append("[kafka].ssl_cert_file and ssl_key_file go together")
    if sasl and not k.sasl_username:
        out.append(f"[kafka].sasl_username is needed with security_protocol = "
                   f"{k.security_protocol}")
    if sasl and not (k.sasl_password or k.sasl_password_file):
        out.append(f"[kafka].sasl_password or sasl_password_file is needed with "
                   f"security_protocol = {k.security_protocol}")
    if not sasl and (k.sasl_username or k.sasl_password or k.sasl_password_file):
        out.append(f"[kafka].sasl_* is set but security_protocol is {k.security_protocol} "
                   "(SASL needs SASL_PLAINTEXT or SASL_SSL)")
    out += _file("kafka", "sasl_password_file", k.sasl_password_file)
    for broker in filter(None, (b.strip() for b in cfg.bootstrap.split(","))):
        host, colon, port = broker.rpartition(":")
        if not (colon and host and port.isdigit()):
            out.append(f"[kafka].bootstrap: {broker!r} is not host:port")
    return out


def _clickhouse(cfg: Config) -> list[str]:
    c = cfg.clickhouse
    try:
        dsn = parse_dsn(cfg.clickhouse_dsn)
    except DsnError as e:
        return [f"[clickhouse].dsn: {e}"]
    out = _file("clickhouse", "password_file", c.password_file)
    out += _file("clickhouse", "ca_file", c.ca_file)
    if dsn.embedded:
        given = [k for k in ("user", "password", "password_file", "ca_file") if getattr(c, k)]
        if given:
            out.append(f"[clickhouse].{', '.join(given)} set, but the store "
                       f"{mask_dsn(cfg.clickhouse_dsn)} is embedded (no server to log in to)")
    return out


def _forwarder(cfg: Config) -> list[str]:
    f = cfg.forwarder
    out: list[str] = []
    for key in ("alertmanager_urls", "webhook_urls"):
        for url in getattr(f, key):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                out.append(f"[forwarder].{key}: {mask_dsn(url)!r} is not an http(s):// URL "
                           "with a host")
    if f.ends_at_after_s <= f.resend_interval_s:
        out.append(f"[forwarder].ends_at_after_s ({f.ends_at_after_s:g}) must be more than "
                   f"resend_interval_s ({f.resend_interval_s:g}), or firing alerts expire "
                   "between two sends")
    if f.retry_max_s < f.retry_initial_s:
        out.append("[forwarder].retry_max_s must be at least retry_initial_s")
    out += _file("forwarder", "bearer_token_file", f.bearer_token_file)
    out += _file("forwarder", "ca_file", f.ca_file)
    return out


def config_problems(cfg: Config, where: str = "<defaults>") -> list[str]:
    """Every whole-configuration problem, each naming its key (empty: none); `where`
    says what the configuration was read from."""
    found = _kafka(cfg) + _clickhouse(cfg) + _forwarder(cfg)
    found += _file("routing", "file", cfg.routing.file)
    return [f"{where}: {p}" for p in found]
