"""The serving chain end to end: a live vLLM-shaped endpoint slows down, the agent scrapes
it into its batches on the real broker, and the processing core's shipped serving rule
raises the alert that names the model and the replica."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from common.config import Config, KafkaConfig, ScrapeTargetConfig
from producers.agent import AgentOptions, run_agent
from schemas.ids import ALERT
from streams.replay import replay_lines
from streams.rules import DEFAULT_RULES_PATH, load_rules

pytestmark = pytest.mark.integration

TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0]  # vLLM's
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


class SlowingServer:
    """vLLM's metrics, through prometheus-client as vLLM exposes them; every scrape
    finishes 10 more requests, at 0.08 s to first token until `slow_after`, then 4 s."""

    def __init__(self, slow_after: float) -> None:
        self.registry = CollectorRegistry()
        self.ttft = Histogram("vllm:time_to_first_token_seconds",
                              "Histogram of time to first token in seconds.", ["model_name"],
                              buckets=TTFT_BUCKETS, registry=self.registry)
        self.done = Counter("vllm:request_success", "Count of successfully processed requests.",
                            ["finished_reason", "model_name"], registry=self.registry)
        self.slow_after = slow_after
        self.scrapes = 0

    async def metrics(self, request: web.Request) -> web.Response:
        slow = time.monotonic() >= self.slow_after
        for _ in range(10):
            self.ttft.labels(MODEL).observe(4.0 if slow else 0.08)
        self.done.labels("stop", MODEL).inc(10)
        self.scrapes += 1
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": "text/plain; version=0.0.4"})


def fast_rules(tmp_path: Path) -> Path:
    """The shipped rules with every `for` cut to 2 s (the agent sends every 0.5 s)."""
    text = re.sub(r"(\n\s+for: )\d+[smh]", r"\g<1>2s", Path(DEFAULT_RULES_PATH).read_text())
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


async def consume(bootstrap: str, topic: str, expect: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    out: list[bytes] = []
    try:
        end = time.monotonic() + 30
        while len(out) < expect and time.monotonic() < end:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(m.value for m in msgs)
    finally:
        await consumer.stop()
    return out


def test_slow_replica_alerts_through_the_broker(kafka_broker: str, topic_prefix: str,
                                                tmp_path: Path) -> None:
    """Batches on the metrics topic carry the scraped serving series and the scrape's
    health; replayed through the shipped rules, the slowdown raises ServingLatencyHigh
    on the agent's host with the target's model and replica labels."""
    cfg = Config(home=tmp_path, kafka=KafkaConfig(bootstrap=kafka_broker,
                                                  topic_prefix=topic_prefix, partitions=1))

    async def run() -> int:
        server = SlowingServer(slow_after=time.monotonic() + 4.0)
        app = web.Application()
        app.router.add_get("/metrics", server.metrics)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
        target = ScrapeTargetConfig(name="vllm-0", url=url, timeout_s=0.4,
                                    labels={"model": "llama-8b", "replica": "r-3"})
        opts = AgentOptions.from_config(cfg, interval_s=0.5, duration_s=12.0, host="serve-1",
                                        labels={"rack": "r07"}, gpu=False, host_metrics=False,
                                        scrape=(target,))
        try:
            stats = await run_agent(cfg, stop=asyncio.Event(), options=opts)
        finally:
            await runner.cleanup()
        assert server.scrapes >= 15
        return stats.batches

    batches = asyncio.run(run())
    values = asyncio.run(consume(kafka_broker, cfg.topic("metrics"), batches))
    assert len(values) == batches
    names = {s["name"] for v in values for s in orjson.loads(v)["samples"]}
    assert {"serving.ttft_s.p99", "serving.requests_per_s", "agent.scrape.up"} <= names
    alerts = [orjson.loads(x) for x in replay_lines(values, load_rules(fast_rules(tmp_path)))]
    slow = [a for a in alerts if a["schema"] == ALERT and a["rule"] == "ServingLatencyHigh"
            and a["status"] == "firing"]
    assert slow, [a["rule"] for a in alerts]
    assert (slow[0]["host"], slow[0]["labels"]["model"], slow[0]["labels"]["replica"],
            slow[0]["labels"]["rack"]) == ("serve-1", "llama-8b", "r-3", "r07")
    assert slow[0]["value"] > 2.0
