"""Test support, loaded by a worker process started with this directory on PYTHONPATH.

With RACKWATCH_TEST_LOSE="TOPIC:PARTITION:OFFSET" it makes the worker lose the
deliveries of that partition from OFFSET on, for two seconds from the first of them,
between faust and the worker's bookkeeping: the messages were fetched and are never
handed over, which is how a partition stalled for good around a rebalance. Nothing here
runs without the variable.
"""

from __future__ import annotations

import os
import time
from typing import Any

_SPEC = os.environ.get("RACKWATCH_TEST_LOSE")

if _SPEC:
    from streams.worker import partitions

    _topic, _part, _offset = _SPEC.rsplit(":", 2)
    _tp = (_topic, int(_part))
    _admit = partitions.PartitionBook.admit
    _since: list[float] = []

    def _losing(self: Any, delivered: Any, owned: Any, now: float) -> Any:
        delivered = list(delivered)
        hit = any((r.topic, r.partition) == _tp and r.offset >= int(_offset) for r in delivered)
        if hit and not _since:
            _since.append(time.monotonic())
        if hit and time.monotonic() - _since[0] < 2.0:
            delivered = [r for r in delivered if (r.topic, r.partition) != _tp]
        return _admit(self, delivered, owned, now)

    partitions.PartitionBook.admit = _losing  # type: ignore[method-assign]
