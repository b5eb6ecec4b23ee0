"""Header times to epoch milliseconds, without reading the clock.

RFC 3164 times carry no year and no zone. The year is inferred from a reference
time the caller passes (normally the event's own `ts`): the year that puts the
line closest to it, so a December line read in January lands in the old year.
Zone-less times are taken as UTC, like the rest of rackwatch. Without a reference
a yearless time stays unknown (None) rather than being guessed from the wall clock.
"""

from __future__ import annotations

import logging
import re
import time

__all__ = [
    "MONTHS",
    "civil_to_ms",
    "dated_to_ms",
    "epoch_number_to_ms",
    "iso_to_ms",
    "yearless_to_ms",
]

logger = logging.getLogger(__name__)

MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

_HALF_YEAR_MS = 182 * 86_400_000
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"\s?(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def civil_to_ms(year: int, month: int, day: int, hh: int, mm: int, ss: int,
                frac_ms: int = 0) -> int | None:
    """A calendar time (UTC) -> epoch ms, None when a field is out of range.

    Integer arithmetic only: header times are read on every line, and this is several
    times faster than building a datetime to validate and calling timegm. A leap
    second (ss = 60) is tolerated, as in the rest of this module.
    """
    if not (1 <= year <= 9999 and 1 <= month <= 12 and 0 <= hh < 24 and 0 <= mm < 60
            and 0 <= ss <= 60):
        return None
    leap = month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= day <= _DAYS_IN_MONTH[month - 1] + leap:
        return None
    return ((_days_from_civil(year, month, day) * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + (
        frac_ms)


def iso_to_ms(text: str) -> int | None:
    """RFC 3339 / ISO 8601 date-time (zone optional, UTC assumed) -> epoch ms, or None."""
    m = _ISO.match(text.strip())
    if m is None:
        return None
    y, mo, d, hh, mi, ss = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    frac_ms = int((frac + "000")[:3]) if frac else 0
    ms = civil_to_ms(y, mo, d, hh, mi, ss, frac_ms)
    if ms is None:
        return None
    zone = m.group(8)
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset_min = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
        ms -= sign * offset_min * 60_000
    return ms


def dated_to_ms(year: int, month: str, day: int, hh: int, mm: int, ss: int,
                frac_ms: int = 0) -> int | None:
    """A calendar time with a month abbreviation ("Jun") -> epoch ms, None if invalid."""
    mon = MONTHS.get(month)
    if mon is None:
        return None
    return civil_to_ms(year, mon, day, hh, mm, ss, frac_ms)


def yearless_to_ms(month: str, day: int, hh: int, mm: int, ss: int, frac_ms: int,
                   reference_ms: int | None) -> int | None:
    """A "Mmm dd hh:mm:ss" time -> epoch ms in the year closest to reference_ms."""
    if reference_ms is None:
        return None
    ref_year = time.gmtime(reference_ms // 1000).tm_year
    same_year = dated_to_ms(ref_year, month, day, hh, mm, ss, frac_ms)
    if same_year is not None:
        if abs(same_year - reference_ms) <= _HALF_YEAR_MS:
            return same_year  # the common case: no need to look at the neighbouring years
        # more than half a year away: only the neighbour on the reference's side can be closer
        other_year = ref_year - 1 if same_year > reference_ms else ref_year + 1
        other = dated_to_ms(other_year, month, day, hh, mm, ss, frac_ms)
        if other is not None and abs(other - reference_ms) < abs(same_year - reference_ms):
            return other
        return same_year
    best: int | None = None  # 29 February, and the reference's year has none
    for year in (ref_year - 1, ref_year + 1):
        cand = dated_to_ms(year, month, day, hh, mm, ss, frac_ms)
        if cand is None:
            continue
        if best is None or abs(cand - reference_ms) < abs(best - reference_ms):
            best = cand
    return best


def epoch_number_to_ms(value: float) -> int | None:
    """An epoch number in s, ms, µs or ns (told apart by magnitude) -> epoch ms."""
    v = abs(value)
    if v != v or v == float("inf"):  # NaN or infinite
        return None
    if v < 1e11:  # seconds until year 5138
        return round(value * 1000)
    if v < 1e14:
        return round(value)
    if v < 1e17:
        return int(value // 1000)
    if v < 1e20:
        return int(value // 1_000_000)
    return None
