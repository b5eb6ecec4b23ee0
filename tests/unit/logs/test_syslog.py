"""RFC 3164 and RFC 5424 headers, including the loose forms real files contain."""

from __future__ import annotations

import calendar

from hypothesis import given
from hypothesis import strategies as st

from streams.logs import parse_line
from streams.logs.syslog import parse_rfc3164, parse_rfc5424


def utc_ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, ms: int = 0) -> int:
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + ms


REF_2005 = utc_ms(2005, 7, 1)


class TestRfc3164:
    def test_classic_line(self) -> None:
        """Time, host, program with a module in parentheses, pid, message."""
        p = parse_line("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; "
                       "logname= uid=0", reference_ms=REF_2005)
        assert p.format == "rfc3164"
        assert p.ts == utc_ms(2005, 6, 14, 15, 16, 1)
        assert (p.host, p.program, p.pid) == ("combo", "sshd(pam_unix)", 19939)
        assert p.message == "authentication failure; logname= uid=0"
        assert p.severity is None

    def test_single_digit_day_padded_with_space(self) -> None:
        """'Jul  3' (two spaces) is the standard padding for days 1-9."""
        p = parse_line("Jul  3 04:08:03 combo kernel: hello", reference_ms=REF_2005)
        assert p.ts == utc_ms(2005, 7, 3, 4, 8, 3)
        assert (p.program, p.message) == ("kernel", "hello")

    def test_tag_with_version(self) -> None:
        """'syslogd 1.4.1: restart.' is program syslogd, not a message."""
        p = parse_line("Jun 19 04:09:11 combo syslogd 1.4.1: restart.", reference_ms=REF_2005)
        assert (p.program, p.pid, p.message) == ("syslogd", None, "restart.")

    def test_login_dash_dash_tag(self) -> None:
        """login(1) writes the ident '-- root'; the program is the user-visible word."""
        p = parse_line("Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2",
                       reference_ms=REF_2005)
        assert (p.host, p.program, p.pid, p.message) == ("combo", "root", 2421,
                                                         "ROOT LOGIN ON tty2")

    def test_path_tag_is_reduced_to_basename(self) -> None:
        """A tag written as an absolute path gives the program's base name."""
        p = parse_line("Nov  9 12:01:01 tbird-admin1 /apps/x86_64/system/ganglia-3.0.1/sbin/"
                       "gmetad[1682]: data_thread() got not answer", reference_ms=REF_2005)
        assert (p.program, p.pid) == ("gmetad", 1682)

    def test_pri_gives_severity_and_facility(self) -> None:
        """<PRI> before the time: severity and facility come from it."""
        p = parse_line("<11>Jun 10 12:00:00 n1 app[1]: boom", reference_ms=REF_2005)
        assert p.severity == "error"
        assert p.extra["facility"] == "user"

    def test_rfc3339_timestamp_variant(self) -> None:
        """rsyslog's high-precision format: an RFC 3339 time instead of 'Mmm dd'."""
        p = parse_line("2024-06-10T12:34:56.123456+02:00 gpu-node-01 kernel: [ 99.1] x")
        assert p.format == "rfc3164"
        assert p.ts == utc_ms(2024, 6, 10, 10, 34, 56, 123)
        assert (p.host, p.program, p.message) == ("gpu-node-01", "kernel", "x")
        assert p.extra["uptime_s"] == "99.1"

    def test_missing_host(self) -> None:
        """A line written without a host still yields the program."""
        p = parse_line("Jun 10 12:00:00 sshd[42]: Accepted publickey", reference_ms=REF_2005)
        assert (p.host, p.program, p.pid, p.message) == (None, "sshd", 42, "Accepted publickey")

    def test_no_tag_leaves_message_whole(self) -> None:
        """Without a tag the content after the host is the message."""
        p = parse_line("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", reference_ms=REF_2005)
        assert (p.host, p.program, p.message) == ("10.0.0.99", None, "Use the BFG!")

    def test_long_sentence_with_colon_is_not_a_tag(self) -> None:
        """More than two words before the colon is message text, not a tag."""
        p = parse_line("Jun 10 12:00:00 n1 Out of memory: Killed process 1 (x)",
                       reference_ms=REF_2005)
        assert p.program is None
        assert p.message == "Out of memory: Killed process 1 (x)"

    def test_year_inferred_across_new_year(self) -> None:
        """A December line read in early January belongs to the previous year."""
        p = parse_line("Dec 31 23:59:59 h p: x", reference_ms=utc_ms(2024, 1, 1, 0, 0, 5))
        assert p.ts == utc_ms(2023, 12, 31, 23, 59, 59)

    def test_no_reference_no_time(self) -> None:
        """Without a reference the year is unknown, so the time stays None (no clock read)."""
        assert parse_line("Jun 14 15:16:01 combo x: y").ts is None

    def test_explicit_year(self) -> None:
        """A year written after the time is used as is."""
        p = parse_line("Jun 14 15:16:01 2024 combo x: y")
        assert p.ts == utc_ms(2024, 6, 14, 15, 16, 1)

    def test_invalid_date_keeps_line(self) -> None:
        """Feb 30 gives no time, but host, program and message are kept."""
        p = parse_line("Feb 30 12:00:00 host x: y", reference_ms=REF_2005)
        assert (p.ts, p.host, p.program, p.message) == (None, "host", "x", "y")

    def test_pri_out_of_range_is_not_syslog(self) -> None:
        """PRI above 191 is not syslog; the parser declines."""
        assert parse_rfc3164("<999>Jun 10 12:00:00 h p: x") is None

    @given(
        host=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
        program=st.from_regex(r"[a-z][a-z0-9_.-]{0,15}", fullmatch=True),
        pid=st.integers(min_value=1, max_value=4_194_304),
        message=st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
                        max_size=80).map(str.strip),
        day=st.integers(min_value=1, max_value=28),
        pri=st.integers(min_value=0, max_value=191),
    )
    def test_round_trip(self, host: str, program: str, pid: int, message: str, day: int,
                        pri: int) -> None:
        """Fields written into an RFC 3164 line come back out unchanged."""
        line = f"<{pri}>Mar {day:2d} 01:02:03 {host} {program}[{pid}]: {message}"
        p = parse_line(line, reference_ms=REF_2005)
        assert (p.host, p.program, p.pid, p.message) == (host, program, pid, message)
        assert p.ts == utc_ms(2005, 3, day, 1, 2, 3)
        assert p.severity == ("emergency", "alert", "critical", "error", "warning", "notice",
                              "info", "debug")[pri % 8]


class TestRfc5424:
    def test_rfc_example_with_structured_data_and_bom(self) -> None:
        """RFC 5424 section 6.5 example 3: SD params extracted, BOM dropped."""
        line = ('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
                '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] '
                '\ufeffAn application event log entry...')
        p = parse_line(line)
        assert p.format == "rfc5424"
        assert p.ts == utc_ms(2003, 10, 11, 22, 14, 15, 3)
        assert (p.host, p.program, p.pid) == ("mymachine.example.com", "evntslog", None)
        assert p.severity == "notice"
        assert p.message == "An application event log entry..."
        assert p.extra["exampleSDID@32473.eventSource"] == "Application"
        assert p.extra["msgid"] == "ID47"
        assert p.extra["facility"] == "local4"

    def test_nil_values_and_numeric_offset(self) -> None:
        """'-' fields are None; a -07:00 offset is converted to UTC."""
        p = parse_line("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
                       "%% It's time to make the do-nuts.")
        assert p.ts == utc_ms(2003, 8, 24, 12, 14, 15, 0)
        assert (p.host, p.program, p.pid) == ("192.0.2.1", "myproc", 8710)
        assert p.message == "%% It's time to make the do-nuts."
        assert "msgid" not in p.extra

    def test_escaped_quote_and_bracket_in_sd(self) -> None:
        """Escaped ']' and '"' inside SD values do not end the element early."""
        line = ('<14>1 2024-01-01T00:00:00Z h app 1 - [meta a="x\\]y" b="say \\"hi\\""] '
                'the message')
        p = parse_line(line)
        assert p.extra["meta.a"] == "x]y"
        assert p.extra["meta.b"] == 'say "hi"'
        assert p.message == "the message"

    def test_multiple_sd_elements_and_no_message(self) -> None:
        """Several SD elements, and no MSG at all."""
        p = parse_line('<14>1 - host app - - [a x="1"][b y="2"]')
        assert (p.ts, p.message) == (None, "")
        assert (p.extra["a.x"], p.extra["b.y"]) == ("1", "2")

    def test_non_numeric_procid_kept_as_extra(self) -> None:
        """A PROCID that is not a number is kept, not forced into pid."""
        p = parse_line("<14>1 2024-01-01T00:00:00Z h app worker-3 - - hi")
        assert p.pid is None
        assert p.extra["procid"] == "worker-3"

    def test_not_5424(self) -> None:
        """A BSD line is not taken for RFC 5424."""
        assert parse_rfc5424("<13>Jun 10 12:00:00 h p: x") is None
