"""Talk to a running sink's query endpoint (sinks.serve) from another process."""

from __future__ import annotations

import http.client
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import orjson

from common.config import Config, mask_dsn
from sinks.serve import SERVICE_NAME
from sinks.settings import SinkSettings

__all__ = ["RemoteError", "SinkEndpoint", "find_sink"]

log = logging.getLogger(__name__)


class RemoteError(RuntimeError):
    """The endpoint answered with an error (its message is ClickHouse's, when it has one)."""


@dataclass(frozen=True)
class SinkEndpoint:
    host: str
    port: int
    token: str = ""
    timeout_s: float = 300.0

    def _request(self, method: str, path: str, body: bytes | None = None,
                 timeout: float | None = None) -> bytes:
        conn = http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout or self.timeout_s)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            try:
                message = str(orjson.loads(data).get("error", data[:500]))
            except orjson.JSONDecodeError:
                message = data[:500].decode("utf-8", "replace")
            raise RemoteError(message)
        return data

    def ping(self, timeout: float = 1.0) -> dict[str, Any]:
        info = orjson.loads(self._request("GET", "/ping", timeout=timeout))
        if not isinstance(info, dict):
            raise RemoteError("unexpected /ping answer")
        return info

    def query(self, sql: str, fmt: str) -> bytes:
        return self._request("POST", f"/query?format={quote(fmt)}", sql.encode())

    def backup(self, name: str) -> Path:
        answer = orjson.loads(self._request("POST", f"/backup?name={quote(name)}", b""))
        return Path(answer["backup"])


def _same_store(a: str, b: str) -> bool:
    def norm(dsn: str) -> str:
        p = urlparse(dsn)
        if p.scheme == "chdb":
            return str(Path(p.netloc + p.path).resolve())
        return dsn
    return norm(a) == norm(b)


def find_sink(cfg: Config, settings: SinkSettings | None = None) -> SinkEndpoint | None:
    """The endpoint of a sink serving this config's embedded store, if one is running."""
    s = settings or SinkSettings.from_config(cfg)
    host = "127.0.0.1" if s.serve_host in ("", "0.0.0.0", "::") else s.serve_host
    endpoint = SinkEndpoint(host, s.serve_port, s.serve_token)
    try:
        info = endpoint.ping()
    except (OSError, orjson.JSONDecodeError, http.client.HTTPException) as e:
        log.debug("no sink endpoint on %s:%d: %s", host, s.serve_port, e)
        return None
    except RemoteError as e:  # something answers and refuses: say so, do not guess
        raise RemoteError(f"the sink endpoint on {host}:{s.serve_port} refused: {e}") from e
    if info.get("service") != SERVICE_NAME:
        return None
    if not _same_store(str(info.get("dsn", "")), cfg.clickhouse_dsn):
        log.warning("the sink on %s:%d serves %s, not %s", host, s.serve_port,
                    mask_dsn(str(info.get("dsn"))), mask_dsn(cfg.clickhouse_dsn))
        return None
    return endpoint
