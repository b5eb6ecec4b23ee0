"""Rejections and the dead-letter records that carry them (`rackwatch.deadletter/v1`).

A rejection names a machine-groupable `code` and a precise human `reason`. The
record keeps the original bytes, so nothing is lost: an operator can fix and
re-publish it.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from schemas.events import DeadLetter
from schemas.ids import DEADLETTER
from streams.core.timefmt import ms_to_rfc3339

__all__ = ["Rejected", "deadletter_record"]


class Rejected(ValueError):
    """An event (or one sample of it) that cannot be processed, and why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def _raw_text(raw: bytes | str | Any) -> tuple[str, Literal["utf-8", "base64"]]:
    if isinstance(raw, str):
        return raw, "utf-8"
    if not isinstance(raw, bytes | bytearray | memoryview):
        raw = repr(raw).encode()
    data = bytes(raw)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def deadletter_record(
    raw: bytes | str,
    rejected: Rejected,
    *,
    now_ms: int,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
) -> DeadLetter:
    """Build the dead-letter record for `raw` (the whole message, or one sample of it)."""
    text, encoding = _raw_text(raw)
    key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    return {
        "schema": DEADLETTER,
        "reason": rejected.reason,
        "reason_code": rejected.code,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "key": key_text,
        "raw": text,
        "raw_encoding": encoding,
        "rejected_at": ms_to_rfc3339(now_ms),
    }
