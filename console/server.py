"""The console's HTTP side (aiohttp): the page, its static files, the JSON APIs, live events.

Read-only by construction: only GET and HEAD are routed (anything else is 405), and
every API is one of the fixed handlers of console.api. Pages get a strict Content
Security Policy (scripts, styles and connections from this origin only). Bound to
localhost (the default), requests must also name localhost in their Host header, so a
web page elsewhere cannot read the console through a DNS name pointed at 127.0.0.1.

    GET /                          the page
    GET /static/...                its scripts, styles and the vendored chart library
    GET /api/events                server-sent events: snapshot, changes, health
    GET /api/status|fleet|alerts|incidents|health
    GET /api/hosts/{host}[/series|/logs|/history]
    GET /api/logs/templates|lines
    GET /api/schemas/{name}        the JSON Schema of each API's answer
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from console.api import Api
from console.hub import sse_frame
from console.params import ParamError
from console.reader import StoreUnavailable

__all__ = ["SCHEMAS", "STATIC", "build_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
SCHEMAS = Path(__file__).with_name("schemas")

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'")
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_HEARTBEAT_S = 15.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API = web.AppKey("api", Api)
ALLOWED_HOSTS = web.AppKey("allowed_hosts", tuple)


def _host_name(header: str) -> str:
    """The name part of a Host header: "localhost:8470" -> "localhost", "[::1]:80" -> "[::1]"."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0]


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status,
                        content_type="application/json")


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD"):
        return _json({"error": "the console is read-only"}, 405)
    allowed = request.app[ALLOWED_HOSTS]
    if allowed and _host_name(request.host or "") not in allowed:
        return _json({"error": f"unexpected Host header {request.host!r}"}, 403)
    try:
        resp = await handler(request)
    except ParamError as e:
        resp = _json({"error": str(e)}, 400)
    except StoreUnavailable as e:
        resp = _json({"error": f"the store did not answer: {e}"}, 503)
    resp.headers.setdefault("Content-Security-Policy", _CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _route(fn: Callable[[dict[str, str]], Awaitable[dict[str, Any]]]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return _json(await fn(dict(request.query)))
    return handler


def _host_route(fn: Callable[[str, dict[str, str]], Awaitable[dict[str, Any]]]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return _json(await fn(request.match_info["host"], dict(request.query)))
    return handler


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _schema(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = SCHEMAS / f"{name}.schema.json"
    if not name.replace("_", "").isalnum() or not path.is_file():
        return _json({"error": f"no schema {name!r}",
                      "schemas": sorted(p.name.removesuffix(".schema.json")
                                        for p in SCHEMAS.glob("*.schema.json"))}, 404)
    return web.FileResponse(path, headers={"Content-Type": "application/schema+json"})


async def _events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a snapshot, then batches of changes and health summaries."""
    api = request.app[API]
    hub = api.hub
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    resp.headers["Content-Security-Policy"] = _CSP
    await resp.prepare(request)
    queue = hub.subscribe()
    try:
        await resp.write(b"retry: 2000\n\n" + sse_frame("snapshot", hub.snapshot(api.now_ms())))
        while True:
            try:
                frame = await asyncio.wait_for(queue.get(), _HEARTBEAT_S)
            except TimeoutError:
                frame = b": keep-alive\n\n"
            if frame is None:
                frame = sse_frame("snapshot", hub.snapshot(api.now_ms()))
            elif frame == b"":
                break
            await resp.write(frame)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(queue)
    return resp


def build_app(api: Api, *, bind_host: str = "127.0.0.1") -> web.Application:
    """The console's aiohttp application over `api`."""
    app = web.Application(middlewares=[_guard])
    app[API] = api
    app[ALLOWED_HOSTS] = _LOOPBACK if bind_host in _LOOPBACK else ()
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    app.router.add_get("/api/events", _events)
    for name in ("status", "fleet", "alerts", "incidents", "health"):
        app.router.add_get(f"/api/{name}", _route(getattr(api, name)))
    app.router.add_get("/api/hosts/{host}", _host_route(api.host))
    app.router.add_get("/api/hosts/{host}/series", _host_route(api.series))
    app.router.add_get("/api/hosts/{host}/logs", _host_route(api.host_logs))
    app.router.add_get("/api/hosts/{host}/history", _host_route(api.host_history))
    app.router.add_get("/api/logs/templates", _route(api.log_templates))
    app.router.add_get("/api/logs/lines", _route(api.log_lines))
    app.router.add_get("/api/schemas/{name}", _schema)
    app.router.add_get("/api/schemas", _schema_list)
    return app


async def _schema_list(request: web.Request) -> web.StreamResponse:
    return _json({"schemas": sorted(p.name.removesuffix(".schema.json")
                                    for p in SCHEMAS.glob("*.schema.json"))})
