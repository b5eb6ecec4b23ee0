"""Store DSNs: parsed strictly, shown masked.

A DSN typo must not connect somewhere else in silence: the ClickHouse client reads
`htp://ch:8123` (an unknown scheme) and `ch:8123` (no scheme: `ch` becomes the scheme)
as "no host", and then connects to localhost. So every DSN rackwatch uses is parsed
here first, and a wrong scheme, a missing host, a bad port or an unknown option is an
error that names the value (masked). Passwords belong in `[clickhouse] password` or
`password_file`; one inside a DSN is still accepted, and never shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["DSN_OPTIONS", "Dsn", "DsnError", "mask_dsn", "parse_dsn"]

# Connection options a server DSN may carry (`?name=value`), as clickhouse-connect
# reads them. Anything else is an error rather than a ClickHouse setting sent blindly.
DSN_OPTIONS = ("compress", "connect_timeout", "send_receive_timeout", "query_limit",
               "verify", "ca_cert", "client_cert", "client_cert_key", "server_host_name",
               "secure", "http_proxy", "https_proxy", "session_id")
_SCHEMES = ("chdb", "http", "https")


class DsnError(ValueError):
    """A DSN that cannot be used; the message names the (masked) value."""


@dataclass(frozen=True)
class Dsn:
    """One parsed DSN: an embedded store (`chdb`, `path`) or a server (`http(s)`)."""

    scheme: str
    host: str = ""
    port: int | None = None
    path: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return self.scheme == "chdb"

    @property
    def secure(self) -> bool:
        return self.scheme == "https" or self.options.get("secure", "").lower() == "true"


def parse_dsn(text: str) -> Dsn:
    """Parse `chdb:///path` or `http(s)://[user[:password]@]host[:port][/][?options]`."""
    shown = mask_dsn(text)
    scheme, sep, _ = text.partition("://")
    if not sep:
        raise DsnError(f"store DSN {shown!r} has no scheme: write chdb:///path, "
                       "http://host:8123 or https://host:8443")
    if scheme.lower() not in _SCHEMES:
        raise DsnError(f"store DSN {shown!r}: unknown scheme {scheme!r} (use "
                       f"{', '.join(_SCHEMES)})")
    try:
        parts = urlsplit(text)
    except ValueError as e:  # an unclosed [IPv6] host
        raise DsnError(f"store DSN {shown!r}: {e}") from e
    if parts.scheme == "chdb":
        location = parts.netloc + parts.path
        if not location or parts.query or "@" in parts.netloc:
            raise DsnError(f"store DSN {shown!r}: an embedded store is chdb:///path/to/dir, "
                           "with no user, password or options")
        return Dsn("chdb", path=location)
    try:
        port = parts.port
    except ValueError as e:
        raise DsnError(f"store DSN {shown!r}: bad port ({e})") from e
    if not parts.hostname:
        raise DsnError(f"store DSN {shown!r} names no host")
    if parts.path not in ("", "/"):
        raise DsnError(f"store DSN {shown!r}: a path ({parts.path!r}) is not read; the "
                       "database is [clickhouse] database")
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in DSN_OPTIONS:
            raise DsnError(f"store DSN {shown!r}: unknown option {name!r} (known: "
                           f"{', '.join(DSN_OPTIONS)})")
        options[name] = value
    return Dsn(parts.scheme, host=parts.hostname, port=port,
               user=unquote(parts.username or ""), password=unquote(parts.password or ""),
               options=options)


_SECRET_PARAMS = re.compile(r"(?i)\b(password|passwd|pwd|token|secret|access_key|secret_key)"
                            r"=([^&;\s]+)")
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<pw>[^@/\s]*)@")


def mask_dsn(text: str) -> str:
    """`text` (a DSN, or a message that contains one) with its secrets replaced by ***:
    the password of `scheme://user:password@host`, and `password=`/`token=`-style
    query parameters. What operators print and log goes through this."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:***@", text)
    return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", text)
