"""The console's way to the store, on a thread, one query at a time when embedded.

A server store is read through `sinks.query.run_query` (a `readonly=1` session per
query). The embedded store belongs to the sink (chDB admits one process per directory),
so the console reads it only through the running sink's read-only endpoint
(`sinks.remote.find_sink`), and never opens the directory itself: a console that opened
it while a sink was starting would make that sink fail. With no sink serving it, pages
are told so (HTTP 503) unless `open_embedded` is set (`rackwatch console --open-store`,
to browse a store after the pipeline stopped), which lets run_query open it.
The client is synchronous, so queries run on a small thread pool; the embedded store
answers one query at a time anyway (the sink's reader holds a lock), so one thread is
enough there and page requests queue instead of piling up threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import orjson

from common.config import Config, mask_dsn
from console.queries import Query

__all__ = ["Reader", "RunQueryReader", "StoreUnavailable"]

log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    """The store could not answer (down, busy, or refused the query): HTTP 503."""


class Reader(Protocol):
    async def rows(self, query: Query) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


class RunQueryReader:
    """Runs the console's fixed queries through sinks.query.run_query."""

    def __init__(self, cfg: Config, threads: int | None = None, *,
                 open_embedded: bool = False) -> None:
        from sinks.store import is_embedded

        self.cfg = cfg
        self.embedded = is_embedded(cfg.clickhouse_dsn)
        self.open_embedded = open_embedded
        self._endpoint: Any = None
        n = threads or (1 if self.embedded else 4)
        self._pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="console-query")
        self.queries = 0
        self.failures = 0
        self.last_error = ""

    def _run(self, sql: str) -> bytes:
        from sinks.query import FORMATS, run_query
        from sinks.remote import find_sink

        if not self.embedded or self.open_embedded:
            return run_query(self.cfg, sql, "jsonl")
        if self._endpoint is None:
            self._endpoint = find_sink(self.cfg)
            if self._endpoint is None:
                raise StoreUnavailable(
                    "no sink is serving the embedded store "
                    f"{mask_dsn(self.cfg.clickhouse_dsn)} (start `rackwatch sink`, or run "
                    "`rackwatch console --open-store` to read it while no sink runs)")
        try:
            return bytes(self._endpoint.query(sql, FORMATS["jsonl"]))
        except OSError:
            self._endpoint = None  # the sink went away: look for it again next time
            raise

    async def rows(self, query: Query) -> list[dict[str, Any]]:
        sql = query.sql
        t0 = time.perf_counter()
        try:
            payload = await asyncio.get_running_loop().run_in_executor(self._pool, self._run, sql)
        except Exception as e:  # any failure of the store is the same to a page: 503
            self.failures += 1
            error = mask_dsn(str(e))[:500]
            # said once per distinct reason: a store that stays away does not flood the log
            level = logging.WARNING if error != self.last_error else logging.DEBUG
            self.last_error = error
            log.log(level, "console query %s failed: %s", query.name, error)
            raise StoreUnavailable(self.last_error) from e
        self.queries += 1
        self.last_error = ""
        log.debug("console query %s: %.1f ms", query.name, (time.perf_counter() - t0) * 1000)
        return [orjson.loads(line) for line in payload.splitlines() if line.strip()]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
