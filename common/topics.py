"""Create rackwatch's topics with the configured partition count before anything uses them.

Relying on broker auto-creation would give topics the broker's default partition
count, and the worker's state tables must be co-partitioned with its inputs; so every
command that produces or consumes declares the topics first. Idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from common.config import Config
from common.kafka import admin_client

__all__ = ["TOPICS", "ensure_topics"]

log = logging.getLogger(__name__)

# Short names; the configured prefix goes in front. Keyed topics keep per-key order.
TOPICS = ("metrics", "logs", "ticks", "processed.metrics", "processed.logs", "alerts",
          "incidents", "deadletter", "correlate", "actions")


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str],
                            timeout_s: float) -> None:
    """Block until every partition of the new topics has a leader, so that a producer
    started right after us does not begin with a burst of NotLeaderForPartition retries."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        described = await admin.describe_topics(topics)
        ready = all(
            t.get("error_code", 0) == 0 and t.get("partitions")
            and all(p.get("leader", -1) >= 0 for p in t["partitions"])
            for t in described)
        if ready:
            return
        await asyncio.sleep(0.1)
    log.warning("topics %s still have partitions without a leader", ", ".join(topics))


async def ensure_topics(cfg: Config, names: tuple[str, ...] = TOPICS,
                        timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics; return the names that were created."""
    admin = admin_client(cfg, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [cfg.topic(n) for n in names]
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return []
        new = [NewTopic(t, num_partitions=cfg.kafka.partitions,
                        replication_factor=cfg.kafka.replication_factor) for t in missing]
        # A concurrent creation by another process is fine.
        with contextlib.suppress(TopicAlreadyExistsError):
            await asyncio.wait_for(admin.create_topics(new), timeout_s)
        log.info("created topics %s", ", ".join(missing))
        await _wait_for_leaders(admin, missing, timeout_s)
        return missing
    finally:
        await admin.close()
