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

from rackwatch.config import Config

__all__ = ["TOPICS", "ensure_topics"]

log = logging.getLogger(__name__)

# Short names; the configured prefix goes in front. Keyed topics keep per-key order.
TOPICS = ("metrics", "logs", "ticks", "processed.metrics", "processed.logs", "alerts",
          "incidents", "deadletter", "correlate")


async def ensure_topics(cfg: Config, names: tuple[str, ...] = TOPICS,
                        timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics; return the names that were created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.bootstrap, request_timeout_ms=10_000)
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
        return missing
    finally:
        await admin.close()
