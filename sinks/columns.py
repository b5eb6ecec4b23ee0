"""A round of batches as the columns of the tables it is inserted into, bad records set
aside.

One group of columns per target table, in a fixed order, so that a round written again
after a crash (sinks.recovery) is the same inserts, block for block. Two shapes. For a
table with an ingest table (metrics), the columns are the messages themselves: topic,
partition, offset, key and the JSON text, one row per message; the parsing happens in
ClickHouse (metric blocks and arrays of rows go to an ingest table each, so that an
insert plans only the views its messages need). For the others, each record is
converted by its sinks.rows converter, which names the records it refuses, and the rows
are pivoted. Every row remembers the batch it came from (`origin`), so that a row the
store refuses is dead-lettered under its own partition and offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from sinks.batch import Batch, Reject
from sinks.errors import RowError
from sinks.rows import INGEST_COLUMNS, Limits

__all__ = ["Columns", "round_columns", "to_columns"]


@dataclass
class Columns:
    """Column data of the rows one table gets from a round, with each row's batch (an
    index into the round's batches), source offset and key."""

    table: str
    names: tuple[str, ...]
    data: list[list[Any]]
    origin: list[int]
    offsets: list[int]
    keys: list[bytes | None]
    # (batch index, reject): records that never became rows
    rejected: list[tuple[int, Reject]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offsets)

    def slice(self, lo: int, hi: int) -> list[list[Any]]:
        if lo == 0 and hi == len(self):
            return self.data
        return [c[lo:hi] for c in self.data]

    def row(self, i: int) -> dict[str, Any]:
        return {n: c[i] for n, c in zip(self.names, self.data, strict=True)}

    def raw(self, i: int) -> bytes | str:
        """What to keep as the dead letter's raw text for row i: the message itself for
        message rows, else the row as JSON."""
        if self.names == INGEST_COLUMNS:
            return str(self.data[4][i])
        return orjson.dumps(self.row(i), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, float):
        return None  # NaN / inf
    return str(value)


def _empty(table: str, names: tuple[str, ...]) -> Columns:
    return Columns(table, names, [[] for _ in names], [], [], [])


def _add_messages(cols: Columns, bi: int, batch: Batch, idx: list[int]) -> None:
    recs, offs, keys = batch.records, batch.record_offsets, batch.record_keys
    n = len(idx)
    picked = [keys[i] for i in idx]
    offsets = [offs[i] for i in idx]
    topic, partition, offset, key, doc = cols.data
    topic.extend([batch.topic] * n)
    partition.extend([batch.partition] * n)
    offset.extend(offsets)
    key.extend(k.decode("utf-8", "replace") if k is not None else "" for k in picked)
    doc.extend(recs[i] for i in idx)
    cols.origin.extend([bi] * n)
    cols.offsets.extend(offsets)
    cols.keys.extend(picked)


def _messages(bi: int, batch: Batch, groups: dict[str, Columns]) -> None:
    """Message rows: JSON objects (metric blocks) for the block ingest table, everything
    else (arrays of records, and what is not JSON) for the array ingest table."""
    spec = batch.spec
    assert spec.ingest is not None
    if spec.block_ingest is None:
        split = [(spec.ingest, list(range(len(batch.records))))]
    else:
        arrays: list[int] = []
        blocks: list[int] = []
        for i, doc in enumerate(batch.records):
            (blocks if doc.lstrip()[:1] == "{" else arrays).append(i)
        split = [(spec.ingest, arrays), (spec.block_ingest, blocks)]
    for table, idx in split:
        if idx:
            cols = groups.setdefault(table, _empty(table, INGEST_COLUMNS))
            _add_messages(cols, bi, batch, idx)


def _rows(bi: int, batch: Batch, lim: Limits, cols: Columns) -> None:
    convert = batch.spec.convert
    rows: list[tuple[Any, ...]] = []
    for rec, off, key in zip(batch.records, batch.record_offsets, batch.record_keys,
                             strict=True):
        try:
            if type(rec) is not dict:
                raise RowError("bad_type", f"record is a JSON {type(rec).__name__}")
            rows.append(convert(rec, lim))
        except RowError as e:
            cols.rejected.append((bi, Reject(off, key, e, orjson.dumps(rec))))
            continue
        except KeyError as e:
            err = RowError("missing_field", f"missing field {e.args[0]!r}")
            cols.rejected.append((bi, Reject(off, key, err, orjson.dumps(rec))))
            continue
        cols.origin.append(bi)
        cols.offsets.append(off)
        cols.keys.append(key)
    for column, values in zip(cols.data, zip(*rows, strict=True) if rows else (), strict=False):
        column.extend(values)


def round_columns(batches: Sequence[Batch], lim: Limits) -> list[Columns]:
    """The round as the columns of each table it has rows for, in the order the batches
    first name them (for the metrics topic: array ingest table, then block ingest
    table). The records converters refuse are in each group's `rejected`; the messages
    refused while batching stay in their batch's `rejected`."""
    groups: dict[str, Columns] = {}
    for bi, batch in enumerate(batches):
        spec = batch.spec
        if spec.ingest is not None:
            _messages(bi, batch, groups)
        elif batch.records:
            _rows(bi, batch, lim, groups.setdefault(spec.table, _empty(spec.table,
                                                                        spec.columns)))
    return list(groups.values())


def to_columns(batch: Batch, lim: Limits) -> list[Columns]:
    """One batch as a round of its own."""
    return round_columns([batch], lim)
