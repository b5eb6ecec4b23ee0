"""A batch as the columns of the table it is inserted into, bad records set aside.

Two shapes. For a table with an ingest table (metrics), the columns are the messages
themselves: topic, partition, offset, key and the JSON text, one row per message; the
parsing happens in ClickHouse (metric blocks and arrays of rows go to an ingest table
each, so that an insert plans only the views its messages need). For the others, each
record is converted by its sinks.rows converter, which names the records it refuses,
and the rows are pivoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from sinks.batch import Batch, Reject
from sinks.errors import RowError
from sinks.rows import INGEST_COLUMNS, Limits

__all__ = ["Columns", "to_columns"]


@dataclass
class Columns:
    """Column data of the rows of one batch, with each row's source offset and key."""

    table: str
    names: tuple[str, ...]
    data: list[list[Any]]
    offsets: list[int]
    keys: list[bytes | None]
    rejected: list[Reject] = field(default_factory=list)

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


def _message_columns(batch: Batch, table: str, idx: list[int]) -> Columns:
    recs, offs, keys = batch.records, batch.record_offsets, batch.record_keys
    n = len(idx)
    picked = [keys[i] for i in idx]
    skeys = [k.decode("utf-8", "replace") if k is not None else "" for k in picked]
    offsets = [offs[i] for i in idx]
    data: list[list[Any]] = [[batch.topic] * n, [batch.partition] * n, offsets, skeys,
                             [recs[i] for i in idx]]
    return Columns(table, INGEST_COLUMNS, data, list(offsets), picked)


def _messages(batch: Batch) -> list[Columns]:
    """Message rows: JSON objects (metric blocks) for the block ingest table, everything
    else (arrays of records, and what is not JSON) for the array ingest table."""
    spec = batch.spec
    assert spec.ingest is not None
    if spec.block_ingest is None:
        groups = [(spec.ingest, list(range(len(batch.records))))]
    else:
        arrays: list[int] = []
        blocks: list[int] = []
        for i, doc in enumerate(batch.records):
            (blocks if doc.lstrip()[:1] == "{" else arrays).append(i)
        groups = [(spec.ingest, arrays), (spec.block_ingest, blocks)]
    out = [_message_columns(batch, table, idx) for table, idx in groups if idx]
    if not out:
        out = [_message_columns(batch, spec.ingest, [])]
    out[0].rejected = list(batch.rejected)
    return out


def _rows(batch: Batch, lim: Limits) -> Columns:
    spec = batch.spec
    rows: list[tuple[Any, ...]] = []
    offsets: list[int] = []
    keys: list[bytes | None] = []
    rejected = list(batch.rejected)
    convert = spec.convert
    for rec, off, key in zip(batch.records, batch.record_offsets, batch.record_keys,
                             strict=True):
        try:
            if type(rec) is not dict:
                raise RowError("bad_type", f"record is a JSON {type(rec).__name__}")
            rows.append(convert(rec, lim))
        except RowError as e:
            rejected.append(Reject(off, key, e, orjson.dumps(rec)))
            continue
        except KeyError as e:
            err = RowError("missing_field", f"missing field {e.args[0]!r}")
            rejected.append(Reject(off, key, err, orjson.dumps(rec)))
            continue
        offsets.append(off)
        keys.append(key)
    data = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in spec.columns]
    return Columns(spec.table, spec.columns, data, offsets, keys, rejected)


def to_columns(batch: Batch, lim: Limits) -> list[Columns]:
    """The batch as the columns of the tables it goes to (one, or for metrics one per
    ingest table that has messages), the batch's rejected records with the first."""
    if batch.spec.ingest is not None:
        return _messages(batch)
    return [_rows(batch, lim)]
