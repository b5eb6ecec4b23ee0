"""Kernel log records: parsing, and reading with resume across restarts."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from producers.kmsg import KmsgReader, format_kmsg, parse_kmsg
from producers.problems import Problems


class TestParse:
    def test_record(self) -> None:
        """Priority splits into level and facility; seq and microseconds are kept."""
        rec = parse_kmsg("3,1234,5678901,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=python, "
                         "GPU has fallen off the bus.")
        assert rec is not None
        assert (rec.level, rec.facility, rec.seq, rec.ts_us) == (3, 0, 1234, 5678901)
        assert rec.severity == "err"
        assert rec.message.endswith("GPU has fallen off the bus.")

    def test_facility_and_extra_header_fields(self) -> None:
        """Newer kernels add header fields after the flags; they are ignored."""
        rec = parse_kmsg("30,7,100,-,caller=T1;systemd[1]: started")
        assert rec is not None
        assert (rec.level, rec.facility) == (6, 3)

    def test_continuation_and_garbage(self) -> None:
        """Continuation lines (leading space) and malformed lines are not records."""
        assert parse_kmsg(" SUBSYSTEM=pci") is None
        assert parse_kmsg("no header here") is None
        assert parse_kmsg("a,b,c;msg") is None
        assert parse_kmsg("") is None

    def test_escapes(self) -> None:
        """The kernel's \\xNN escapes are decoded."""
        rec = parse_kmsg("6,1,1,-;tab\\x09here")
        assert rec is not None and rec.message == "tab\there"

    @given(st.integers(0, 7), st.integers(0, 23), st.integers(0, 2**40), st.integers(0, 2**40),
           st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs"),
                                          blacklist_characters="\\"), max_size=80))
    def test_format_parse_round_trip(self, level: int, fac: int, seq: int, us: int,
                                     msg: str) -> None:
        """Any record the simulator formats parses back to the same fields."""
        rec = parse_kmsg(format_kmsg(level, seq, us, msg, fac))
        assert rec is not None
        assert (rec.level, rec.facility, rec.seq, rec.ts_us) == (level, fac, seq, us)
        assert rec.message == msg


def write(path: Path, *lines: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for ln in lines:
            f.write(ln + "\n")


class TestReader:
    def test_reads_records_in_order_and_skips_continuations(self, tmp_path: Path) -> None:
        """Records come out in order; metadata lines are not records."""
        dev = tmp_path / "kmsg"
        write(dev, "6,1,10,-;first", " DEVICE=+pci:0000:3b:00.0", "3,2,20,-;second")
        r = KmsgReader(str(dev), boot_time=1000.0, boot_id="b1")
        recs = r.poll()
        assert [x.message for x in recs] == ["first", "second"]
        assert r.ts_ms(recs[1]) == 1_000_000 + 0  # 20 us after boot, in ms
        write(dev, "4,3,30,-;third")
        assert [x.message for x in r.poll()] == ["third"]

    def test_resume_skips_what_was_shipped_in_the_same_boot(self, tmp_path: Path) -> None:
        """After a restart in the same boot, records up to the saved seq are not re-sent."""
        dev = tmp_path / "kmsg"
        write(dev, "6,1,1,-;a", "6,2,2,-;b", "6,3,3,-;c")
        r = KmsgReader.resume(str(dev), {"boot_id": "b1", "seq": 2}, boot_time=0, boot_id="b1")
        assert [x.message for x in r.poll()] == ["c"]

    def test_new_boot_reads_everything(self, tmp_path: Path) -> None:
        """After a reboot the kernel's seq restarts, so the saved cursor no longer applies."""
        dev = tmp_path / "kmsg"
        write(dev, "6,1,1,-;a", "6,2,2,-;b")
        r = KmsgReader.resume(str(dev), {"boot_id": "old", "seq": 5}, boot_time=0, boot_id="new")
        assert [x.message for x in r.poll()] == ["a", "b"]
        assert r.cursor(2) == {"boot_id": "new", "seq": 2}

    def test_unreadable_device_is_reported_once(self, tmp_path: Path) -> None:
        """A kernel log that cannot be opened is said once; polling carries on returning nothing."""
        problems = Problems()
        r = KmsgReader(str(tmp_path / "missing"), problems=problems, retry_every_polls=2)
        for _ in range(5):
            assert r.poll() == []
        assert problems.counts[f"kmsg:{tmp_path / 'missing'}"] >= 2
        assert problems.is_active(f"kmsg:{tmp_path / 'missing'}")

    def test_shipped_line_is_the_raw_record(self, tmp_path: Path) -> None:
        """What the agent ships is the record line itself, which the log parser understands."""
        dev = tmp_path / "kmsg"
        write(dev, "3,9,77,-;NVRM: Xid (PCI:0000:18:00): 48, pid=1, name=x, DBE")
        rec = KmsgReader(str(dev)).poll()[0]
        assert rec.raw == "3,9,77,-;NVRM: Xid (PCI:0000:18:00): 48, pid=1, name=x, DBE"
