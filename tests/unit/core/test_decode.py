"""Decode and validate at the edge: precise reasons for every rejection."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.deadletter import Rejected, deadletter_record
from streams.core.decode import decode_log_event, decode_metric_batch

NOW = 1_700_000_000_000


def batch(**over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {"schema": "rackwatch.metrics/v1", "host": "h1", "ts": NOW, "seq": 1,
                         "labels": {"rack": "r1"},
                         "samples": [{"name": "cpu.usage", "value": 0.5}]}
    b.update(over)
    return b


def reject(raw: bytes, wall: int | None = NOW) -> Rejected:
    with pytest.raises(Rejected) as e:
        decode_metric_batch(raw, wall)
    return e.value


class TestMetricBatch:
    def test_valid_batch_decodes(self) -> None:
        """A well-formed batch comes back as the dict it was."""
        got = decode_metric_batch(orjson.dumps(batch()), NOW)
        assert got["host"] == "h1" and got["samples"][0]["value"] == 0.5

    def test_integer_values_become_floats(self) -> None:
        """JSON has one number type; the core works in floats."""
        got = decode_metric_batch(orjson.dumps(batch(samples=[{"name": "x", "value": 3}])))
        assert type(got["samples"][0]["value"]) is float

    @pytest.mark.parametrize(("raw", "code", "fragment"), [
        (b"{not json", "bad_json", "not valid JSON"),
        (b"[1,2]", "bad_type", "JSON object"),
        (orjson.dumps({k: v for k, v in batch().items() if k != "host"}), "missing_field",
         "'host'"),
        (orjson.dumps(batch(schema="rackwatch.metrics/v9")), "unknown_version", "v9"),
        (orjson.dumps(batch(schema="rackwatch.logs/v1")), "wrong_schema", "logs"),
        (orjson.dumps(batch(ts="yesterday")), "bad_type", "'ts'"),
        (orjson.dumps(batch(seq=1.5)), "bad_type", "'seq'"),
        (orjson.dumps(batch(samples=[{"name": "x", "value": "high"}])), "bad_type",
         "samples[0].value"),
        (orjson.dumps(batch(samples=[{"name": "x"}])), "missing_field", "samples[0].value"),
        (orjson.dumps(batch(samples=[{"value": 1}])), "missing_field", "samples[0].name"),
        (orjson.dumps(batch(ts=NOW + 3_600_000)), "ts_future", "future"),
        (orjson.dumps(batch(ts=NOW - 30 * 86_400_000)), "ts_past", "past"),
        (orjson.dumps(batch(ts=12345)), "ts_absurd", "between 2000 and 2100"),
        (orjson.dumps(batch(labels={"rack": 5})), "bad_type", "labels.rack"),
        (orjson.dumps(batch(samples=[{"name": "x", "value": 1e200}])), "too_large",
         "samples[0].value"),
        (orjson.dumps(batch(samples=[{"name": "x", "value": 0.5}])).replace(b"0.5", b"-1e120"),
         "too_large", "samples[0].value"),
    ])
    def test_rejections_name_the_problem(self, raw: bytes, code: str, fragment: str) -> None:
        """Each kind of bad input gets its own code and a reason pointing at the field."""
        e = reject(raw)
        assert e.code == code
        assert fragment in e.reason

    def test_non_finite_values_rejected(self) -> None:
        """Infinity (from an overflowing literal) never reaches the core."""
        raw = orjson.dumps(batch()).replace(b"0.5", b"1e999")
        e = reject(raw)
        assert e.code in ("non_finite", "bad_json")

    def test_no_wall_clock_skips_plausibility(self) -> None:
        """Replay of old history is fine: only absurd times are rejected without a clock."""
        old = orjson.dumps(batch(ts=NOW - 365 * 86_400_000))
        assert decode_metric_batch(old, None)["ts"] == NOW - 365 * 86_400_000

    @given(st.binary(max_size=200))
    def test_arbitrary_bytes_never_crash(self, raw: bytes) -> None:
        """Garbage is rejected with a reason, never with an unexpected exception."""
        error: Rejected | None = None
        try:
            decode_metric_batch(raw, NOW)
        except Rejected as e:
            error = e
        assert error is None or (error.code and error.reason)

    @given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                        lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=20))
    def test_arbitrary_json_never_crashes(self, value: object) -> None:
        """Any JSON value at all is either a valid batch or a Rejected."""
        try:
            raw = orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):
            return
        with contextlib.suppress(Rejected):
            decode_metric_batch(raw, NOW)


class TestLogEvent:
    def test_valid_log_event(self) -> None:
        """A log line with the required fields decodes."""
        ev = {"schema": "rackwatch.logs/v1", "host": "h", "ts": NOW, "seq": 3, "message": "hi"}
        assert decode_log_event(orjson.dumps(ev), NOW)["message"] == "hi"

    def test_message_must_be_text(self) -> None:
        """A non-string message is rejected, naming the field."""
        ev = {"schema": "rackwatch.logs/v1", "host": "h", "ts": NOW, "seq": 3, "message": 5}
        with pytest.raises(Rejected, match="'message'"):
            decode_log_event(orjson.dumps(ev), NOW)


class TestDeadLetterRecord:
    def test_keeps_raw_bytes_and_source(self) -> None:
        """Nothing is lost: raw bytes, topic, partition and offset travel with the reason."""
        rec = deadletter_record(b"\xff\xfe", Rejected("bad_json", "nope"), now_ms=NOW,
                                topic="rackwatch.metrics", partition=3, offset=42, key=b"h1")
        assert rec["raw_encoding"] == "base64"
        assert (rec["source_topic"], rec["source_partition"], rec["source_offset"]) == (
            "rackwatch.metrics", 3, 42)
        assert rec["key"] == "h1" and rec["reason_code"] == "bad_json"


SAMPLE_VALUES = (st.floats() | st.integers(-2**63, 2**63 - 1) | st.none() | st.booleans()
                 | st.text(max_size=3))
SAMPLES = st.lists(st.one_of(
    st.fixed_dictionaries({"name": st.sampled_from(["cpu.usage", "gpu.x", ""]),
                           "value": st.floats(-1e308, 1e308)}),
    st.fixed_dictionaries({"name": st.text(max_size=3) | st.integers(0, 9), "value": SAMPLE_VALUES},
                          optional={"labels": st.none() | st.integers(0, 9)
                                    | st.dictionaries(st.text(max_size=2),
                                                      st.text(max_size=2) | st.integers(0, 9),
                                                      max_size=2)}),
    st.dictionaries(st.sampled_from(["name", "value", "labels"]), st.just("x")),
    st.integers(0, 9),
), max_size=6)


class TestColumnCheck:
    @given(SAMPLES)
    def test_same_verdict_as_sample_by_sample(self, samples: list[Any]) -> None:
        """The column-at-a-time check accepts, converts and rejects (with the same
        reason) exactly what the sample-by-sample check does."""
        from streams.core.decode import Limits, _check_samples

        raw = orjson.dumps(batch(samples=samples))
        want_samples = orjson.loads(raw)["samples"]
        want: Rejected | None = None
        try:
            _check_samples(want_samples, Limits())
        except Rejected as e:
            want = e
        if want is not None:
            got_e = reject(raw)
            assert (got_e.code, got_e.reason) == (want.code, want.reason)
            return
        got = decode_metric_batch(raw, NOW)
        assert orjson.dumps(got["samples"]) == orjson.dumps(want_samples)
        assert all(type(s["value"]) is float for s in got["samples"])
