"""Records to rows: what is accepted, what is dead-lettered and with which reason."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinks.errors import RowError
from sinks.rows import (
    DEADLETTER_COLUMNS,
    Limits,
    decode_message,
    rfc3339_ms,
    table_specs,
)
from tests.support.samples import build_fleet

NOW = 1_750_000_000_000
FLEET = build_fleet(NOW)
LIM = Limits()


def _row(topic: str, record: Any) -> dict[str, Any]:
    spec = table_specs()[topic]
    return dict(zip(spec.columns, spec.convert(record, LIM), strict=True))


class TestMetricRow:
    def test_valid_row_maps_fields_and_rack(self) -> None:
        """A metric_row/v1 keeps its values and copies labels.rack into rack."""
        rec = FLEET.metrics[0]
        row = _row("processed.metrics", rec)
        assert row["host"] == rec["host"] and row["ts"] == rec["ts"]
        assert row["rack"] == rec["labels"]["rack"]
        assert row["value"] == rec["value"] and row["seq"] == rec["seq"]

    def test_missing_rack_is_empty(self) -> None:
        """Without a rack label the rack column is empty, not an error."""
        rec = dict(FLEET.metrics[0], labels={"gpu": "0"})
        assert _row("processed.metrics", rec)["rack"] == ""

    def test_null_smoothing_becomes_nan(self) -> None:
        """ewma/wma may be null (no history yet): stored as NaN."""
        rec = dict(FLEET.metrics[0], ewma=None, wma=None)
        row = _row("processed.metrics", rec)
        assert math.isnan(row["ewma"]) and math.isnan(row["wma"])

    @pytest.mark.parametrize(("change", "code"), [
        ({"value": "high"}, "bad_type"),
        ({"value": True}, "bad_type"),
        ({"ts": 1.5}, "bad_type"),
        ({"ts": -1}, "bad_value"),
        ({"seq": -3}, "bad_value"),
        ({"labels": {"rack": 7}}, "bad_type"),
        ({"outlier": "no"}, "bad_type"),
        ({"schema": "rackwatch.metrics/v1"}, "unknown_schema"),
    ])
    def test_bad_fields_are_rejected_with_a_reason(self, change: dict[str, Any],
                                                    code: str) -> None:
        """A value the column cannot hold raises RowError with a groupable code."""
        with pytest.raises(RowError) as e:
            _row("processed.metrics", dict(FLEET.metrics[0], **change))
        assert e.value.code == code

    def test_missing_field_raises_key_error(self) -> None:
        """A missing field surfaces as KeyError (the batcher names it missing_field)."""
        rec = dict(FLEET.metrics[0])
        del rec["host"]
        with pytest.raises(KeyError):
            _row("processed.metrics", rec)

    def test_oversized_string_is_too_large(self) -> None:
        """A string above max_field_bytes is rejected as too_large."""
        spec = table_specs()["processed.metrics"]
        rec = dict(FLEET.metrics[0], host="h" * 100)
        with pytest.raises(RowError) as e:
            spec.convert(rec, Limits(max_field_bytes=50))
        assert e.value.code == "too_large"


class TestOtherTables:
    def test_log_row_keeps_fault_class_and_defaults(self) -> None:
        """Log rows keep the fault class; null program/pid become ''/0."""
        rec = next(r for r in FLEET.logs if r["fault_class"])
        row = _row("processed.logs", dict(rec, program=None))
        assert row["fault_class"] == rec["fault_class"]
        assert row["program"] == "" and row["pid"] == 0

    def test_log_row_keeps_fault_source(self) -> None:
        """The classifying layer is stored; a record from an older worker stores ''."""
        rec = next(r for r in FLEET.logs if r["fault_class"])
        assert _row("processed.logs", dict(rec, fault_source="generic"))["fault_source"] == (
            "generic")
        assert _row("processed.logs", {k: v for k, v in rec.items()
                                       if k != "fault_source"})["fault_source"] == ""

    def test_alert_times_become_epoch_ms(self) -> None:
        """RFC 3339 times are stored as epoch milliseconds; open alerts have no end."""
        rec = next(a for a in FLEET.alerts if a["status"] == "firing")
        row = _row("alerts", rec)
        assert row["starts_at"] == rfc3339_ms(rec["starts_at"])
        assert row["ends_at"] is None

    def test_alert_status_is_checked(self) -> None:
        """Only firing and resolved are alert states."""
        with pytest.raises(RowError):
            _row("alerts", dict(FLEET.alerts[0], status="pending"))

    def test_incident_evidence_is_json_text(self) -> None:
        """Evidence is stored as its JSON text."""
        row = _row("incidents", FLEET.incidents[0])
        assert orjson.loads(row["evidence"]) == FLEET.incidents[0]["evidence"]

    def test_incident_suspects_are_json_text(self) -> None:
        """Ranked suspects are stored as JSON text; incidents without them as empty."""
        suspects = [{"host": "cart", "score": 0.7, "reason": "own trouble"}]
        row = _row("incidents", dict(FLEET.incidents[0], suspects=suspects))
        assert orjson.loads(row["suspects"]) == suspects
        assert _row("incidents", FLEET.incidents[0])["suspects"] == ""
        with pytest.raises(RowError):
            _row("incidents", dict(FLEET.incidents[0], suspects="cart"))

    def test_action_rows(self) -> None:
        """Handling actions: the alert's rack from its labels, a silence's matchers and end;
        an anonymous or unknown action is refused."""
        from streams.handling.actions import make_action

        assigned = make_action("assigned", "0123456789abcdef", "rackwatch", 1_790_000_000_000,
                               assignee="ops", priority="P2", labels={"rack": "r07"},
                               group="rule=R,rack=r07",
                               starts_at="2026-09-21T14:13:20.000Z", rule="R", host="h")
        row = _row("actions", assigned)
        assert (row["rack"], row["assignee"], row["level"]) == ("r07", "ops", 0)
        assert row["group_key"] == "rule=R,rack=r07"
        assert row["at"] == 1_790_000_000_000 and row["starts_at"] == 1_790_000_000_000
        silence = make_action("silenced", None, "bob", 1_790_000_000_000,
                              matchers=['rack="r1"'], until="2026-09-21T15:00:00.000Z")
        row = _row("actions", silence)
        assert row["fingerprint"] == "" and row["matchers"] == ['rack="r1"']
        assert row["until"] == rfc3339_ms("2026-09-21T15:00:00.000Z")
        for bad in ({**assigned, "by": " "}, {**assigned, "action": "poked"}):
            with pytest.raises(RowError):
                _row("actions", bad)

    def test_deadletter_row_columns(self) -> None:
        """Dead letters fill every deadletter column, origin 'stream' by default."""
        row = _row("deadletter", FLEET.deadletters[0])
        assert set(row) == set(DEADLETTER_COLUMNS) and row["origin"] == "stream"


class TestRfc3339:
    def test_utc_and_offsets(self) -> None:
        """'Z', offsets and naive times (taken as UTC) all parse to the same instant."""
        a = rfc3339_ms("2024-06-01T12:00:00Z")
        assert a == rfc3339_ms("2024-06-01T14:00:00+02:00") == rfc3339_ms("2024-06-01T12:00:00")
        assert a == 1_717_243_200_000

    def test_garbage_is_bad_value(self) -> None:
        """Unparseable text is a bad_value."""
        with pytest.raises(RowError) as e:
            rfc3339_ms("yesterday")
        assert e.value.code == "bad_value"


class TestDecodeMessage:
    def test_array_and_object(self) -> None:
        """An array gives its records; an object gives itself."""
        assert decode_message(b'[{"a":1},{"a":2}]', 1000) == [{"a": 1}, {"a": 2}]
        assert decode_message(b'{"a":1}', 1000) == [{"a": 1}]

    @pytest.mark.parametrize(("value", "code"), [
        (None, "empty"), (b"{nope", "bad_json"), (b"42", "bad_type"), (b"[" + b" " * 50 + b"]",
                                                                      "too_large")])
    def test_rejections(self, value: bytes | None, code: str) -> None:
        """Tombstones, bad JSON, scalars and oversized messages are rejected with codes."""
        with pytest.raises(RowError) as e:
            decode_message(value, 40)
        assert e.value.code == code

    @given(st.binary(max_size=200))
    def test_arbitrary_bytes_never_crash(self, value: bytes) -> None:
        """Whatever the bytes, decoding returns records or raises RowError, nothing else."""
        try:
            out = decode_message(value, 1000)
        except RowError:
            return
        assert isinstance(out, list)

    @given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                        | st.text(max_size=5),
                        lambda c: st.lists(c, max_size=3) | st.dictionaries(
                            st.sampled_from(["host", "ts", "name", "value", "labels", "seq",
                                             "raw", "ewma", "wma", "outlier", "x"]), c,
                            max_size=6), max_leaves=12))
    def test_arbitrary_records_only_raise_row_or_key_errors(self, rec: Any) -> None:
        """Any JSON-shaped record either converts or fails with RowError/KeyError."""
        spec = table_specs()["processed.metrics"]
        if not isinstance(rec, dict):
            return
        with contextlib.suppress(RowError, KeyError):
            spec.convert(rec, LIM)
