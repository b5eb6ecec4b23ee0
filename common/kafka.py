"""Kafka client choices every producing role makes the same way."""

from __future__ import annotations

__all__ = ["pick_compression"]


def pick_compression() -> str:
    """zstd when aiokafka can use it (the `cramjam` package), else gzip (always there).

    Not lz4: aiokafka compresses lz4 at level 9 (the HC mode), which on 512 KiB of metric
    rows measured 2.4 ms against zstd's 0.3 ms at level 3, for 0.063 of the size against
    zstd's 0.039. Brokers since 2.1 and every maintained client read zstd."""
    try:
        from aiokafka.codec import has_zstd
    except ImportError:  # pragma: no cover - aiokafka is a hard dependency
        return "gzip"
    return "zstd" if has_zstd() else "gzip"
