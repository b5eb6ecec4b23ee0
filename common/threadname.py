"""Name the calling OS thread, so that per-thread CPU (top -H, /proc/PID/task) says
which part of a role spent it (the cost model in docs/benchmarks.md reads it)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["name_thread"]

_PR_SET_NAME = 15


def name_thread(name: str) -> bool:
    """Set the kernel's name of the calling thread (at most 15 bytes kept); False where
    the platform has no prctl. Python's own thread names stay as they are."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
