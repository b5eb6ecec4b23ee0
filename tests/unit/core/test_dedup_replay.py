"""Dedup by (host, epoch, seq) through the whole core, as the worker and replay run it."""

from __future__ import annotations

from typing import Any

import orjson

from producers.events import metric_batch, sample
from streams.replay import ReplayStats, replay_lines
from streams.rules import parse_rules

RULES = parse_rules("groups: []\n")
T0 = 1_700_000_000_000


def batches(host: str, epoch: str | None, seqs: range, t_from: int) -> list[dict[str, Any]]:
    return [dict(metric_batch(host, T0 + (t_from + i) * 1000, s, {"rack": "r1"},
                              [sample("cpu.usage", 0.5)], epoch=epoch))
            for i, s in enumerate(seqs)]


def run(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], ReplayStats]:
    stats = ReplayStats()
    out = [orjson.loads(x) for x in replay_lines((orjson.dumps(e) for e in events), RULES,
                                                 {"metrics", "deadletter"}, stats)]
    return out, stats


def rows(out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in out if o["schema"] == "rackwatch.metric_row/v1"]


def dead(out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in out if o["schema"] == "rackwatch.deadletter/v1"]


class TestProducerRestarts:
    def test_wiped_state_mid_stream_loses_nothing(self) -> None:
        """A producer that restarts its numbering from 1 with a new epoch: every batch kept."""
        before = batches("h1", "epoch-a", range(500, 530), 0)
        after = batches("h1", "epoch-b", range(1, 31), 30)
        out, stats = run(before + after)
        assert len(rows(out)) == 60
        assert stats.metric_batches == 60
        assert stats.dedup == {"metrics new_epoch": 1}

    def test_old_producers_without_epoch_then_upgraded(self) -> None:
        """Batches without an epoch, then the same host with one: nothing dropped."""
        out, _ = run(batches("h1", None, range(900, 910), 0)
                     + batches("h1", "e1", range(1, 11), 10))
        assert len(rows(out)) == 20

    def test_resends_are_still_dropped_exactly(self) -> None:
        """A resend after a broker error (same epoch, same seq) is dropped, and counted."""
        first = batches("h1", "e", range(1, 21), 0)
        resent = first[5:12]
        out, stats = run(first[:12] + resent + first[12:])
        assert len(rows(out)) == 20
        assert stats.dedup == {"metrics duplicate": 7}
        assert sorted({r["ts"] for r in rows(out)}) == [b["ts"] for b in first]

    def test_late_resend_of_the_old_epoch_is_dropped(self) -> None:
        """After a restart, a resend from the old incarnation is a duplicate, not data."""
        old = batches("h1", "a", range(1, 11), 0)
        new = batches("h1", "b", range(1, 11), 10)
        out, stats = run(old + new[:3] + old[8:10] + new[3:])
        assert len(rows(out)) == 20
        assert stats.dedup == {"metrics new_epoch": 1, "metrics duplicate": 2}


class TestTwoProducersOneHost:
    def test_the_older_epoch_is_dead_lettered_with_its_reason(self) -> None:
        """Two live producers claim h1: the newest epoch owns it, the other's batches are
        dead-lettered as host_conflict (kept, counted), never dropped in silence."""
        a = batches("h1", "a", range(1, 11), 0)
        b = batches("h1", "b", range(1, 11), 0)
        mixed = [a[0], a[1], b[0]] + [x for pair in zip(a[2:], b[1:9], strict=True)
                                      for x in pair]
        out, stats = run(mixed)
        assert len(rows(out)) == 2 + 9
        conflicts = dead(out)
        assert len(conflicts) == 8
        assert {d["reason_code"] for d in conflicts} == {"host_conflict"}
        assert all(orjson.loads(d["raw"])["epoch"] == "a" for d in conflicts)
        assert "newest epoch owns it" in conflicts[0]["reason"]
        assert stats.deadletter_reasons == {"host_conflict": 8}
        assert stats.dedup == {"metrics new_epoch": 1, "metrics host_conflict": 8}

    def test_a_bad_epoch_is_rejected_precisely(self) -> None:
        """An epoch that is not a short string is dead-lettered naming the field."""
        bad = batches("h1", None, range(1, 2), 0)[0]
        bad["epoch"] = 7
        out, stats = run([bad])
        assert [d["reason_code"] for d in dead(out)] == ["bad_type"]
        assert "'epoch'" in dead(out)[0]["reason"]
        assert stats.lines == 1 and stats.metric_batches == 0
