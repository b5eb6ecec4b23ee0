"""The stream worker: the faust shell around the processing core (docs/architecture.md).

app.py (faust topics, tables, agents), processing.py (batches and ticks in their
delivery order), partitions.py (exactly-once bookkeeping per input partition),
offsets.py (reading partitions directly), outbox.py (the idempotent producer),
ticks.py (stream clocks), tables.py (changelogged state), stats.py (counters),
reload.py (rules hot reload), faustcompat.py (the one private faust call).
"""

from streams.worker.app import build_app
from streams.worker.offsets import SOURCE_HEADER, partition_of

__all__ = ["SOURCE_HEADER", "build_app", "partition_of"]
