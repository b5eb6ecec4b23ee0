"""HostState: one host's state, named, and the changelog form it has always had."""

from __future__ import annotations

from pathlib import Path

import orjson

from streams.core.hoststate import HostState
from streams.core.metrics import MetricsCore, host_context
from streams.rules import RuleEngine, default_rules

DATA = Path(__file__).with_name("data")
T0 = 1_700_000_000_000


def batch(i: int) -> dict[str, object]:
    return {"schema": "rackwatch.metrics/v1", "host": "h1", "ts": T0 + i * 10_000, "seq": i,
            "labels": {"rack": "r1"},
            "samples": [{"name": "gpu.temperature", "value": 60.0 + i % 5,
                         "labels": {"gpu": "0"}},
                        {"name": "cpu.usage", "value": 0.5 + (i % 3) / 10}]}


class TestChangelogForm:
    def test_a_state_written_before_the_record_is_read_as_it_was(self) -> None:
        """A changelog entry written by the dict-based worker (captured from it) loads into
        named fields and serialises back to the same bytes."""
        raw = (DATA / "host_state_before_records.json").read_bytes()
        st = HostState.loads(raw)
        assert st.dedup is not None and st.dedup[0][:2] == ["", 29]
        assert st.event_ms == T0 + 290_000
        assert st.topology == {"rack": "r1"}
        assert st.series is not None and st.series.keys == ["gpu.temperature{gpu=0}",
                                                           "cpu.usage"]
        assert st.faults == {"gpu_xid_79": [T0 + 250_000]}
        assert orjson.loads(st.dumps()) == orjson.loads(raw)

    def test_processing_continues_from_an_old_entry(self) -> None:
        """The next batch after an upgrade is processed as it would have been before."""
        raw = (DATA / "host_state_before_records.json").read_bytes()
        core = MetricsCore(RuleEngine(default_rules()))
        st, res = core.process(HostState.loads(raw), batch(30))  # type: ignore[arg-type]
        assert not res.duplicate and len(res.rows) == 2
        assert host_context(st)["series"]["gpu.temperature{gpu=0}"]["last"] == 60.0
        _, again = core.process(HostState.loads(raw), batch(29))  # type: ignore[arg-type]
        assert again.duplicate  # its dedup window came through too

    def test_round_trip_of_a_fresh_state(self) -> None:
        """An empty state writes the short keys it always did and reads back equal."""
        st = HostState()
        assert st.to_json() == {"d": None, "r": {}, "s": {}}
        assert HostState.loads(st.dumps()) == st
