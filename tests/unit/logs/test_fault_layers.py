"""LogProcessor's three fault layers: catalogue, generic words, novelty; fault_source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev extras
import orjson
import pytest

from streams.logs import LogProcessor
from streams.logs.novelty import NoveltyConfig

TS = 1_718_020_800_000  # 2024-06-10T12:00:00Z
H = 3_600_000
SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "schemas" / "json"
                     / "log_record.v1.schema.json").read_text())


def event(message: str, ts: int = TS, host: str = "gpu01", seq: int = 1) -> dict[str, Any]:
    return {"schema": "rackwatch.logs/v1", "host": host, "ts": ts, "seq": seq,
            "message": message}


@pytest.fixture
def proc() -> LogProcessor:
    return LogProcessor()


class TestSources:
    def test_catalogue_first(self, proc: LogProcessor) -> None:
        """A catalogued line keeps its class and says `catalogue`."""
        r = dict(proc.process(event("[ 9.1] NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=x, "
                                    "GPU has fallen off the bus.")))
        assert (r["fault_class"], r["fault_source"]) == ("gpu_xid_79", "catalogue")

    def test_generic_fault_fields(self, proc: LogProcessor) -> None:
        """An unknown failure line gets generic_<kind>, source, fault severity and action."""
        r = dict(proc.process(event("Jun 10 12:00:00 gpu01 slurmd[7]: error: Could not "
                                    "connect to controller 10.0.0.9")))
        assert (r["fault_class"], r["fault_source"], r["component"]) == (
            "generic_network", "generic", "network")
        assert (r["severity"], r["fault_severity"]) == ("error", "warning")
        assert "connection" in str(r["fault_action"]).lower()

    def test_recovered_and_routine_lines_have_no_fault(self, proc: LogProcessor) -> None:
        """Corrected errors and routine lines carry no fault fields at all."""
        for text in ("EDAC: cache parity error corrected", "systemd[1]: Started Session 4."):
            r = dict(proc.process(event(text)))
            assert r["fault_class"] is None and "fault_source" not in r, text

    def test_declared_level_wins_over_words(self, proc: LogProcessor) -> None:
        """The record keeps the level the line declares; words only fill in a missing one."""
        r = proc.process(event("<14>1 2024-06-10T12:00:00Z gpu01 app - - - upload failed"))
        assert (r["severity"], r["fault_class"]) == ("info", "generic_error")
        r = proc.process(event("upload failed"))
        assert r["severity"] == "error"

    def test_unparsed_header_level(self, proc: LogProcessor) -> None:
        """An upper-case level in a header the parsers do not know is the line's level,
        and is not read as a failure word."""
        r = proc.process(event("2015-07-29 17:41:44,747 - ERROR [main:Peer@1] - Served it"))
        assert (r["severity"], r["fault_class"]) == ("error", None)
        r = proc.process(event("- 1117838570 2005.06.03 R02-M1 RAS KERNEL FATAL data storage "
                               "interrupt"))
        assert (r["severity"], r["fault_class"]) == ("critical", "generic_hardware")

    def test_generic_off_is_the_catalogue_alone(self) -> None:
        """generic=False classifies only what the catalogue knows."""
        off = LogProcessor(generic=False)
        assert off.process(event("upload failed"))["fault_class"] is None
        assert off.process(event("upload failed"))["severity"] == "info"

    def test_records_match_the_json_schema(self, proc: LogProcessor) -> None:
        """Records of every layer validate against log_record/v1."""
        validator = jsonschema.Draft202012Validator(SCHEMA)
        for text in ("upload failed", "all is well", "NVRM: Xid (PCI:0000:3b:00): 48, pid=1"):
            validator.validate(orjson.loads(orjson.dumps(proc.process(event(text)))))


class TestNovelty:
    def novel_proc(self) -> LogProcessor:
        return LogProcessor(novelty=NoveltyConfig(warmup_ms=H))

    def test_first_candidate_after_warmup_is_novel(self) -> None:
        """A weak-worded template new on a watched host is a fault once, then not."""
        p = self.novel_proc()
        p.process(event("boot ok", ts=TS))
        early = p.process(event("Unknown partition table on sdb", ts=TS + 60_000))
        assert early["fault_class"] is None  # warming up: remembered only
        late = dict(p.process(event("Partition rdd_1 not found", ts=TS + 2 * H, seq=3)))
        assert (late["fault_class"], late["fault_source"], late["fault_severity"]) == (
            "generic_error", "novel", "info")
        assert late["severity"] == "warning"
        again = p.process(event("Partition rdd_2 not found", ts=TS + 2 * H + 1, seq=4))
        assert again["fault_class"] is None

    def test_snapshot_keeps_novelty(self) -> None:
        """A restored processor remembers hosts and templates: no second report."""
        p = self.novel_proc()
        p.process(event("boot ok", ts=TS))
        p.process(event("Partition rdd_1 not found", ts=TS + 2 * H))
        before = p.dirty
        state = p.snapshot()
        assert (before, p.dirty) == (True, False)
        q = LogProcessor(miner_state=state, novelty=NoveltyConfig(warmup_ms=H))
        assert q.state_error is None
        assert q.process(event("Partition rdd_7 not found", ts=TS + 3 * H))["fault_class"] is None
        assert q.process(event("Unknown base file /x", ts=TS + 3 * H))["fault_source"] == "novel"

    def test_snapshot_without_novelty_warms_up_again(self) -> None:
        """A miner-only snapshot (older worker) restores templates; hosts warm up anew."""
        p = self.novel_proc()
        p.process(event("Partition rdd_1 not found", ts=TS))
        old = orjson.loads(p.snapshot())
        del old["novelty"]
        q = LogProcessor(miner_state=orjson.dumps(old), novelty=NoveltyConfig(warmup_ms=H))
        assert q.state_error is None and len(q.miner.clusters()) == 1
        r = q.process(event("Unknown base file /x", ts=TS + 9 * H))
        assert r["fault_class"] is None  # first line of the host since the restart
