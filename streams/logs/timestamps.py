"""Header times to epoch milliseconds, without reading the clock.

RFC 3164 times carry no year and no zone. The year is inferred from a reference
time the caller passes (normally the event's own `ts`): the year that puts the
line closest to it, so a December line read in January lands in the old year.
Zone-less times are taken as UTC, like the rest of rackwatch. Without a reference
a yearless time stays unknown (None) rather than being guessed from the wall clock.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from datetime import datetime

__all__ = [
    "MONTHS",
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


def _ms(year: int, month: int, day: int, hh: int, mm: int, ss: int, frac_ms: int = 0) -> int:
    return calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)) * 1000 + frac_ms


def iso_to_ms(text: str) -> int | None:
    """RFC 3339 / ISO 8601 date-time (zone optional, UTC assumed) -> epoch ms, or None."""
    m = _ISO.match(text.strip())
    if m is None:
        return None
    y, mo, d, hh, mi, ss = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    frac_ms = int((frac + "000")[:3]) if frac else 0
    try:
        datetime(y, mo, d, hh, mi, min(ss, 59))  # validates ranges (leap second tolerated)
    except ValueError:
        return None
    ms = _ms(y, mo, d, hh, mi, ss, frac_ms)
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
    try:
        datetime(year, mon, day, hh, mm, min(ss, 59))
    except ValueError:
        return None
    return _ms(year, mon, day, hh, mm, ss, frac_ms)


def yearless_to_ms(month: str, day: int, hh: int, mm: int, ss: int, frac_ms: int,
                   reference_ms: int | None) -> int | None:
    """A "Mmm dd hh:mm:ss" time -> epoch ms in the year closest to reference_ms."""
    if reference_ms is None:
        return None
    ref_year = time.gmtime(reference_ms // 1000).tm_year
    same_year = dated_to_ms(ref_year, month, day, hh, mm, ss, frac_ms)
    if same_year is not None and abs(same_year - reference_ms) <= _HALF_YEAR_MS:
        return same_year  # the common case: no need to look at the neighbouring years
    best: int | None = None
    for year in (ref_year - 1, ref_year, ref_year + 1):
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
