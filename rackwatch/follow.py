"""Follow the alerts topic from a terminal (`rackwatch alerts`), as a downstream service would."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer

from rackwatch.config import Config

__all__ = ["follow_alerts"]


async def follow_alerts(cfg: Config, *, from_beginning: bool = False, as_json: bool = False,
                        limit: int = 0) -> int:
    """Print alert state changes as they arrive; returns how many were printed."""
    from streams.cli import format_alert

    consumer = AIOKafkaConsumer(
        cfg.topic("alerts"), bootstrap_servers=cfg.bootstrap,
        group_id=None if from_beginning else f"rackwatch-alerts-cli-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False)
    await consumer.start()
    n = 0
    try:
        async for msg in consumer:
            line = msg.value.decode() if as_json else format_alert(msg.value)
            print(line, flush=True)
            n += 1
            if limit and n >= limit:
                break
    finally:
        await consumer.stop()
    return n
