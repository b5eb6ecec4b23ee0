"""LogProcessor: the record contract, severity precedence, labels, dirty flag and state."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.ids import LOG_RECORD
from streams.logs import FaultCatalogue, LogProcessor, MinerConfig, template_id
from streams.logs.processor import MAX_ANALYSED_CHARS

TS = 1_718_020_800_000  # 2024-06-10T12:00:00Z


def event(message: object, **fields: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"schema": "rackwatch.logs/v1", "host": "gpu01", "ts": TS, "seq": 7,
                          "message": message}
    ev.update(fields)
    return ev


@pytest.fixture
def proc() -> LogProcessor:
    return LogProcessor()


class TestRecord:
    REQUIRED = {"schema", "host", "ts", "seq", "message", "severity", "program", "pid",
                "template_id", "template", "fault_class", "labels", "component"}

    def test_contract_fields(self, proc: LogProcessor) -> None:
        """A record carries every log_record/v1 field, and the header is parsed out."""
        r = proc.process(event("Jun 10 12:00:00 gpu01 sshd[42]: Accepted publickey for bob "
                               "from 10.0.0.1 port 5022 ssh2", source="/var/log/auth.log",
                               labels={"rack": "r1"}))
        assert set(r) >= self.REQUIRED
        assert r["schema"] == LOG_RECORD
        assert (r["host"], r["ts"], r["seq"], r["source"]) == ("gpu01", TS, 7,
                                                               "/var/log/auth.log")
        assert r["message"] == "Accepted publickey for bob from 10.0.0.1 port 5022 ssh2"
        assert (r["program"], r["pid"]) == ("sshd", 42)
        assert r["template"] == "Accepted publickey for bob from <*> port <*> ssh2"
        assert r["template_id"] == template_id(r["template"])
        assert (r["fault_class"], r["component"], r["labels"]) == (None, None, {"rack": "r1"})
        orjson.dumps(r)  # serialisable as is

    def test_fault_fields(self, proc: LogProcessor) -> None:
        """A classified line carries class, component, fault severity, action, xid, labels."""
        r = proc.process(event("[ 99.1] NVRM: Xid (PCI:0000:3b:00): 79, pid=2345, name=python, "
                               "GPU has fallen off the bus.", labels={"rack": "r1"}))
        assert (r["fault_class"], r["component"]) == ("gpu_xid_79", "gpu")
        extra = dict(r)
        assert (extra["xid"], extra["fault_severity"]) == (79, "critical")
        assert "reboot" in str(extra["fault_action"]).lower()
        assert r["labels"] == {"rack": "r1", "pci": "0000:3b:00", "xid": "79"}
        assert r["message"].startswith("NVRM: Xid")

    def test_event_labels_win_over_extracted(self, proc: LogProcessor) -> None:
        """Topology labels from the event are never overwritten by labels read from text."""
        r = proc.process(event("blk_update_request: I/O error, dev sda, sector 1",
                               labels={"device": "from-agent"}))
        assert r["labels"]["device"] == "from-agent"
        assert r["labels"]["sector"] == "1"

    def test_unclassified_has_no_fault_extras(self, proc: LogProcessor) -> None:
        """Optional fault fields are absent, not null, when nothing matched."""
        r = dict(proc.process(event("all is well")))
        assert "fault_severity" not in r
        assert "xid" not in r


class TestTime:
    def test_event_time_wins(self, proc: LogProcessor) -> None:
        """The event's ts is the record's ts even when the header has another time."""
        r = proc.process(event("<14>1 2020-01-01T00:00:00Z h app - - - hi"))
        assert r["ts"] == TS

    def test_header_time_when_event_has_none(self, proc: LogProcessor) -> None:
        """Without an event ts, the header's complete time is used."""
        ev = event("<14>1 2020-01-01T00:00:00Z h app - - - hi")
        del ev["ts"]
        assert proc.process(ev)["ts"] == 1_577_836_800_000

    def test_yearless_header_uses_previous_time_as_reference(self, proc: LogProcessor) -> None:
        """An RFC 3164 time without event ts takes its year from the last record's time."""
        proc.process(event("first"))
        ev = event("Jun 10 13:00:00 h p: later")
        del ev["ts"]
        assert proc.process(ev)["ts"] == TS + 3_600_000


class TestSeverity:
    @pytest.mark.parametrize(("message", "expected"), [
        ("<14>Jun 10 12:00:00 h kernel: INFO: task x:1 blocked for more than 120 seconds.",
         "info"),  # declared by the PRI: trusted as is, the fault has its own fault_severity
        ("INFO: task x:1 blocked for more than 120 seconds.", "warning"),  # fault beats 'INFO'
        ("ERROR: cannot open file", "error"),  # a level word, no fault
        ("Out of memory: Killed process 1 (python)", "warning"),  # the fault's severity
        ("NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=x, GPU has fallen off the bus.",
         "critical"),
        ("session opened for user root", "info"),  # nothing said: info
        ('{"level":"debug","msg":"tick"}', "debug"),
    ])
    def test_precedence(self, proc: LogProcessor, message: str, expected: str) -> None:
        """Declared level, else the worse of fault and level word, else info."""
        assert proc.process(event(message))["severity"] == expected


class TestRobustness:
    @pytest.mark.parametrize("message", [None, 42, "", "\x00\x01", "{broken"])
    def test_odd_messages_still_produce_records(self, proc: LogProcessor, message: object) -> None:
        """Whatever the message holds, a record comes back (never dropped)."""
        r = proc.process(event(message))
        assert isinstance(r["message"], str)
        assert r["template_id"]

    def test_missing_host_falls_back_to_header(self, proc: LogProcessor) -> None:
        """An event without host takes the syslog header's host."""
        ev = event("Jun 10 12:00:00 node9 app: x")
        del ev["host"]
        assert proc.process(ev)["host"] == "node9"

    def test_raw_and_content_give_the_same_template(self) -> None:
        """A raw syslog line and its bare content land in the same template."""
        a, b = LogProcessor(), LogProcessor()
        raw = a.process(event("Jun 10 12:00:00 h sshd[1]: Invalid user admin from 1.2.3.4"))
        bare = b.process(event("Invalid user admin from 1.2.3.4"))
        assert (raw["template_id"], raw["template"]) == (bare["template_id"], bare["template"])


class TestStateAndDirty:
    def test_dirty_only_on_template_changes(self, proc: LogProcessor) -> None:
        """New or generalised templates set dirty; a plain repeat does not."""
        seen = [proc.dirty]
        proc.process(event("session closed for user=alice"))  # created
        seen.append(proc.dirty)
        proc.snapshot()
        seen.append(proc.dirty)
        proc.process(event("session closed for user=alice"))  # a repeat
        seen.append(proc.dirty)
        proc.process(event("session closed for user=bob"))  # generalised
        seen.append(proc.dirty)
        assert seen == [False, True, False, False, True]

    def test_restore_keeps_ids(self, proc: LogProcessor) -> None:
        """A processor restored from a snapshot gives known templates their old ids."""
        first = proc.process(event("session closed for user=alice"))["template_id"]
        restored = LogProcessor(miner_state=proc.snapshot())
        assert restored.process(event("session closed for user=bob"))["template_id"] == first
        assert restored.state_error is None

    def test_unreadable_state_starts_empty(self) -> None:
        """Corrupt state is reported in state_error and processing goes on."""
        p = LogProcessor(miner_state=b"not json")
        assert p.state_error is not None
        assert p.process(event("hello"))["template"] == "hello"

    def test_config_and_catalogue_are_injected(self) -> None:
        """A custom miner config and catalogue are used."""
        cat = FaultCatalogue.from_dict({"version": 1, "entries": [{
            "id": "e", "fault_class": "custom", "component": "x", "severity": "info",
            "keywords": ["zap"], "pattern": "zap", "description": "d", "action": "a"}]})
        p = LogProcessor(catalogue=cat, config=MinerConfig(id_mode="current"))
        p.process(event("zap user=alice"))
        r = p.process(event("zap user=bob"))
        assert r["fault_class"] == "custom"
        assert r["template_id"] == template_id("zap user=<*>")


class TestLongLines:
    def test_long_line_kept_whole_but_analysed_in_bounded_prefix(self, proc: LogProcessor) -> None:
        """A huge line keeps its full message; template and fault come from its start."""
        text = "Out of memory: Killed process 1 (python) " + "x" * (3 * MAX_ANALYSED_CHARS)
        r = proc.process(event(text))
        assert r["message"] == text
        assert r["fault_class"] == "oom_kill"
        assert len(r["template"]) < MAX_ANALYSED_CHARS + 16  # masks may lengthen a bit

    @settings(max_examples=50)
    @given(st.text(max_size=400))
    def test_any_text_makes_a_record(self, text: str) -> None:
        """Arbitrary text never breaks process(), and the record is JSON-serialisable."""
        r = LogProcessor().process(event(text))
        assert r["template_id"]
        orjson.dumps(r)
