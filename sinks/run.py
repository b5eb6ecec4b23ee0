"""The sink process: open the store, serve /metrics and queries beside it, run the service.

In embedded mode the sink owns the chDB directory, so it also serves read-only
queries on localhost (sinks.serve) for `rackwatch query` and `rackwatch backup`; the
consuming itself (batch, store, then commit) is sinks.service.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry

from common.config import Config
from common.selfmetrics import Endpoint, serve
from common.threadname import name_thread
from sinks.backup import backup_into
from sinks.backupstatus import BackupStatusCollector, default_status_path
from sinks.selfmetrics import SinkCollector, readiness
from sinks.serve import QueryServer
from sinks.service import LOOP_THREAD, SinkService
from sinks.settings import SinkSettings
from sinks.stats import SinkStats
from sinks.store import InsertHook, Store, is_embedded, open_store

__all__ = ["run_sink"]

log = logging.getLogger(__name__)


async def _open_when_free(cfg: Config, faults: InsertHook | None, stop: asyncio.Event,
                          patience_s: float = 60.0) -> Store:
    """Open the store, waiting while another process holds the embedded directory.

    chDB allows one process per directory. `rackwatch query` or `backup` run while no
    sink serves them open the directory themselves for a moment; a sink starting just
    then must wait for them, not die.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    delay = 0.2
    while True:
        try:
            return await loop.run_in_executor(None, lambda: open_store(cfg, faults=faults))
        except Exception as e:
            busy = is_embedded(cfg.clickhouse_dsn) and "EmbeddedServer" in str(e)
            if not busy or loop.time() > deadline or stop.is_set():
                raise
            log.warning("the embedded store is in use by another process; retrying in "
                        "%.1fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def run_sink(cfg: Config, *, stop: asyncio.Event, ready: asyncio.Event | None = None,
                   store: Store | None = None, faults: InsertHook | None = None,
                   settings: SinkSettings | None = None) -> SinkStats:
    """Run the sink until `stop` is set; return its counters.

    Opens (and migrates) the configured store unless one is given. In embedded mode the
    sink owns the chDB directory, so it also serves read-only queries on localhost
    (sinks.serve) for `rackwatch query` and `rackwatch backup`.
    """
    settings = settings or SinkSettings.from_config(cfg)
    own = store is None
    if store is None:
        store = await _open_when_free(cfg, faults, stop)
    elif faults is not None:
        store.faults = faults
    # named once the engine has started its threads (they inherit the creator's name)
    name_thread(LOOP_THREAD)
    server: QueryServer | None = None
    endpoint: Endpoint | None = None
    try:
        service = SinkService(cfg, store, settings=settings)
        if settings.metrics_port:
            endpoint = await serve("sink", CollectorRegistry(), settings.metrics_host,
                                   settings.metrics_port,
                                   ready=lambda: readiness(service.state(), settings.ready_lag),
                                   collectors=[SinkCollector(service.stats, service.metrics,
                                                             service.state),
                                               BackupStatusCollector(
                                                   default_status_path(cfg.home))])
        if store.embedded:
            server = QueryServer(store, host=settings.serve_host, port=settings.serve_port,
                                 token=settings.serve_token, status=service.describe,
                                 backup=backup_into)
            server.start()
        return await service.run(stop, ready)
    finally:
        if endpoint is not None:
            await endpoint.close()
        if server is not None:
            server.stop()
        if own:
            store.close()
