"""Handling actions: the book of people's actions, escalation clocks, and the runtime
that marks, assigns, escalates and resolves -- alike in the worker and in replay."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.hoststate import HostState
from streams.core.timefmt import ms_to_rfc3339
from streams.handling.actions import ActionError, decode_action, for_alert, make_action
from streams.handling.book import ActionBook
from streams.handling.routing import parse_routing
from streams.replay import replay_lines
from streams.rules import parse_rules
from streams.runtime import Runtime

T0 = 1_790_000_000_000
FP = "0123456789abcdef"
RULES = parse_rules("groups:\n  - name: g\n    rules:\n"
                    "      - {alert: CpuHot, kind: threshold, metric: cpu.usage, above: 0.5,"
                    " clear: 0.4, labels: {severity: critical}}\n")
TREE = parse_routing("route:\n  assignee: ops\n  ack_timeout: 1m\n  repeat_interval: 2m\n")


def act(kind: str, at_s: float, fp: str | None = FP, **kw: Any) -> bytes:
    return orjson.dumps(make_action(kind, fp, kw.pop("by", "alice"), T0 + int(at_s * 1000),
                                    kw.pop("note", ""), **kw))


def batch(host: str, t_s: int, value: float, seq: int) -> bytes:
    return orjson.dumps({"schema": "rackwatch.metrics/v1", "host": host, "ts": T0 + t_s * 1000,
                         "seq": seq, "labels": {"rack": "r07"},
                         "samples": [{"name": "cpu.usage", "value": value}]})


def drive(actions: list[bytes], tick_s: int, hot_until_s: int = 600,
          end_s: int = 720) -> list[dict[str, Any]]:
    """One host hot from 0 to `hot_until_s`, ticked every `tick_s` seconds of event time;
    the handling actions rackwatch emits, in order."""
    rt = Runtime(RULES, check_wall_clock=False, routing=TREE)
    for a in actions:
        rt.on_action(a)
    states: dict[str, HostState] = {}
    out: list[dict[str, Any]] = []
    for i, t in enumerate(range(0, end_s, 10)):
        o = rt.on_metrics(batch("h1", t, 0.9 if t < hot_until_s else 0.1, i + 1),
                          states.get, wall_ms=0)
        if o.state is not None:
            states["h1"] = o.state
        state = states.get("h1")
        out += [orjson.loads(v) for _, v in o.actions]
        if t % tick_s == 0 and state is not None:
            out += [orjson.loads(v) for _, v in rt.on_tick(state, "h1", T0 + t * 1000).actions]
    return out


def alert_fp() -> str:
    """The fingerprint of the host's CpuHot alert (what people act on)."""
    return str(drive([], 10, end_s=20)[0]["fingerprint"])


def escalations(out: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(a["level"], (rfc(a["at"]) - T0) // 1000) for a in out if a["action"] == "escalated"]


def rfc(text: str) -> int:
    from streams.core.timefmt import rfc3339_to_ms

    return rfc3339_to_ms(text)


class TestMessages:
    """Actions are built named and checked when read back."""

    def test_anonymous_is_refused(self) -> None:
        with pytest.raises(ActionError, match="anonymous"):
            make_action("acknowledged", FP, "  ", T0)

    @pytest.mark.parametrize(("raw", "why"), [
        (b"{", "not JSON"), (b'{"schema": "x"}', "not a rackwatch.action/v1"),
        (act("acknowledged", 0, fp="xyz"), "fingerprint"),
        (orjson.dumps({**orjson.loads(act("acknowledged", 0)), "by": ""}), "anonymous"),
        (orjson.dumps({**orjson.loads(act("acknowledged", 0)), "action": "poked"}),
         "unknown action"),
        (orjson.dumps({**orjson.loads(act("silenced", 0, fp=None,
                                          matchers=['rack="r1"'], until=ms_to_rfc3339(T0))),
                       "matchers": []}), "matchers"),
    ])
    def test_bad_actions_say_why(self, raw: bytes, why: str) -> None:
        with pytest.raises(ActionError, match=why):
            decode_action(raw)

    def test_own_actions_are_the_same_for_every_resend(self) -> None:
        """assigned/resolved depend on the episode, not on the re-send."""
        alert = {"fingerprint": FP, "status": "firing", "starts_at": ms_to_rfc3339(T0),
                 "updated_at": ms_to_rfc3339(T0), "assignee": "ops", "priority": "P1",
                 "rule": "R", "host": "h", "labels": {"rack": "r1"}}
        again = {**alert, "updated_at": ms_to_rfc3339(T0 + 3_600_000)}
        first, second = for_alert(alert), for_alert(again)
        assert first == second and first is not None and first["action"] == "assigned"
        later = for_alert({**alert, "starts_at": ms_to_rfc3339(T0 + 1)})
        assert later is not None and later["action_id"] != first["action_id"]
        assert for_alert({**alert, "assignee": None}) is None


class TestBook:
    """What the book says about an episode at a time."""

    def test_ack_resolve_reopen_timeline(self) -> None:
        book = ActionBook()
        for a in (act("acknowledged", 10), act("reopened", 20), act("resolved", 30,
                                                                    note="fixed")):
            assert book.apply(a)
        assert not book.apply(act("acknowledged", 10)), "a repeat is dropped"
        assert book.handled(FP, T0, T0 + 5_000) is None
        assert book.handled(FP, T0, T0 + 15_000) == "acknowledged"
        assert book.handled(FP, T0, T0 + 25_000) is None
        assert book.handled(FP, T0, T0 + 35_000) == "resolved"
        assert book.handled(FP, T0 + 40_000, T0 + 50_000) is None, "a later episode is new"

    def test_silence_holds_matching_alerts_until_it_ends(self) -> None:
        book = ActionBook()
        book.apply(act("silenced", 100, fp=None, matchers=['rack="r07"', 'alertname=~"Cpu.*"'],
                       until=ms_to_rfc3339(T0 + 200_000)))
        labels = {"rack": "r07", "alertname": "CpuHot"}
        assert book.silenced_until(labels, T0 + 99_000) is None
        assert book.silenced_until(labels, T0 + 150_000) == T0 + 200_000
        assert book.silenced_until(labels, T0 + 200_000) is None
        assert book.silenced_until({**labels, "rack": "r08"}, T0 + 150_000) is None
        # the same matchers again, ending now: the silence is lifted from then on
        book.apply(act("silenced", 120, fp=None, matchers=['alertname=~"Cpu.*"', 'rack="r07"'],
                       until=ms_to_rfc3339(T0 + 120_000)))
        assert book.silenced_until(labels, T0 + 110_000) == T0 + 200_000
        assert book.silenced_until(labels, T0 + 150_000) is None

    @settings(max_examples=200, deadline=None)
    @given(events=st.lists(st.tuples(st.integers(0, 100),
                                     st.sampled_from(["acknowledged", "resolved", "reopened"])),
                           max_size=8),
           at=st.integers(0, 110))
    def test_handled_is_the_last_word_before_the_time(
            self, events: list[tuple[int, str]], at: int) -> None:
        """Against a direct reading: the latest of ack/resolve/reopen up to `at` (same-time
        events in a fixed order), where resolve wins over an ack that follows it."""
        book = ActionBook()
        for i, (t, kind) in enumerate(events):
            book.apply(act(kind, t, note=str(i)))
        state = None
        for t, kind in sorted(events):
            if t > at:
                break
            if kind == "reopened":
                state = None
            elif kind == "resolved" or state is None:
                state = kind
        assert book.handled(FP, T0, T0 + at * 1000) == state


class TestRuntime:
    """The runtime assigns, escalates on the event clock, and resolves."""

    def test_assigned_once_per_episode_then_resolved(self) -> None:
        out = drive([], tick_s=10)
        kinds = [a["action"] for a in out if a["action"] != "escalated"]
        assert kinds[0] == "assigned" and kinds[-1] == "resolved"
        assert len({a["action_id"] for a in out if a["action"] == "assigned"}) == 1
        resolved = [a for a in out if a["action"] == "resolved"][-1]
        assert resolved["by"] == "rackwatch" and rfc(resolved["at"]) >= T0 + 600_000

    @settings(max_examples=12, deadline=None)
    @given(tick_s=st.sampled_from([10, 20, 30, 60, 90]))
    def test_escalations_do_not_depend_on_the_tick_cadence(self, tick_s: int) -> None:
        """Due at 1m, then every 2m while firing unacknowledged: stamped at the due time."""
        assert escalations(drive([], tick_s))[:5] == [(1, 60), (2, 180), (3, 300), (4, 420),
                                                      (5, 540)]

    def test_acknowledged_stops_escalation_and_reopen_restarts_it(self) -> None:
        fp = alert_fp()
        assert escalations(drive([act("acknowledged", 100, fp)], 10)) == [(1, 60)]
        assert escalations(drive([act("acknowledged", 30, fp)], 10)) == []
        assert escalations(drive([act("acknowledged", 30)], 10))[:1] == [(1, 60)], \
            "another alert's acknowledgement changes nothing"
        got = escalations(drive([act("acknowledged", 30, fp), act("reopened", 250, fp)], 10))
        assert got == [(1, 300), (2, 420), (3, 540)]

    def test_silenced_alerts_are_marked_and_not_escalated(self) -> None:
        silence = act("silenced", 0, fp=None, matchers=['rack="r07"'],
                      until=ms_to_rfc3339(T0 + 200_000))
        assert escalations(drive([silence], 10))[:2] == [(1, 300), (2, 420)]
        rt = Runtime(RULES, check_wall_clock=False, routing=TREE)
        rt.on_action(silence)
        o = rt.on_metrics(batch("h1", 0, 0.9, 1), lambda h: None, wall_ms=0)
        (alert,) = [orjson.loads(v) for _, v in o.alerts]
        assert alert["silenced_until"] == ms_to_rfc3339(T0 + 200_000)
        assert alert["assignee"] == "ops"

    def test_replay_reads_actions_from_its_input(self) -> None:
        """An acknowledgement line in the file stops the escalations after it."""
        lines = [batch("h1", t, 0.9, i + 1) for i, t in enumerate(range(0, 400, 10))]
        plain = [orjson.loads(x) for x in replay_lines(lines, RULES, {"actions"},
                                                       routing=TREE)]
        assert escalations(plain)[:2] == [(1, 60), (2, 180)]
        with_ack = [*lines[:10], act("acknowledged", 95, alert_fp()), *lines[10:]]
        acked = [orjson.loads(x) for x in replay_lines(with_ack, RULES, {"actions"},
                                                       routing=TREE)]
        assert escalations(acked) == [(1, 60)]


class TestReassignment:
    """`rackwatch assign` moves an episode's escalations to the new owner."""

    def test_escalations_follow_the_new_owner(self) -> None:
        fp = alert_fp()
        moved = act("assigned", 100, fp, assignee="gpu-oncall", priority="P1")
        out = [a for a in drive([moved], 10) if a["action"] == "escalated"]
        assert [(a["level"], a["assignee"], a["priority"]) for a in out[:2]] == [
            (1, "ops", "P3"), (2, "gpu-oncall", "P1")]
        book = ActionBook()
        book.apply(moved)
        assert book.owner(fp, T0, T0 + 99_000) is None
        assert book.owner(fp, T0 + 200_000, T0 + 300_000) is None, "a later episode is new"
