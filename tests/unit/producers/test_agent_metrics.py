"""The agent's /metrics endpoint: off by default, and on when [agent] metrics_port is set."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from common.broker import free_port
from common.config import Config
from producers.agent import AgentOptions, run_agent
from tests.unit.producers.test_agent import Memory, options


class TestAgentEndpoint:
    """Served on the agent's loop while it runs."""

    def test_off_by_default(self) -> None:
        """An agent runs on every host: no port is opened unless asked for."""
        assert AgentOptions.from_config(Config()).metrics_port == 0

    def test_counts_and_readiness_while_running(self, tmp_path: Path) -> None:
        """Batches collected and sent, the buffer, connected; ready once connected."""
        port = free_port()
        seen: dict[str, float] = {}
        ready: list[int] = []

        async def main() -> None:
            stop = asyncio.Event()
            opts = options(tmp_path, duration_s=None, metrics_port=port)
            task = asyncio.create_task(run_agent(Config(home=tmp_path), stop=stop,
                                                 options=opts, transport=Memory()))
            await asyncio.sleep(1.2)
            async with aiohttp.ClientSession() as s:
                async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                    text = await r.text()
                async with s.get(f"http://127.0.0.1:{port}/readyz") as r:
                    ready.append(r.status)
            for fam in text_string_to_metric_families(text):
                for sample in fam.samples:
                    seen[sample.name] = seen.get(sample.name, 0.0) + sample.value
            stop.set()
            await task

        asyncio.run(main())
        assert seen["rackwatch_agent_metric_batches_total"] >= 2
        assert seen["rackwatch_agent_records_sent_total"] >= 1
        assert seen["rackwatch_agent_broker_connected"] == 1.0
        assert seen["rackwatch_agent_collect_seconds_count"] >= 2
        assert seen["rackwatch_agent_spill_bytes"] == 0.0
        assert ready == [200]


class TestSpillBytes:
    """What waits on disk, as the spill gauge reports it."""

    def test_grows_while_spilling_and_empties_when_drained(self, tmp_path: Path) -> None:
        """Records beyond memory go to the file and count; drained, the gauge is 0."""
        from producers.buffer import Record, SpillBuffer

        buf = SpillBuffer(max_items=100, memory_items=2, spill_path=tmp_path / "spill")
        for i in range(6):
            buf.append(Record("t", b"k", b"x" * 100 + bytes([i])))
        assert buf.spill_bytes > 4 * 100
        buf.pop(len(buf.peek(100)))
        while len(buf):
            buf.pop(len(buf.peek(100)))
        assert buf.spill_bytes == 0
        buf.close()
