"""The one place the worker uses a faust API that is not public, and why.

The worker commits the offsets it tracks itself (streams.worker.partitions), not what
faust acked: faust's public `commit()` commits its acks, which skip over offsets the
stream never delivered. faust's consumer has no public "commit these offsets" call, so
`commit_offsets` goes through `Consumer._commit`, the group member's own commit path
(the right generation, the coordinator faust already found). tests/unit/worker/
test_faustcompat.py fails if faust changes that method, so an upgrade cannot silently
break commits.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

__all__ = ["commit_offsets"]


async def commit_offsets(app: Any, offsets: dict[tuple[str, int], int],
                         timeout_s: float = 30.0) -> bool:
    """Commit `offsets` for the app's consumer group member; True when accepted."""
    consumer: Any = app.consumer
    due = {TP(t, p): o for (t, p), o in offsets.items()}
    return bool(await asyncio.wait_for(consumer._commit(due), timeout_s))
