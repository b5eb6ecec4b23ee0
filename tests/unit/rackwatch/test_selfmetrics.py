"""The roles' /metrics, /healthz and /readyz endpoint, read over HTTP and parsed."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from common.selfmetrics import serve
from streams.rules import parse_rules
from streams.runtime import Runtime
from streams.worker.stats import WorkerCollector, WorkerStats


async def fetch(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.text()


class TestEndpoint:
    def test_metrics_health_and_readiness(self) -> None:
        """Exposition text a real parser reads; /readyz follows the role's verdict."""
        state = {"ready": False}

        async def main() -> None:
            reg = CollectorRegistry()
            Counter("rackwatch_test_things", "things", registry=reg).inc(3)
            ep = await serve("test", reg, "127.0.0.1", 0,
                             ready=lambda: (state["ready"], "state says so"))
            assert ep is not None
            try:
                status, text = await fetch(ep.url + "/metrics")
                assert status == 200
                fams = {f.name: f for f in text_string_to_metric_families(text)}
                assert fams["rackwatch_test_things"].samples[0].value == 3.0
                assert (await fetch(ep.url + "/healthz"))[0] == 200
                assert await fetch(ep.url + "/readyz") == (503, "state says so\n")
                state["ready"] = True
                assert (await fetch(ep.url + "/readyz"))[0] == 200
            finally:
                await ep.close()

        asyncio.run(main())

    def test_a_port_in_use_falls_back_to_a_free_one(self) -> None:
        """A second role on the host does not fail: it serves on another port and says so."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]

            async def main() -> str:
                ep = await serve("test", CollectorRegistry(), "127.0.0.1", port)
                assert ep is not None
                await ep.close()
                return ep.url

            url = asyncio.run(main())
        assert not url.endswith(f":{port}")


class TestWorkerCollector:
    def test_counters_and_lag_in_exposition_format(self) -> None:
        """The worker's counters, dedup verdicts and per-partition lag, as parsed."""
        stats = WorkerStats(batches=4, refetched=2, watchdog_seeks=1,
                            lag={("rackwatch.metrics", 3): 17})
        runtime = Runtime(parse_rules("groups: []\n"))
        runtime.dedup.counts[("metrics", "duplicate", "h1")] = 5
        runtime.deadletter_reasons["bad_json"] = 2
        reg = CollectorRegistry()
        reg.register(WorkerCollector(stats, runtime, lambda: 6))
        from prometheus_client import generate_latest

        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(generate_latest(reg).decode())
                   for s in f.samples}
        assert samples[("rackwatch_worker_batches_total", ())] == 4
        assert samples[("rackwatch_worker_refetched_messages_total", ())] == 2
        assert samples[("rackwatch_worker_watchdog_actions_total", (("action", "seek"),))] == 1
        assert samples[("rackwatch_worker_dedup_verdicts_total",
                        (("reason", "duplicate"), ("stream", "metrics")))] == 5
        assert samples[("rackwatch_worker_dead_letters_total", (("reason", "bad_json"),))] == 2
        assert samples[("rackwatch_worker_partition_lag",
                        (("partition", "3"), ("topic", "rackwatch.metrics")))] == 17
        assert samples[("rackwatch_worker_assigned_partitions", ())] == 6
