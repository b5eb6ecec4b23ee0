"""Kernel formats: dmesg, dmesg -T / -x, /dev/kmsg, printk levels, kernel lines via syslog."""

from __future__ import annotations

import calendar

from streams.logs import parse_line
from streams.logs.kernel import parse_kernel, split_uptime


class TestDmesg:
    def test_uptime_prefix_removed_and_kept(self) -> None:
        """'[ 1234.567890] msg': the uptime goes to extra, the message is what follows."""
        p = parse_line("[ 1234.567890] NVRM: Xid (PCI:0000:3b:00): 79, pid=2345, name=python, "
                       "GPU has fallen off the bus.")
        assert p.format == "kernel"
        assert p.program == "kernel"
        assert p.extra["uptime_s"] == "1234.567890"
        assert p.message.startswith("NVRM: Xid (PCI:0000:3b:00): 79")
        assert p.ts is None

    def test_human_time(self) -> None:
        """dmesg -T writes a ctime; it becomes the line's time."""
        p = parse_line("[Mon Jun 10 12:34:56 2024] Out of memory: Killed process 1234 (python)")
        assert p.ts == calendar.timegm((2024, 6, 10, 12, 34, 56, 0, 0, 0)) * 1000
        assert p.message == "Out of memory: Killed process 1234 (python)"

    def test_decoded_facility_and_level(self) -> None:
        """dmesg -x: 'kern  :err   : ' gives facility and severity."""
        p = parse_line("kern  :err   : [   12.345678] EXT4-fs error (device sda1): bad")
        assert (p.severity, p.extra["facility"]) == ("error", "kern")
        assert p.extra["uptime_s"] == "12.345678"
        assert p.message == "EXT4-fs error (device sda1): bad"

    def test_printk_level_prefix(self) -> None:
        """'<3>' (dmesg -r) is a printk level, not a syslog PRI."""
        p = parse_line("<3>blk_update_request: I/O error, dev sda, sector 12345")
        assert (p.format, p.severity) == ("kernel", "error")
        assert p.message == "blk_update_request: I/O error, dev sda, sector 12345"

    def test_split_uptime_needs_brackets_and_decimals(self) -> None:
        """Only a bracketed decimal number is an uptime; '[preauth]' is not."""
        assert split_uptime("[preauth] x") == (None, "[preauth] x")
        assert split_uptime("[    0.000000] Linux version") == ("0.000000", "Linux version")

    def test_bracket_text_is_not_kernel(self) -> None:
        """A line that merely starts with '[' is plain text."""
        assert parse_kernel("[Rank 5] Watchdog caught collective operation timeout") is None
        assert parse_line("[Rank 5] Watchdog caught").format == "plain"


class TestKmsg:
    def test_record(self) -> None:
        """/dev/kmsg 'pri,seq,usec,flags;msg': severity from pri, uptime from usec."""
        p = parse_line("4,1234,5678901234,-;mlx5_core 0000:5e:00.0 ens1f0: Link down")
        assert p.format == "kmsg"
        assert p.severity == "warning"
        assert p.extra == {"kmsg_seq": "1234", "uptime_s": "5678.901234"}
        assert p.message == "mlx5_core 0000:5e:00.0 ens1f0: Link down"

    def test_facility_bits_ignored(self) -> None:
        """A kmsg pri with facility bits set still gives the right level."""
        assert parse_line("30,1,2,-;systemd[1]: Started x").severity == "info"


class TestKernelViaSyslog:
    def test_uptime_stripped_after_syslog_header(self) -> None:
        """'kernel: [ 12.3] msg' from syslog: header parsed, uptime removed from content."""
        p = parse_line("Jun 10 12:00:00 gpu01 kernel: [  812.112233] watchdog: BUG: soft "
                       "lockup - CPU#3 stuck for 22s! [python:1234]",
                       reference_ms=1_718_000_000_000)
        assert (p.format, p.host, p.program) == ("rfc3164", "gpu01", "kernel")
        assert p.message == "watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [python:1234]"
        assert p.extra["uptime_s"] == "812.112233"
