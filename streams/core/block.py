"""One batch's metric rows as columns: what the worker sends the sink.

A host's batch becomes 100-200 rows that share host, ts, seq and the topology labels.
As an array of `rackwatch.metric_row/v1` objects every row repeats them and every key
(about 270 bytes a row), and both sides pay for that per row: the worker builds and
serialises a dict per row, ClickHouse parses every key back. As columns the shared
fields are written once and a row is a name and five numbers: a third of the bytes,
no per-row dict in the worker, and ClickHouse parses it about 4x faster
(docs/benchmarks.md). The sink stores a block exactly as it stores the rows it
stands for (schemas/sql/0009_metric_blocks.sql); `rows()` gives those rows, which is
what `replay --emit metrics` writes.

Wire form (`rackwatch.metric_block/v1`, schemas/json/metric_block.v1.schema.json):
{"schema", "n", "host", "ts", "seq", "labels": topology, "name": [...],
"series_labels": [{...}...], "value", "raw", "ewma", "wma", "outlier"}, every list n
long. A row's labels are its series labels over the topology labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.events import MetricRow
from schemas.ids import METRIC_BLOCK, METRIC_ROW

__all__ = ["BLOCK_COLUMNS", "MetricBlock", "block_rows"]

# The per-row lists of a block, in wire order.
BLOCK_COLUMNS = ("name", "series_labels", "value", "raw", "ewma", "wma", "outlier")


@dataclass(slots=True)
class MetricBlock:
    """The rows of one batch of one host, column by column. Lists may be shared with
    the core's memo (names, series labels): treat them as read-only."""

    host: str
    ts: int
    seq: int
    labels: dict[str, str]  # topology labels (rack, cluster, ...)
    name: list[str] = field(default_factory=list)
    series_labels: list[dict[str, str]] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    ewma: list[float] = field(default_factory=list)
    wma: list[float] = field(default_factory=list)
    outlier: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.value)

    def without(self, names: frozenset[str]) -> MetricBlock:
        """The block less the rows of the given series (the lists are new; the label
        dicts stay shared)."""
        keep = [i for i, n in enumerate(self.name) if n not in names]
        if len(keep) == len(self.name):
            return self
        return MetricBlock(self.host, self.ts, self.seq, self.labels,
                           [self.name[i] for i in keep],
                           [self.series_labels[i] for i in keep],
                           [self.value[i] for i in keep], [self.raw[i] for i in keep],
                           [self.ewma[i] for i in keep], [self.wma[i] for i in keep],
                           [self.outlier[i] for i in keep])

    def to_json(self) -> bytes:
        """The wire form; "n" comes early so the sink can size batches without parsing."""
        return orjson.dumps({
            "schema": METRIC_BLOCK, "n": len(self.value), "host": self.host, "ts": self.ts,
            "seq": self.seq, "labels": self.labels, "name": self.name,
            "series_labels": self.series_labels, "value": self.value, "raw": self.raw,
            "ewma": self.ewma, "wma": self.wma, "outlier": self.outlier,
        })

    def rows(self) -> list[MetricRow]:
        """The metric_row/v1 records this block stands for, in order."""
        topo = self.labels
        return [{"schema": METRIC_ROW, "host": self.host, "ts": self.ts, "seq": self.seq,
                 "name": n, "labels": {**topo, **sl} if sl else topo, "value": v, "raw": r,
                 "ewma": e, "wma": w, "outlier": o}
                for n, sl, v, r, e, w, o in zip(self.name, self.series_labels, self.value,
                                                self.raw, self.ewma, self.wma, self.outlier,
                                                strict=True)]


def block_rows(doc: dict[str, Any]) -> list[MetricRow]:
    """The rows of a decoded wire block (as `MetricBlock.rows`); a block whose columns
    differ in length raises ValueError."""
    cols = [doc[c] for c in BLOCK_COLUMNS]
    if any(len(c) != len(cols[0]) for c in cols):
        raise ValueError("metric block columns differ in length")
    block = MetricBlock(doc["host"], doc["ts"], doc["seq"], doc["labels"], *cols)
    return block.rows()
