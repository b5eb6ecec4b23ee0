"""parse_line as a whole: never raises, never drops a line, dispatches by shape."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logs import SEVERITIES, parse_line
from streams.logs.parsed import FORMATS


class TestNeverDrops:
    @given(st.text(max_size=300))
    def test_any_text_gives_a_parsed_line(self, text: str) -> None:
        """Whatever the input, a ParsedLine comes back with sane fields."""
        p = parse_line(text)
        assert isinstance(p.message, str)
        assert p.format in FORMATS
        assert p.severity in (*SEVERITIES, None)
        assert p.pid is None or p.pid >= 0

    @given(st.from_regex(r"[a-z][a-z ,.;!?'-]{0,80}", fullmatch=True))
    def test_plain_text_is_the_message(self, text: str) -> None:
        """Text with no header shape is returned whole as the message."""
        p = parse_line(text)
        assert (p.format, p.message) == ("plain", text)

    @given(st.sampled_from(["<13>Jun 10 12:00:00 h p[1]: ", "Jun 10 12:00:00 h p: ",
                            "[ 1.000000] ", "6,1,1,-;", "<14>1 - h p - - - "]),
           st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=60)
           .map(str.strip).filter(lambda s: not s.startswith(("[", "{"))))
    def test_message_survives_header(self, header: str, body: str) -> None:
        """Whatever header a line has, its body comes back as the message."""
        assert parse_line(header + body, reference_ms=0).message == body

    @settings(max_examples=300)
    @given(st.lists(st.sampled_from([
        "2024-06-10 12:00:00,123 ", "Jun 10 12:00:00 ", "<13>", "<14>1 ", "kernel: ",
        "[ 1.5] ", "host p[1]: ", "INFO ", "- ", "[x] ", "a.b: ", "f.go:1] ", "D/T( 1): ",
        "stdout F ", "|", "\ufeff", "0", "9", ":", "-", " ", "x", "[", "]", "Sun ",
    ]), max_size=14).map("".join))
    def test_message_is_the_lines_tail(self, text: str) -> None:
        """Every header parser but JSON's only cuts: the message is the end of the line."""
        p = parse_line(text, reference_ms=0)
        line = text.rstrip("\r\n")
        assert p.format == "json" or line.replace("\ufeff", "").endswith(p.message) or (
            line.endswith(p.message))

    def test_trailing_newline_and_cr_removed(self) -> None:
        """CRLF line ends do not leak into the message."""
        assert parse_line("hello world\r\n").message == "hello world"

    def test_empty_line(self) -> None:
        """An empty line is an empty plain message, not an error."""
        p = parse_line("")
        assert (p.format, p.message) == ("plain", "")
