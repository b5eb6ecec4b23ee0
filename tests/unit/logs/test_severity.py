"""The one severity scale: mapping from every dialect, ordering, and content sniffing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.logs.severity import (
    SEVERITIES,
    from_level,
    from_number,
    from_syslog_pri,
    rank,
    sniff_content,
    sniff_level_token,
)


class TestScale:
    def test_order_is_rfc5424(self) -> None:
        """Names follow RFC 5424 levels 0..7, worst first."""
        assert SEVERITIES == ("emergency", "alert", "critical", "error", "warning", "notice",
                              "info", "debug")
        assert [rank(s) for s in SEVERITIES] == list(range(8))

    def test_unknown_name_ranks_as_info(self) -> None:
        """An unknown name sorts with the default rather than raising."""
        assert rank("bogus") == rank("info")


class TestSyslogPri:
    @pytest.mark.parametrize(("pri", "expected"), [
        (0, "emergency"), (3, "error"), (13, "notice"), (34, "critical"), (165, "notice"),
        (191, "debug"), (4, "warning"),
    ])
    def test_severity_is_low_three_bits(self, pri: int, expected: str) -> None:
        """PRI = facility*8 + severity; only the severity part matters here."""
        assert from_syslog_pri(pri) == expected


class TestLevelWords:
    @pytest.mark.parametrize(("word", "expected"), [
        ("ERROR", "error"), ("err", "error"), ("Warn", "warning"), ("WARNING", "warning"),
        ("fatal", "critical"), ("CRITICAL", "critical"), ("panic", "emergency"),
        ("emerg", "emergency"), ("notice", "notice"), ("INFO", "info"), ("debug", "debug"),
        ("trace", "debug"), ("E", "error"), ("w", "warning"), (" info ", "info"),
        ("FAILURE", "critical"), ("SEVERE", "error"),
    ])
    def test_words(self, word: str, expected: str) -> None:
        """Level names of common libraries map onto the scale, case-insensitively."""
        assert from_level(word) == expected

    @pytest.mark.parametrize(("value", "expected"), [
        (3, "error"), ("3", "error"), (0, "emergency"), (7, "debug"),
        (10, "debug"), (30, "info"), (40, "warning"), (50, "error"), (60, "critical"),
        (30.0, "info"),
    ])
    def test_numbers(self, value: object, expected: str) -> None:
        """0-7 are syslog levels, 10-60 pino/bunyan levels."""
        assert from_level(value) == expected

    @pytest.mark.parametrize("value", ["", "loud", 8, 99, True, None, [], {"a": 1}])
    def test_unrecognised_is_none(self, value: object) -> None:
        """Anything unrecognised says nothing (None), it does not default."""
        assert from_level(value) is None

    def test_from_number_outside_tables(self) -> None:
        """Numbers outside both tables map to None."""
        assert from_number(25) is None

    @given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=True), st.booleans(),
                     st.none()))
    def test_never_raises(self, value: object) -> None:
        """Any JSON scalar maps to a scale name or None."""
        assert from_level(value) in (*SEVERITIES, None)


class TestSniff:
    @pytest.mark.parametrize(("text", "expected"), [
        ("ERROR: could not open file", "error"),
        ("[WARN] disk almost full", "warning"),
        ("error: Received disconnect from 1.2.3.4: 14", "error"),
        ("fatal: Write failed: Connection reset by peer [preauth]", "critical"),
        ("warning: can't get client address", "warning"),
        ("node1:123:456 [0] NCCL WARN Net : Connection closed by remote peer", "warning"),
        ("node1:123:456 [0] NCCL INFO Bootstrap : Using eth0", "info"),
        ("E0610 12:34:56.789012  1234 server.cc:42] failed to bind", "error"),
        ("W0610 12:34:56.789012  1234 server.cc:42] slow", "warning"),
    ])
    def test_leading_markers(self, text: str, expected: str) -> None:
        """A level word or marker at the start of the text is recognised."""
        assert sniff_content(text) == expected

    @pytest.mark.parametrize("text", [
        "session opened for user root", "Errors were found", "information is power",
        "the error was logged", "Warnings: none", "",
    ])
    def test_no_marker(self, text: str) -> None:
        """Words that merely start with a level name, or appear later, are not markers."""
        assert sniff_content(text) is None


class TestLevelToken:
    @pytest.mark.parametrize(("text", "expected"), [
        ("081109 203615 148 INFO dfs.DataNode$PacketResponder: done", ("info", "INFO")),
        ("2015-07-29 17:41:44,747 - WARN  [QuorumPeer[myid=1]] - Send worker leaving",
         ("warning", "WARN")),
        ("17/06/09 20:10:40 ERROR executor.Executor: Exception in task", ("error", "ERROR")),
        ("- 1117838570 2005.06.03 R02-M1-N0 2005-06-03-15.42.50.675872 R02-M1-N0 RAS KERNEL "
         "FAILURE node card down", ("critical", "FAILURE")),
        ("[SEVERE] pool exhausted", ("error", "SEVERE")),
    ])
    def test_level_word_among_the_first_words(self, text: str,
                                              expected: tuple[str, str]) -> None:
        """An upper-case level word standing alone early in the line is its level."""
        assert sniff_level_token(text) == expected

    @pytest.mark.parametrize("text", [
        "ALERT exited abnormally with [1]", "Error: lower or mixed case is prose",
        "INFOS are not levels", "a b c d e f g h i j k l ERROR too late",
        "ERROR_CODE 5 returned", "",
    ])
    def test_not_a_level_word(self, text: str) -> None:
        """Names (ALERT), prose case, longer words, late or glued words are not levels."""
        assert sniff_level_token(text) is None

    @given(st.text(max_size=200))
    def test_never_raises(self, text: str) -> None:
        """Any text gives a scale name and the word as written, or None."""
        found = sniff_level_token(text)
        assert found is None or (found[0] in SEVERITIES and found[1] in text)
