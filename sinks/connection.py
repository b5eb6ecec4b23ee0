"""How the store is reached: the DSN plus `[clickhouse]` user, password, TLS and CA.

Credentials come from the configuration (`user`, `password`, `password_file`), or, as
before, from the DSN itself; the configuration wins. The DSN is parsed strictly first
(common.dsn), so a typo is an error rather than a connection to localhost, and wherever
the DSN is shown or logged it is masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.config import Config, read_secret
from common.dsn import Dsn, mask_dsn, parse_dsn

__all__ = ["Connection"]


@dataclass(frozen=True)
class Connection:
    """One store's address and credentials (the password is never in its repr)."""

    dsn: str
    user: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    verify: bool = True

    @classmethod
    def of(cls, target: Config | str | Connection) -> Connection:
        """The configured store (reading `password_file` now), or a bare DSN."""
        if isinstance(target, Connection):
            return target
        if isinstance(target, str):
            return cls(target)
        c = target.clickhouse
        return cls(target.clickhouse_dsn, user=c.user,
                   password=read_secret(c.password, c.password_file,
                                        "[clickhouse].password_file"),
                   ca_file=c.ca_file, verify=c.verify)

    @property
    def parsed(self) -> Dsn:
        return parse_dsn(self.dsn)

    @property
    def shown(self) -> str:
        """The DSN as it may be printed and logged."""
        return mask_dsn(self.dsn)

    def server_kwargs(self) -> dict[str, Any]:
        """clickhouse-connect arguments for a server (http, https) store."""
        d = self.parsed
        kwargs: dict[str, Any] = {"host": d.host, "interface": d.scheme,
                                  "secure": d.secure}
        if d.port is not None:
            kwargs["port"] = d.port
        user = self.user or d.user
        password = self.password or d.password
        if user:
            kwargs["username"] = user
        if password:
            kwargs["password"] = password
        options: dict[str, Any] = dict(d.options)
        options.pop("secure", None)
        if self.ca_file:
            options["ca_cert"] = self.ca_file
        if not self.verify:
            options["verify"] = False
        kwargs.update(options)
        return kwargs
