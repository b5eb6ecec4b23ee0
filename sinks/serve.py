"""Read-only queries against the embedded store while the sink owns it.

chDB admits one process per directory. The sink holds it, so it also answers queries
for others: a stdlib HTTP server on a thread, bound to localhost by default, with an
optional bearer token, every query run on a `readonly=1` session (ClickHouse itself then
refuses writes, DDL and attempts to change settings). `rackwatch backup` also goes through here
while the sink runs, since BACKUP only reads.

    GET  /ping                 -> {"service": "rackwatch-sink", "dsn": ..., "database": ...}
    POST /query?format=FORMAT  body: SQL -> the result in that ClickHouse output format
    POST /backup?name=NAME     -> {"backup": "<path under the store's staging folder>"}
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson

from common.dsn import mask_dsn
from sinks.store import Store

__all__ = ["SERVICE_NAME", "QueryServer"]

log = logging.getLogger(__name__)

SERVICE_NAME = "rackwatch-sink"
_MAX_BODY = 1 << 20
_FORMAT = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class QueryServer:
    """Owns a second connection to the store, used only for the requests it serves."""

    def __init__(self, store: Store, *, host: str = "127.0.0.1", port: int = 0,
                 token: str = "", status: Callable[[], dict[str, Any]] | None = None,
                 backup: Callable[[Store, str], str] | None = None) -> None:
        self.store = store
        self.host = host
        self.requested_port = port
        self.token = token
        self.status = status
        self.backup = backup
        self._reader: Store | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "not started"
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        if self.host not in ("127.0.0.1", "localhost", "::1") and not self.token:
            log.warning("query endpoint on %s without a token: anyone who can reach it may "
                        "read the store", self.host)
        self._reader = self.store.reader()
        handler = _handler(self)
        try:
            self._httpd = ThreadingHTTPServer((self.host, self.requested_port), handler)
        except OSError as e:
            log.warning("query endpoint not started on %s:%d: %s", self.host,
                        self.requested_port, e)
            self._reader.close()
            self._reader = None
            return
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="rackwatch-query-server", daemon=True)
        self._thread.start()
        log.info("read-only queries on http://%s:%d", self.host, self.port)

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # --- request handling (called on server threads) ----------------------------------

    def authorised(self, header: str | None) -> bool:
        if not self.token:
            return True
        return header is not None and hmac.compare_digest(header, f"Bearer {self.token}")

    def ping(self) -> dict[str, Any]:
        info: dict[str, Any] = {"service": SERVICE_NAME, "dsn": mask_dsn(self.store.dsn),
                                "database": self.store.database}
        if self.status is not None:
            info["status"] = self.status()
        return info

    def run_query(self, sql: str, fmt: str) -> bytes:
        assert self._reader is not None
        return self._reader.raw(sql, fmt)  # a readonly=1 session

    def run_backup(self, name: str) -> str:
        if self.backup is None:
            raise RuntimeError("this sink does not serve backups")
        with self.store.reader(readonly=False) as conn:  # BACKUP only reads, but is no SELECT
            return self.backup(conn, name)


def _handler(server: QueryServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = SERVICE_NAME

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("query endpoint: " + format, *args)

        def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: int, message: str) -> None:
            self._send(code, orjson.dumps({"error": message}))

        def do_GET(self) -> None:
            if not server.authorised(self.headers.get("Authorization")):
                self._error(401, "missing or wrong token")
            elif urlparse(self.path).path == "/ping":
                self._send(200, orjson.dumps(server.ping(), default=str))
            else:
                self._error(404, "unknown path")

        def do_POST(self) -> None:
            if not server.authorised(self.headers.get("Authorization")):
                self._error(401, "missing or wrong token")
                return
            url = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self._error(413, f"query larger than {_MAX_BODY} bytes")
                return
            body = self.rfile.read(length).decode("utf-8", "replace")
            try:
                if url.path == "/query":
                    fmt = params.get("format", "JSONCompact")
                    if not _FORMAT.match(fmt):
                        self._error(400, f"bad format {fmt!r}")
                        return
                    self._send(200, server.run_query(body, fmt), "application/octet-stream")
                elif url.path == "/backup":
                    name = params.get("name", "")
                    if not _NAME.match(name):
                        self._error(400, f"bad backup name {name!r}")
                        return
                    self._send(200, orjson.dumps({"backup": server.run_backup(name)}))
                else:
                    self._error(404, "unknown path")
            except Exception as e:  # the caller gets ClickHouse's own message
                self._error(400, str(e))

    return Handler
