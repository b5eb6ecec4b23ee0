"""Time formats: epoch milliseconds in transport, RFC 3339 in alerts (DESIGN.md)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["ms_to_rfc3339", "rfc3339_to_ms"]


def ms_to_rfc3339(ms: int) -> str:
    """Epoch ms -> "2024-01-01T00:00:05.000Z" (UTC, millisecond precision, fixed width)."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def rfc3339_to_ms(text: str) -> int:
    """RFC 3339 (a trailing Z or an offset) -> epoch ms; naive times are taken as UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)
