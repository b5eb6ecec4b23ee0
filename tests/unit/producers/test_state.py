"""Persistent agent state: seq blocks and a corrupt or missing file."""

from __future__ import annotations

import json
from pathlib import Path

from producers.state import AgentState, SeqAllocator


class TestSeqAllocator:
    def test_reserves_in_blocks(self) -> None:
        """Only every `block`-th number moves the reservation."""
        s = SeqAllocator(next=1, reserved=1, block=3)
        moved = [s.take() for _ in range(7)]
        assert [v for v, _ in moved] == [1, 2, 3, 4, 5, 6, 7]
        assert [m for _, m in moved] == [True, False, False, True, False, False, True]


class TestAgentState:
    def test_seq_survives_restart_strictly_increasing(self, tmp_path: Path) -> None:
        """A restarted agent never reuses a seq, even if it stopped without saving."""
        path = tmp_path / "a.json"
        first = AgentState(path, now_ms=1_000, block=10)
        used = [first.next_metrics_seq() for _ in range(15)]
        # no save() call: a crash right now
        second = AgentState(path, now_ms=2_000, block=10)
        after = second.next_metrics_seq()
        assert after > max(used)

    def test_fresh_state_starts_from_now(self, tmp_path: Path) -> None:
        """Without a state file sequences start at the current epoch milliseconds."""
        st = AgentState(tmp_path / "none.json", now_ms=1_700_000_000_000)
        assert st.next_metrics_seq() == 1_700_000_000_000
        assert st.next_logs_seq() == 1_700_000_000_000

    def test_metrics_and_logs_counters_are_separate(self, tmp_path: Path) -> None:
        """Log events have their own seq counter."""
        st = AgentState(tmp_path / "s.json", now_ms=10)
        a, b = st.next_metrics_seq(), st.next_metrics_seq()
        c = st.next_logs_seq()
        assert (a, b, c) == (10, 11, 10)

    def test_corrupt_file_is_set_aside(self, tmp_path: Path) -> None:
        """An unreadable state file is moved aside and sequences restart from now."""
        path = tmp_path / "s.json"
        path.write_text("{not json")
        st = AgentState(path, now_ms=5_000)
        assert st.next_metrics_seq() == 5_000
        assert (tmp_path / "s.json.corrupt").read_text() == "{not json"

    def test_positions_round_trip(self, tmp_path: Path) -> None:
        """File positions and the kmsg cursor are persisted as JSON."""
        path = tmp_path / "s.json"
        st = AgentState(path, now_ms=1)
        st.files = {"1:2": {"path": "/x.log", "offset": 42}}
        st.kmsg = {"boot_id": "b", "seq": 7}
        st.save()
        data = json.loads(path.read_text())
        again = AgentState(path, now_ms=1)
        assert again.files == data["files"] == {"1:2": {"path": "/x.log", "offset": 42}}
        assert again.kmsg == {"boot_id": "b", "seq": 7}


class TestEpoch:
    def test_epoch_survives_restarts(self, tmp_path: Path) -> None:
        """A restarted agent keeps its epoch: its numbers continue one sequence."""
        path = tmp_path / "a.json"
        first = AgentState(path, now_ms=1_000, block=10)
        first.next_metrics_seq()
        assert AgentState(path, now_ms=2_000).epoch == first.epoch

    def test_wiped_state_gets_a_new_epoch(self, tmp_path: Path) -> None:
        """A lost state file means a new epoch, so the new numbers are never duplicates."""
        path = tmp_path / "a.json"
        first = AgentState(path, now_ms=1_000, block=10)
        first.next_metrics_seq()
        path.unlink()
        assert AgentState(path, now_ms=2_000).epoch != first.epoch

    def test_state_from_before_epochs_gets_one_and_saves_it(self, tmp_path: Path) -> None:
        """An older state file keeps its seqs, gains an epoch and is marked for saving."""
        path = tmp_path / "old.json"
        path.write_text(json.dumps({"version": 1, "metrics_seq": 5000, "logs_seq": 7000}))
        st = AgentState(path, now_ms=1)
        assert st.dirty and 0 < len(st.epoch) <= 64
        assert st.next_metrics_seq() == 5000
        st.save()
        assert json.loads(path.read_text())["epoch"] == st.epoch
