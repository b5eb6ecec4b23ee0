"""Trace and request ids read from log lines, sampled the same way on every host."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.hoststate import HostState
from streams.core.traceids import MAX_PER_INTERVAL, RATE, sample_ids, take_sample, trace_ids
from streams.rules import parse_rules
from streams.runtime import Runtime

T0 = 1_700_000_000_000


class TestReadingIds:
    """Ids in JSON and text lines, by the keys loggers and tracers use."""

    def test_json_and_text_forms(self) -> None:
        """trace_id, traceId, x-request-id, TraceId: ..., [requestId=...]."""
        assert trace_ids('{"msg":"ok","trace_id":"4bf92f3577b34da6"}') == ["4bf92f3577b34da6"]
        assert trace_ids('{"traceId": "A1B2C3D4E5F6"}') == ["a1b2c3d4e5f6"]
        assert trace_ids("GET /cart x-request-id=req-7f3a9c21 200") == ["req-7f3a9c21"]
        assert trace_ids("2022-08-23 INFO [TraceId: 9a8b7c6d5e4f3a2b] order placed") == [
            "9a8b7c6d5e4f3a2b"]
        assert trace_ids("payment done [requestId=abc12345-0001]") == ["abc12345-0001"]

    def test_traceparent(self) -> None:
        """W3C traceparent: the 32-hex trace id."""
        line = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        assert "4bf92f3577b34da6a3ce929d0e0e4736" in trace_ids(line)

    def test_openstack_request_ids(self) -> None:
        """`req-<uuid>` wherever it stands (loghub's OpenStack sample has them)."""
        line = ("2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
                "[req-38101a0b-2096-447d-96ea-a692162415ae 113d3a99 54fadb41] GET /v2")
        assert trace_ids(line) == ["req-38101a0b-2096-447d-96ea-a692162415ae"]

    def test_no_ids_in_ordinary_lines(self) -> None:
        """Ids need a key; short values and plain words are not ids."""
        assert trace_ids("Connection reset by peer") == []
        assert trace_ids("user_id=42 paid") == []
        assert trace_ids("trace_id=abc") == []


class TestSampling:
    """The same ids on every host, a bounded number per interval."""

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.text("0123456789abcdef", min_size=16, max_size=16), max_size=60))
    def test_consistent_across_hosts(self, ids: list[str]) -> None:
        """Two hosts logging the same ids sample the same ones."""
        a, b = HostState(), HostState()
        for i, tid in enumerate(ids):
            sample_ids(a, f"served trace_id={tid}", T0 + i)
            sample_ids(b, f'{{"traceId": "{tid}"}}', T0 + i)
        assert [k for k, _ in take_sample(a)] == [k for k, _ in take_sample(b)]
        assert a.trace_sample is None

    def test_about_one_in_rate_and_bounded(self) -> None:
        """Of many ids, about 1/RATE are kept, never more than MAX_PER_INTERVAL."""
        s = HostState()
        for i in range(RATE * MAX_PER_INTERVAL * 4):
            sample_ids(s, f"trace_id=id{i:010d}", T0)
        assert len(take_sample(s)) == MAX_PER_INTERVAL
        s2 = HostState()
        for i in range(RATE * 4):
            sample_ids(s2, f"trace_id=id{i:010d}", T0)
        assert 0 < len(take_sample(s2)) < MAX_PER_INTERVAL


class TestThroughTheRuntime:
    """The sample rides on the host's next metric batch to its service domain."""

    def test_sent_with_the_batch_to_the_service_domain(self) -> None:
        """Logs with sampled ids, then a batch: one `traces` event for service=fleet."""
        rt = Runtime(parse_rules("groups: []"), check_wall_clock=False)
        states: dict[str, HostState] = {}

        def send_metrics(i: int) -> list[tuple[bytes, bytes]]:
            out = rt.on_metrics(orjson.dumps({
                "schema": "rackwatch.metrics/v1", "host": "cart", "ts": T0 + i * 60_000,
                "seq": i + 1, "labels": {}, "samples": [{"name": "cpu.usage", "value": 0.1}]}),
                states.get, wall_ms=0)
            assert out.state is not None
            states["cart"] = out.state
            return out.correlate

        assert send_metrics(0) == []
        for i in range(RATE * 8):
            out = rt.on_log(orjson.dumps({"schema": "rackwatch.logs/v1", "host": "cart",
                                          "ts": T0 + 1000 + i, "seq": i + 1,
                                          "message": f"charged trace_id=t{i:012d}"}),
                            states.get, wall_ms=0)
            assert out.state is not None
            states["cart"] = out.state
        sent = send_metrics(1)
        assert [k for k, _ in sent] == [b"service=fleet"]
        event = orjson.loads(sent[0][1])
        assert event["kind"] == "traces" and event["host"] == "cart"
        assert 0 < len(event["traces"]) <= MAX_PER_INTERVAL
        assert send_metrics(2) == []  # sent once, then forgotten
