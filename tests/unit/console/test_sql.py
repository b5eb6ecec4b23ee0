"""Binding values into the console's fixed queries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.sql import BindError, bind, quote
from sinks.store import Store


class TestBind:
    """Each placeholder type takes only its kind of value."""

    def test_types(self) -> None:
        """Strings are quoted, numbers and times written as typed expressions."""
        sql = bind("{h:String} {n:Int64} {f:Float64} {t:DateTime64} {a:Array(String)}",
                   {"h": "r01", "n": 5, "f": 0.5, "t": 1_700_000_000_000, "a": ["x", "y"]})
        assert sql == ("'r01' toInt64(5) toFloat64(0.5) "
                       "fromUnixTimestamp64Milli(toInt64(1700000000000), 'UTC') "
                       "CAST(['x', 'y'] AS Array(String))")

    @pytest.mark.parametrize(("kind", "value"), [
        ("String", 5), ("Int64", "5"), ("Int64", True), ("Float64", float("nan")),
        ("Float64", "1"), ("DateTime64", 1.5), ("Array(String)", "abc"),
        ("Array(String)", [1]), ("Date", "2026-01-01")])
    def test_wrong_value_is_refused(self, kind: str, value: object) -> None:
        """A value of another type (or an unknown type) is an error, never a guess."""
        with pytest.raises(BindError):
            bind(f"{{v:{kind}}}", {"v": value})

    def test_missing_and_unused_values(self) -> None:
        """A placeholder without a value, and a value without a placeholder, are errors."""
        with pytest.raises(BindError, match="no value"):
            bind("{a:String}", {})
        with pytest.raises(BindError, match="without a placeholder"):
            bind("{a:String}", {"a": "x", "b": "y"})

    def test_quote_escapes(self) -> None:
        """Quotes and backslashes cannot end the literal."""
        assert quote("a'b\\c") == "'a\\'b\\\\c'"


class TestRoundTrip:
    """What is bound is what ClickHouse reads back, whatever the text."""

    @settings(max_examples=60, deadline=None)
    @given(text=st.text(st.characters(exclude_categories=["Cs"]), max_size=40))
    def test_any_text_reads_back(self, store: Store, text: str) -> None:
        """Arbitrary text (quotes, backslashes, braces, NUL) comes back unchanged."""
        got = store.scalar(bind("SELECT {s:String}", {"s": text}))
        assert got == text

    def test_injection_stays_a_value(self, store: Store) -> None:
        """A would-be injection is compared as a plain string and matches nothing."""
        evil = "x' OR 1=1 --"
        n = store.scalar(bind("SELECT count() FROM alerts WHERE host = {h:String}", {"h": evil}))
        assert n == 0
