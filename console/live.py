"""Feeding the hub: the alerts and incidents topics, the store's recent state, the hosts.

- The topics are read by an aiokafka consumer without a group (group_id=None: the
  console commits nothing and disturbs no one), every partition assigned, each one
  sought to the first offset at or after `replay_overlap_s` before the start (or its
  end), so messages the sink had not yet stored when the bootstrap read the store are
  not lost between the two; FleetState ignores what it already holds.
- The bootstrap reads the latest state of every alert and incident changed in the last
  `bootstrap_window_s` from the store, once (and again after the store was unreachable).
- The host list is read from the store every `inventory_interval_s`: hosts that reported
  recently, the labels of those without a rack, and their GPUs. That is the only
  periodic store query; live changes come from the topics.
A broker or store that is away is retried with a backoff and said in the status; the
console keeps serving what it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from common.config import Config
from console.hub import Hub
from console.queries import (
    ALERTS_LATEST,
    GPU_INVENTORY,
    HOST_INVENTORY,
    HOST_LABELS,
    INCIDENTS_LATEST,
    Query,
)
from console.reader import Reader, StoreUnavailable
from console.settings import ConsoleSettings
from console.state import alert_from_row, incident_from_row

__all__ = ["bootstrap", "follow_topics", "refresh_inventory"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]


def _now_ms(clock: Clock) -> int:
    return int(clock() * 1000)


async def bootstrap(reader: Reader, hub: Hub, settings: ConsoleSettings,
                    clock: Clock = time.time) -> int:
    """Load the store's recent alert and incident state into the hub; rows loaded."""
    now = _now_ms(clock)
    since = now - int(settings.bootstrap_window_s * 1000)
    recent = now - int(settings.fade_s * 1000)
    alerts = await reader.rows(Query("alerts_latest", ALERTS_LATEST, {
        "since": since, "recent": recent, "limit": settings.max_alerts}))
    incidents = await reader.rows(Query("incidents_latest", INCIDENTS_LATEST, {
        "since": since, "recent": recent, "limit": 10_000}))
    now = _now_ms(clock)
    for row in reversed(alerts):  # oldest first, as they happened
        hub.take_alert(alert_from_row(row), now)
    for row in reversed(incidents):
        hub.take_incident(incident_from_row(row), now)
    return len(alerts) + len(incidents)


async def refresh_inventory(reader: Reader, hub: Hub, settings: ConsoleSettings,
                            clock: Clock = time.time) -> int:
    """Learn the hosts that reported recently (and their GPUs); hosts seen."""
    now = _now_ms(clock)
    since = now - int(settings.inventory_window_s * 1000)
    hosts = await reader.rows(Query("host_inventory", HOST_INVENTORY,
                                    {"since": since, "limit": 100_000}))
    rackless = [str(r["host"]) for r in hosts if not r.get("rack")]
    labels: dict[str, dict[str, str]] = {}
    if rackless:
        rows = await reader.rows(Query("host_labels", HOST_LABELS,
                                       {"hosts": rackless[:5000], "since": since}))
        labels = {str(r["host"]): {str(k): str(v) for k, v in (r["labels"] or {}).items()}
                  for r in rows}
    gpu_rows = await reader.rows(Query("gpu_inventory", GPU_INVENTORY, {
        "metric": settings.gpu_metric, "since": now - min(int(settings.inventory_window_s
                                                              * 1000), 300_000)}))
    gpus = {str(r["host"]): [str(g) for g in r["gpus"]] for r in gpu_rows}
    for r in hosts:
        host = str(r["host"])
        topo = {"rack": str(r["rack"])} if r.get("rack") else labels.get(host, {})
        hub.take_host(host, topo, gpus.get(host, []))
    return len(hosts)


async def store_loop(reader: Reader, hub: Hub, settings: ConsoleSettings,
                     stop: asyncio.Event, clock: Clock = time.time) -> None:
    """Bootstrap once (retrying until the store answers), then keep the host list fresh."""
    booted = False
    backoff = 1.0
    while not stop.is_set():
        try:
            if not booted:
                n = await bootstrap(reader, hub, settings, clock)
                booted = True
                log.info("console: %d alert and incident states loaded from the store", n)
            await refresh_inventory(reader, hub, settings, clock)
            hub.status["store"] = {"ok": True, "error": None}
            backoff = 1.0
            # an empty grid (a pipeline just started) is asked again soon
            wait = settings.inventory_interval_s if hub.state.hosts else \
                min(2.0, settings.inventory_interval_s)
        except StoreUnavailable as e:
            hub.status["store"] = {"ok": False, "error": str(e)}
            booted = False  # load the recent state again once it answers (idempotent)
            wait = backoff
            backoff = min(backoff * 2, 30.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)


async def _seek_to_time(consumer: Any, start_ms: int, timeout_s: float = 30.0) -> None:
    """Once every partition is assigned, seek each to `start_ms` (else its end)."""
    deadline = time.monotonic() + timeout_s
    parts = consumer.assignment()
    while not parts:
        if time.monotonic() > deadline:
            raise RuntimeError("no partition of the alerts and incidents topics was assigned "
                               "(do the topics exist?)")
        await asyncio.sleep(0.1)
        parts = consumer.assignment()
    offsets = await consumer.offsets_for_times(dict.fromkeys(parts, start_ms))
    for tp in parts:
        found = offsets.get(tp)
        if found is None:
            await consumer.seek_to_end(tp)
        else:
            consumer.seek(tp, found.offset)


async def follow_topics(cfg: Config, hub: Hub, settings: ConsoleSettings,
                        stop: asyncio.Event, clock: Clock = time.time) -> None:
    """Apply every message of the alerts and incidents topics to the hub until `stop`."""
    from aiokafka import AIOKafkaConsumer

    topics = {cfg.topic("alerts"): "alerts", cfg.topic("incidents"): "incidents"}
    start_ms = _now_ms(clock) - int(settings.replay_overlap_s * 1000)
    backoff = 1.0
    while not stop.is_set():
        consumer = AIOKafkaConsumer(*topics, bootstrap_servers=cfg.bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="latest")
        try:
            await consumer.start()
            await _seek_to_time(consumer, start_ms)
            hub.status["kafka"] = {"ok": True, "error": None}
            backoff = 1.0
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=2000)
                now = _now_ms(clock)
                for tp, msgs in batch.items():
                    kind = topics[tp.topic]
                    for m in msgs:
                        try:
                            value = orjson.loads(m.value)
                        except orjson.JSONDecodeError:
                            hub.bad_messages += 1
                            continue
                        if isinstance(value, dict):
                            hub.take_message(kind, value, now)
                        else:
                            hub.bad_messages += 1
                # a restart resumes where this one got to, not from the overlap again
                start_ms = now - int(settings.replay_overlap_s * 1000)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the broker is away or refused: keep serving, retry
            error = str(e)[:300]
            said = (hub.status.get("kafka") or {}).get("error")
            hub.status["kafka"] = {"ok": False, "error": error}
            log.log(logging.WARNING if error != said else logging.DEBUG,
                    "console: following the topics failed (%s); retrying in %.0fs", e, backoff)
        finally:
            await consumer.stop()
        if not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 30.0)
