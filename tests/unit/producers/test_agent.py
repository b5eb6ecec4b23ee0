"""The agent loop with a stand-in transport: batches, seq across restarts, logs, XIDs."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from common.config import Config, ConfigError
from producers.agent import AgentOptions, Watermark, collect_once, run_agent
from producers.buffer import Record
from producers.gpu import GpuReading, RecordedSource, XidEvent
from schemas.ids import LOGS, METRICS


class Memory:
    """A transport that accepts everything and keeps it."""

    description = "memory"

    def __init__(self) -> None:
        self.records: list[Record] = []

    async def start(self) -> None:
        return None

    async def send(self, records: Sequence[Record]) -> list[BaseException | None]:
        self.records.extend(records)
        return [None] * len(records)

    async def stop(self) -> None:
        return None

    def events(self, schema: str) -> list[dict[str, Any]]:
        out = [orjson.loads(r.value) for r in self.records]
        return [e for e in out if e["schema"] == schema]


def options(tmp_path: Path, **kw: Any) -> AgentOptions:
    base: dict[str, Any] = {"interval_s": 0.2, "host": "test-host", "labels": {"rack": "r9"},
                            "gpu": False, "duration_s": 0.9, "state_dir": tmp_path / "state",
                            "per_core": False, "log_poll_s": 0.05}
    base.update(kw)
    return AgentOptions(**base)


def run(tmp_path: Path, opts: AgentOptions, transport: Memory, **kw: Any) -> Any:
    cfg = Config(home=tmp_path)
    return asyncio.run(run_agent(cfg, stop=asyncio.Event(), options=opts, transport=transport,
                                 **kw))


class TestWatermark:
    def test_moves_only_over_a_contiguous_prefix(self) -> None:
        """An out-of-order acknowledgement waits until everything before it is done."""
        w = Watermark()
        for p in (10, 20, 30):
            w.add(p)
        assert w.done(20) is None
        assert w.done(10) == 20
        assert w.done(30) == 30
        assert len(w) == 0


class TestOptions:
    def test_all_problems_named(self) -> None:
        """Every bad option is reported with its key."""
        probs = AgentOptions(interval_s=0, host="h", labels={"bad key": "x", "rack": ""},
                             buffer_max_batches=0, log_patterns=(" ",)).problems()
        text = "\n".join(probs)
        for key in ("interval_s", "bad label name", "needs a non-empty value",
                    "buffer_max_batches", "empty glob"):
            assert key in text

    def test_from_config_with_overrides(self, tmp_path: Path) -> None:
        """Command-line values override the file; None means 'not given'."""
        cfg = Config(home=tmp_path)
        o = AgentOptions.from_config(cfg, interval_s=2.0, host=None)
        assert o.interval_s == 2.0 and o.host == cfg.agent.host
        assert o.state_dir == tmp_path / "agent"

    def test_run_refuses_bad_options_before_starting(self, tmp_path: Path) -> None:
        """run_agent raises ConfigError listing the problems, and starts nothing."""
        with pytest.raises(ConfigError, match="interval"):
            run(tmp_path, options(tmp_path, interval_s=-1), Memory())
        assert not (tmp_path / "state").exists()


class TestRun:
    def test_batches_carry_labels_seq_and_samples(self, tmp_path: Path) -> None:
        """One batch per interval, topology labels on each, seq strictly increasing."""
        t = Memory()
        stats = run(tmp_path, options(tmp_path), t)
        batches = t.events(METRICS)
        assert len(batches) == stats.batches >= 3
        assert all(b["labels"] == {"rack": "r9"} and b["host"] == "test-host" for b in batches)
        seqs = [b["seq"] for b in batches]
        assert seqs == sorted(set(seqs))
        names = {s["name"] for s in batches[-1]["samples"]}
        assert {"cpu.usage", "mem.usage", "agent.buffered_batches"} <= names
        assert all(r.key == b"test-host" and r.topic == "rackwatch.metrics"
                   for r in t.records)

    def test_seq_survives_restart(self, tmp_path: Path) -> None:
        """A restarted agent continues above every seq it used before."""
        t1, t2 = Memory(), Memory()
        run(tmp_path, options(tmp_path, duration_s=0.5), t1)
        run(tmp_path, options(tmp_path, duration_s=0.5), t2)
        assert min(b["seq"] for b in t2.events(METRICS)) > max(b["seq"] for b in t1.events(METRICS))

    def test_epoch_kept_across_restarts_and_renewed_with_the_state(self, tmp_path: Path) -> None:
        """Every batch names the agent's epoch; a wiped state directory means a new one."""
        t1, t2, t3 = Memory(), Memory(), Memory()
        run(tmp_path, options(tmp_path, duration_s=0.5), t1)
        run(tmp_path, options(tmp_path, duration_s=0.5), t2)
        epochs = {b["epoch"] for t in (t1, t2) for b in t.events(METRICS)}
        assert len(epochs) == 1
        shutil.rmtree(tmp_path / "state")
        run(tmp_path, options(tmp_path, duration_s=0.5), t3)
        assert {b["epoch"] for b in t3.events(METRICS)}.isdisjoint(epochs)

    def test_log_lines_shipped_once_across_restarts(self, tmp_path: Path) -> None:
        """Lines are published with host labels; a restart neither loses nor repeats them."""
        log = tmp_path / "app.log"
        log.write_text("")
        t1, t2 = Memory(), Memory()

        async def write_later() -> None:
            await asyncio.sleep(0.3)
            log.write_text("first\nsecond\n")

        async def first() -> None:
            cfg = Config(home=tmp_path)
            task = asyncio.create_task(write_later())
            await run_agent(cfg, stop=asyncio.Event(), transport=t1,
                            options=options(tmp_path, log_patterns=(str(log),)))
            await task

        asyncio.run(first())
        with open(log, "a") as f:
            f.write("third\n")  # written while the agent is down
        run(tmp_path, options(tmp_path, log_patterns=(str(log),)), t2)
        got = [e["message"] for e in t1.events(LOGS)] + [e["message"] for e in t2.events(LOGS)]
        assert got == ["first", "second", "third"]
        ev = t1.events(LOGS)[0]
        assert ev["source"] == str(log) and ev["labels"]["rack"] == "r9"
        assert [e["seq"] for e in t1.events(LOGS)] == sorted(e["seq"] for e in t1.events(LOGS))

    def test_kernel_log_records(self, tmp_path: Path) -> None:
        """Kernel records are shipped raw, timestamped from boot, once across restarts."""
        dev = tmp_path / "kmsg"
        dev.write_text("3,1,5000000,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=python, "
                       "GPU has fallen off the bus.\n")
        t1, t2 = Memory(), Memory()
        run(tmp_path, options(tmp_path, kmsg=True, kmsg_path=str(dev), duration_s=0.3), t1)
        run(tmp_path, options(tmp_path, kmsg=True, kmsg_path=str(dev), duration_s=0.3), t2)
        (ev,) = t1.events(LOGS)
        assert ev["source"] == "kmsg" and ev["message"].startswith("3,1,5000000,-;NVRM: Xid")
        assert t2.events(LOGS) == []

    def test_gpu_samples_and_xid_events(self, tmp_path: Path) -> None:
        """With a GPU source, batches carry GPU samples and an XID becomes a log and a sample."""
        reading = GpuReading(index=0, uuid="GPU-1", pci_bus_id="00000000:3B:00.0",
                             utilization_pct=90, temperature_c=70, power_mw=500_000)
        src = RecordedSource([[reading]], xids=[XidEvent(0, "GPU-1", "00000000:3B:00.0", 79)])
        t = Memory()
        stats = run(tmp_path, options(tmp_path, gpu=True), t, gpu_source=src)
        assert stats.gpus == 1 and stats.xid_events == 1
        (xid,) = t.events(LOGS)
        assert "Xid (PCI:0000:3b:00): 79" in xid["message"] and xid["labels"]["gpu"] == "0"
        samples = [s for b in t.events(METRICS) for s in b["samples"]]
        assert any(s["name"] == "gpu.utilization" and s["value"] == 0.9 for s in samples)
        assert [s["value"] for s in samples if s["name"] == "gpu.xid"] == [79.0]

    def test_unreachable_broker_keeps_everything_for_later(self, tmp_path: Path) -> None:
        """With the broker refusing connections the agent keeps running and spills its batches."""
        class Refusing(Memory):
            async def start(self) -> None:
                raise ConnectionRefusedError("refused")

        stats = run(tmp_path, options(tmp_path, flush_timeout_s=0.1), Refusing())
        assert stats.batches >= 3 and stats.sent == 0 and stats.buffered == stats.batches
        t = Memory()
        run(tmp_path, options(tmp_path, duration_s=0.3), t)
        assert len(t.events(METRICS)) >= stats.batches


class TestOnce:
    def test_one_batch_with_rates(self, tmp_path: Path) -> None:
        """--once gives one batch, with rates, without touching the state directory."""
        batch = collect_once(options(tmp_path), settle_s=0.2)
        names = {s["name"] for s in batch["samples"]}
        assert "cpu.usage" in names and "mem.usage" in names
        assert batch["labels"]["rack"] == "r9"
        assert not (tmp_path / "state").exists()
