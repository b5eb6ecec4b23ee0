"""Header times in many shapes: what each means, what is refused, never an exception."""

from __future__ import annotations

import calendar
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.logs.timeshapes import match_time
from streams.logs.timestamps import MONTHS, civil_to_ms, dated_to_ms, iso_to_ms, yearless_to_ms

REF = iso_to_ms("2005-06-05T00:00:00")


def ms(text: str) -> int:
    value = iso_to_ms(text)
    assert value is not None
    return value


class TestShapes:
    @pytest.mark.parametrize(("text", "stamp", "expected"), [
        ("2024-06-10T12:34:56.789Z x", "2024-06-10T12:34:56.789Z", ms("2024-06-10T12:34:56.789")),
        ("2024-06-10T14:34:56+02:00 x", "2024-06-10T14:34:56+02:00", ms("2024-06-10T12:34:56")),
        ("2015-07-29 17:41:44,747 - x", "2015-07-29 17:41:44,747", ms("2015-07-29T17:41:44.747")),
        ("2024/06/10 12:34:56 [x]", "2024/06/10 12:34:56", ms("2024-06-10T12:34:56")),
        ("2005-06-03-15.42.50.675872 R", "2005-06-03-15.42.50.675872",
         ms("2005-06-03T15:42:50.675")),
        ("20171224-0:7:2:137|x", "20171224-0:7:2:137", ms("2017-12-24T00:07:02.137")),
        ("17/06/09 20:10:40 INFO", "17/06/09 20:10:40", ms("2017-06-09T20:10:40")),
        ("081109 203615 148", "081109 203615", ms("2008-11-09T20:36:15")),
        ("03-17 16:13:38.811  1702", "03-17 16:13:38.811", ms("2005-03-17T16:13:38.811")),
        ("10.30 16:49:06]", "10.30 16:49:06", ms("2005-10-30T16:49:06")),
        ("10/Oct/2000:13:55:36 -0700]", "10/Oct/2000:13:55:36 -0700", ms("2000-10-10T20:55:36")),
        ("10-Jun-2024 12:34:56.789 x", "10-Jun-2024 12:34:56.789", ms("2024-06-10T12:34:56.789")),
        ("Sun Dec 04 04:47:44 2005]", "Sun Dec 04 04:47:44 2005", ms("2005-12-04T04:47:44")),
        ("Jun 10, 2024 1:02:03 PM x", "Jun 10, 2024 1:02:03 PM", ms("2024-06-10T13:02:03")),
        ("Jun 14 15:16:01 combo", "Jun 14 15:16:01", ms("2005-06-14T15:16:01")),
        ("1117838570 2005", "1117838570", 1_117_838_570_000),
        ("1718020800123 x", "1718020800123", 1_718_020_800_123),
    ])
    def test_value(self, text: str, stamp: str, expected: int) -> None:
        """Each shape is recognised whole and read as the time it writes (UTC when zoneless)."""
        t = match_time(text, 0, REF)
        assert t is not None
        assert text[: t.end] == stamp
        assert t.ms == expected

    def test_date_and_time_alone(self) -> None:
        """A date alone and a time of day alone are recognised but are no complete time."""
        date = match_time("2005.06.03 R02", 0)
        assert date is not None and date.date_only and date.ms == ms("2005-06-03T00:00:00")
        tod = match_time("12:34:56.789 [main]", 0)
        assert tod is not None and tod.ms is None and tod.day_ms == 45_296_789

    def test_glog_carries_its_level(self) -> None:
        """glog's 'E0610 12:34:56.1' is a time whose first letter is the level."""
        t = match_time("E0610 12:34:56.123456 1 f.go:1] x", 0, REF)
        assert t is not None and t.level == "E" and t.ms == ms("2005-06-10T12:34:56.123")

    def test_ambiguous_day_month_order_gives_no_value(self) -> None:
        """01/02/2024 is a time, but not one that can be read without knowing the locale."""
        t = match_time("01/02/2024 10:00:00 x", 0)
        assert t is not None and t.ms is None

    @pytest.mark.parametrize("text", [
        "10.11.10.1 GET", "1.23.45 released", "991399 123456 x", "2024-13-01 10:00:00 x",
        "2024-06-10x", "12:99:00 x", "20240610 x", "Junk 10 12:00:00",
    ])
    def test_not_times(self, text: str) -> None:
        """Addresses, versions, out-of-range fields and glued words are no times."""
        assert match_time(text, 0, REF) is None

    @given(st.text(max_size=60), st.integers(0, 70))
    def test_never_raises(self, text: str, pos: int) -> None:
        """Any text at any position: a match inside the text, or None."""
        t = match_time(text, min(pos, len(text)), REF)
        assert t is None or min(pos, len(text)) < t.end <= len(text)


class TestCivil:
    @given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    def test_same_as_timegm(self, t: datetime) -> None:
        """The integer arithmetic gives what calendar.timegm gives, for every valid date."""
        expected = calendar.timegm(t.timetuple()) * 1000 + t.microsecond // 1000
        assert civil_to_ms(t.year, t.month, t.day, t.hour, t.minute, t.second,
                           t.microsecond // 1000) == expected

    @pytest.mark.parametrize("fields", [
        (2023, 2, 29, 0, 0, 0), (2024, 4, 31, 0, 0, 0), (2024, 13, 1, 0, 0, 0),
        (2024, 1, 1, 24, 0, 0), (2024, 1, 0, 0, 0, 0), (0, 1, 1, 0, 0, 0),
    ])
    def test_out_of_range(self, fields: tuple[int, int, int, int, int, int]) -> None:
        """Impossible dates and times give None, not a wrapped-around time."""
        assert civil_to_ms(*fields) is None

    def test_leap_day_and_leap_second(self) -> None:
        """29 February of a leap year exists; a leap second is tolerated."""
        assert civil_to_ms(2024, 2, 29, 0, 0, 0) == ms("2024-02-29T00:00:00")
        assert civil_to_ms(2016, 12, 31, 23, 59, 60) == ms("2017-01-01T00:00:00")


class TestYearless:
    @given(st.sampled_from(list(MONTHS)), st.integers(1, 31), st.integers(0, 23),
           st.integers(1_000_000_000_000, 2_000_000_000_000))
    def test_closest_year(self, month: str, day: int, hh: int, reference: int) -> None:
        """The year chosen is the one of the three around the reference that is closest."""
        import time

        year = time.gmtime(reference // 1000).tm_year
        candidates = [c for y in (year - 1, year, year + 1)
                      if (c := dated_to_ms(y, month, day, hh, 0, 0)) is not None]
        got = yearless_to_ms(month, day, hh, 0, 0, 0, reference)
        if not candidates:
            assert got is None
        else:
            assert got is not None
            assert abs(got - reference) == min(abs(c - reference) for c in candidates)
