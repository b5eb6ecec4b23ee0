"""Decode and validate events at the edge, once, so the rest of the core can trust them.

Validation is hand-written rather than done with a JSON Schema library: it runs on
every message at tens of thousands of messages per second, and the reasons it gives
must point at the exact field (`samples[3].value is NaN`). The samples of a batch are
first checked a column at a time with C-level builtins (types, lengths, a finite sum);
only a batch that fails that goes through the sample-by-sample check that names the
problem. The JSON Schema files in
schemas/json describe the same contract for downstream users.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import chain, repeat
from operator import is_not, itemgetter
from typing import Any

import orjson

from schemas.events import LogEvent, MetricBatch
from schemas.ids import LOGS, METRICS
from streams.core.deadletter import Rejected

__all__ = ["Limits", "decode_log_event", "decode_metric_batch", "parse_json"]

_NAME = itemgetter("name")
_VALUE = itemgetter("value")
_get: Callable[[Any, str], Any] = dict.get
_NOT_NONE: Callable[[object], bool] = partial(is_not, None)
_DICT: set[type] = {dict}
_STR: set[type] = {str}
_FLOAT: set[type] = {float}

# Event times outside [2000-01-01, 2100-01-01) are absurd whatever the clock says.
_MIN_TS = 946_684_800_000
_MAX_TS = 4_102_444_800_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Plausibility bounds against wall time (skipped when no wall time is given)."""

    max_future_skew_ms: int = 300_000
    max_past_age_ms: int = 7 * 86_400_000
    max_samples: int = 100_000
    max_name_len: int = 200


# No instrument reads 1e100 of anything; values that large would overflow the smoothing
# arithmetic (squares, sums) into infinities that JSON cannot carry into the changelog.
MAX_ABS_VALUE = 1e100


def parse_json(raw: bytes | str) -> Any:
    """orjson.loads with a dead-letter-ready error."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise Rejected("bad_json", f"not valid JSON: {e}") from None


def _is_int(v: object) -> bool:
    return type(v) is int


def _check_header(obj: Any, schema_id: str, wall_ms: int | None, limits: Limits) -> None:
    if not isinstance(obj, dict):
        raise Rejected("bad_type", f"event must be a JSON object, got {type(obj).__name__}")
    schema = obj.get("schema")
    if schema is None:
        raise Rejected("missing_field", "missing field 'schema'")
    if schema != schema_id:
        family = schema_id.rsplit("/", 1)[0] + "/"
        if isinstance(schema, str) and schema.startswith(family):
            raise Rejected("unknown_version", f"unsupported schema version {schema!r} "
                                              f"(this worker reads {schema_id!r})")
        raise Rejected("wrong_schema", f"schema {schema!r} does not belong on this topic "
                                       f"(expected {schema_id!r})")
    host = obj.get("host")
    if host is None:
        raise Rejected("missing_field", "missing field 'host'")
    if not isinstance(host, str) or not host or len(host) > 255:
        raise Rejected("bad_type", f"'host' must be a non-empty string, got {host!r:.80}")
    for field in ("ts", "seq"):
        v = obj.get(field)
        if v is None:
            raise Rejected("missing_field", f"missing field {field!r}")
        if not _is_int(v):
            raise Rejected("bad_type", f"{field!r} must be an integer, got {v!r:.40}")
    ts = obj["ts"]
    if obj["seq"] < 0:
        raise Rejected("bad_value", f"'seq' must not be negative, got {obj['seq']}")
    if not _MIN_TS <= ts < _MAX_TS:
        raise Rejected("ts_absurd", f"'ts' {ts} is not epoch milliseconds between 2000 and 2100")
    if wall_ms is not None:
        if ts > wall_ms + limits.max_future_skew_ms:
            raise Rejected("ts_future", f"'ts' is {(ts - wall_ms) / 1000:.0f}s in the future "
                                        f"(limit {limits.max_future_skew_ms / 1000:.0f}s)")
        if ts < wall_ms - limits.max_past_age_ms:
            raise Rejected("ts_past", f"'ts' is {(wall_ms - ts) / 1000:.0f}s in the past "
                                      f"(limit {limits.max_past_age_ms / 1000:.0f}s)")
    epoch = obj.get("epoch")
    if epoch is not None and (not isinstance(epoch, str) or not 0 < len(epoch) <= 64):
        raise Rejected("bad_type", f"'epoch' must be a string of 1-64 characters, "
                                   f"got {epoch!r:.80}")
    labels = obj.get("labels")
    if labels is None:
        obj["labels"] = {}
    else:
        _check_labels(labels, "labels")


def _check_labels(labels: Any, where: str) -> None:
    if not isinstance(labels, dict):
        raise Rejected("bad_type", f"{where!r} must be an object of strings")
    for k, v in labels.items():
        if not isinstance(v, str):
            raise Rejected("bad_type", f"{where}.{k} must be a string, got {v!r:.40}")


def decode_metric_batch(raw: bytes | str | dict[str, Any], wall_ms: int | None = None,
                        limits: Limits = Limits()) -> MetricBatch:
    """Decode one `rackwatch.metrics/v1` message, or raise Rejected with the exact problem."""
    obj = parse_json(raw) if not isinstance(raw, dict) else raw
    _check_header(obj, METRICS, wall_ms, limits)
    samples = obj.get("samples")
    if samples is None:
        raise Rejected("missing_field", "missing field 'samples'")
    if not isinstance(samples, list):
        raise Rejected("bad_type", "'samples' must be an array")
    if len(samples) > limits.max_samples:
        raise Rejected("too_large", f"{len(samples)} samples (limit {limits.max_samples})")
    if not _samples_plainly_valid(samples, limits.max_name_len):
        _check_samples(samples, limits)
    return obj  # type: ignore[return-value]


def _samples_plainly_valid(samples: list[Any], max_name_len: int) -> bool:
    """True when every sample is valid as it stands (float values, nothing to convert),
    checked a whole column at a time; False leaves it to `_check_samples`, which finds
    the first problem (or converts integer values) sample by sample."""
    if not samples:
        return True
    try:
        if set(map(type, samples)) != _DICT:
            return False
        names = list(map(_NAME, samples))
        values = list(map(_VALUE, samples))
    except KeyError:
        return False
    if set(map(type, names)) != _STR or set(map(type, values)) != _FLOAT:
        return False
    lengths = list(map(len, names))
    if min(lengths) == 0 or max(lengths) > max_name_len:
        return False
    if not math.isfinite(sum(values)):  # a NaN or an infinity (or a finite sum that overflows)
        return False
    if max(values) >= MAX_ABS_VALUE or min(values) <= -MAX_ABS_VALUE:
        return False
    labels = list(filter(_NOT_NONE, map(_get, samples, repeat("labels"))))
    if labels:
        if set(map(type, labels)) != _DICT:
            return False
        try:  # str.join takes strings only: every label value is one
            "".join(chain.from_iterable(map(dict.values, labels)))
        except TypeError:
            return False
    return True


def _check_samples(samples: list[Any], limits: Limits) -> None:
    isfinite = math.isfinite
    for i, s in enumerate(samples):
        if type(s) is not dict:
            raise Rejected("bad_type", f"samples[{i}] must be an object")
        name = s.get("name")
        if type(name) is not str or not name or len(name) > limits.max_name_len:
            raise Rejected("bad_type" if name is not None else "missing_field",
                           f"samples[{i}].name must be a non-empty string, got {name!r:.40}")
        v = s.get("value")
        tv = type(v)
        if tv is float:
            if not isfinite(v):  # type: ignore[arg-type]
                raise Rejected("non_finite", f"samples[{i}].value ({name}) is {v}")
            if abs(v) >= MAX_ABS_VALUE:  # type: ignore[arg-type]
                raise Rejected("too_large", f"samples[{i}].value ({name}) is {v:g}, beyond "
                                            f"+-{MAX_ABS_VALUE:g}")
        elif tv is int:
            if abs(v) >= MAX_ABS_VALUE:  # type: ignore[arg-type]
                raise Rejected("too_large", f"samples[{i}].value ({name}) is {v:g}, beyond "
                                            f"+-{MAX_ABS_VALUE:g}")
            s["value"] = float(v)  # type: ignore[arg-type]
        elif v is None:
            raise Rejected("missing_field", f"samples[{i}].value ({name}) is missing")
        else:
            raise Rejected("bad_type", f"samples[{i}].value ({name}) must be a number, "
                                       f"got {v!r:.40}")
        sl = s.get("labels")
        if sl is not None:
            _check_labels(sl, f"samples[{i}].labels")


def decode_log_event(raw: bytes | str | dict[str, Any], wall_ms: int | None = None,
                     limits: Limits = Limits()) -> LogEvent:
    """Decode one `rackwatch.logs/v1` message, or raise Rejected with the exact problem."""
    obj = parse_json(raw) if not isinstance(raw, dict) else raw
    _check_header(obj, LOGS, wall_ms, limits)
    msg = obj.get("message")
    if msg is None:
        raise Rejected("missing_field", "missing field 'message'")
    if not isinstance(msg, str):
        raise Rejected("bad_type", f"'message' must be a string, got {type(msg).__name__}")
    src = obj.get("source")
    if src is not None and not isinstance(src, str):
        raise Rejected("bad_type", "'source' must be a string")
    return obj  # type: ignore[return-value]
