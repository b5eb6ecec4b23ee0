"""Property tests of the alert lifecycle over random histories (hypothesis).

A history is a time-ordered mix of samples (two series, values around a rule with
fire threshold 10 and clear threshold 5) and ticks. The properties are what the
downstream consumers rely on.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.rules.helpers import Host, point, rules, secs

FIRE, CLEAR, STALE = 10.0, 5.0, 60

RULE = """\
      - alert: A
        kind: threshold
        metric: m
        above: 10
        clear: 5
        for: {for_}s
        keep_firing_for: {kff}s
        stale_after: 60s
        repeat_interval: 30s
        keep_resolved_for: 60s
        resend_resolved_every: 20s
"""

values = st.one_of(st.sampled_from([0.0, 4.0, 5.0, 6.0, 9.9, 10.0, 10.1, 12.0]),
                   st.floats(0, 15, allow_nan=False))
event = st.one_of(
    st.tuples(st.just("b"), st.integers(1, 45), values, st.sampled_from(["a", "b"])),
    st.tuples(st.just("t"), st.integers(1, 45)),
)
histories = st.lists(event, max_size=40)
timings = st.tuples(st.sampled_from([0, 20]), st.sampled_from([0, 15]))

Event = tuple[Any, ...]


def run(history: list[Event], for_: int, kff: int, *, ticks: bool = True,
        roundtrip: bool = True) -> tuple[Host, dict[str, list[tuple[int, float]]], int]:
    """Play a history; returns the host, the samples per series and the end time."""
    host = Host(rules(RULE.format(for_=for_, kff=kff)), roundtrip=roundtrip)
    t = 0
    seen: dict[str, list[tuple[int, float]]] = {"a": [], "b": []}
    for ev in history:
        t += ev[1]
        if ev[0] == "b":
            host.batch(t, point("m", ev[2], t, {"s": ev[3]}))
            seen[ev[3]].append((t, ev[2]))
        elif ticks:
            host.tick(t)
    return host, seen, t


def transitions(msgs: list[dict[str, Any]]) -> list[tuple[str, str, Any, Any]]:
    """First firing and first resolve of each episode: re-sends removed."""
    out: list[tuple[str, str, Any, Any]] = []
    open_: dict[str, Any] = {}
    closed: set[tuple[str, Any]] = set()
    for m in msgs:
        fp, start = m["fingerprint"], m["starts_at"]
        if m["status"] == "firing":
            if open_.get(fp) != start:
                out.append((fp, "firing", start, m["updated_at"]))
            open_[fp] = start
        elif (fp, start) not in closed:
            closed.add((fp, start))
            open_.pop(fp, None)
            out.append((fp, "resolved", start, m["ends_at"]))
    return out


@settings(max_examples=150, deadline=None)
@given(history=histories, timing=timings)
def test_episodes_are_well_formed(history: list[Event], timing: tuple[int, int]) -> None:
    """Per fingerprint: no new episode while one is open, resolves close the open one,
    re-sends repeat it exactly, and times never run backwards."""
    host, _, _ = run(history, *timing)
    open_: dict[str, dict[str, Any]] = {}
    last_closed: dict[str, dict[str, Any]] = {}
    for m in host.sent:
        fp = m["fingerprint"]
        if m["status"] == "firing":
            assert m["ends_at"] is None
            cur = open_.get(fp)
            if cur is not None:
                assert cur["starts_at"] == m["starts_at"], "new episode while one is open"
                assert cur["updated_at"] == m["updated_at"], "a re-send repeats updated_at"
            else:
                prev = last_closed.get(fp)
                assert prev is None or secs(prev["ends_at"]) <= secs(m["starts_at"])  # type: ignore[operator]
                assert secs(m["updated_at"]) >= secs(m["starts_at"])  # type: ignore[operator]
            open_[fp] = m
        else:
            cur = open_.pop(fp, None)
            ref = cur if cur is not None else last_closed.get(fp)
            assert ref is not None, "resolve of an unknown episode"
            assert ref["starts_at"] == m["starts_at"]
            assert m["updated_at"] == m["ends_at"]
            assert secs(m["ends_at"]) >= secs(m["starts_at"])  # type: ignore[operator]
            if cur is None:
                assert last_closed[fp]["ends_at"] == m["ends_at"], "a re-sent resolve differs"
            last_closed[fp] = m


@settings(max_examples=150, deadline=None)
@given(history=histories, timing=timings)
def test_no_flapping_beyond_hysteresis(history: list[Event], timing: tuple[int, int]) -> None:
    """An episode starts only on a value above the fire threshold and ends only on a
    value at or below the clear threshold (or when its series went stale)."""
    host, seen, _ = run(history, *timing)
    by_fp: dict[str, str] = {}
    for m in host.sent:
        by_fp[m["fingerprint"]] = m["labels"]["s"]
    for fp, status, _start, when in transitions(host.sent):
        samples = seen[by_fp[fp]]
        t = secs(when)
        assert t is not None
        upto = [(ts, v) for ts, v in samples if ts <= t]
        assert upto, "a transition before any sample"
        if status == "firing":
            assert upto[-1][1] > FIRE
        else:
            earlier = [ts for ts, _ in samples if ts < t]
            assert upto[-1][1] <= CLEAR or (earlier and t == earlier[-1] + STALE)


@settings(max_examples=100, deadline=None)
@given(history=histories, timing=timings)
def test_firing_is_resolved_or_still_firing(history: list[Event], timing: tuple[int, int]) -> None:
    """An open episode is backed by a firing entry in the state, and time alone
    (samples stop) resolves every one of them and then forgets them."""
    host, _, end = run(history, *timing)
    open_eps: dict[str, Any] = {}
    for fp, status, start, _ in transitions(host.sent):
        if status == "firing":
            open_eps[fp] = start
        elif open_eps.get(fp) == start:
            del open_eps[fp]
    firing = {e["fp"] for rs in host.state.get("a", {}).values() for e in rs.values()
              if e.get("c", {}).get("s") == "f" and e["c"].get("an") is not None}
    assert set(open_eps) == firing
    before = len(host.sent)
    host.tick(end + 10 * STALE)
    closed = {m["fingerprint"] for m in host.sent[before:] if m["status"] == "resolved"}
    assert set(open_eps) <= closed
    host.tick(end + 100 * STALE)
    assert host.state.get("a", {}) == {}


@settings(max_examples=100, deadline=None)
@given(history=histories, timing=timings)
def test_transitions_do_not_depend_on_tick_cadence(history: list[Event],
                                                   timing: tuple[int, int]) -> None:
    """Firing and resolve times come from the data: ticks only bring them forward."""
    ticked, _, end = run(history, *timing)
    ticked.tick(end + 10 * STALE)
    bare, _, _ = run(history, *timing, ticks=False)
    bare.tick(end + 10 * STALE)
    def per_fp(msgs: list[dict[str, Any]]) -> list[tuple[str, str, Any, Any]]:
        return sorted(transitions(msgs), key=lambda x: x[0])  # stable: keeps each fp's order

    assert per_fp(ticked.sent) == per_fp(bare.sent)


@settings(max_examples=100, deadline=None)
@given(history=histories, timing=timings)
def test_state_round_trip_changes_nothing(history: list[Event], timing: tuple[int, int]) -> None:
    """Storing the state as JSON between every step gives identical messages."""
    a, _, _ = run(history, *timing, roundtrip=True)
    b, _, _ = run(history, *timing, roundtrip=False)
    assert a.sent == b.sent
    assert a.state == b.state


@settings(max_examples=50, deadline=None)
@given(history=histories)
def test_fingerprints_are_stable(history: list[Event]) -> None:
    """One fingerprint per series, the same in every run and engine, distinct per series."""
    a, _, _ = run(history, 0, 0)
    b, _, _ = run(history, 20, 0)
    fps_a = {m["labels"]["s"]: m["fingerprint"] for m in a.sent}
    fps_b = {m["labels"]["s"]: m["fingerprint"] for m in b.sent}
    for m in a.sent:
        assert fps_a[m["labels"]["s"]] == m["fingerprint"]
    for s in fps_a.keys() & fps_b.keys():
        assert fps_a[s] == fps_b[s]
    assert len(set(fps_a.values())) == len(fps_a)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 45), st.floats(5.0001, 10.0)), max_size=30))
def test_values_inside_the_band_change_nothing(steps: list[tuple[int, float]]) -> None:
    """Values between clear and fire thresholds never start nor end anything."""
    host = Host(rules(RULE.format(for_=0, kff=0)))
    t = 0
    for dt, v in steps:
        t += dt
        host.batch(t, point("m", v, t))
    assert host.sent == []
    assert host.state.get("a", {}) == {}


LOG_RULES = """\
      - alert: Count
        kind: log_count
        match: {fault_class: '*'}
        by: [fault_class]
        window: 60s
        at_least: 3
        clear: 1
        for: 15s
        keep_resolved_for: 0s
      - alert: Burst
        kind: log_burst
        match: {severity: error}
        window: 60s
        baseline: 5m
        factor: 3
        min_count: 4
        warmup: 30s
        keep_resolved_for: 0s
"""
log_event = st.one_of(
    st.tuples(st.just("r"), st.integers(0, 8), st.sampled_from(["x", "x", "y", None]),
              st.sampled_from(["error", "error", "info"])),
    st.tuples(st.just("t"), st.integers(1, 60)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(log_event, max_size=80))
def test_log_transitions_do_not_depend_on_tick_cadence(history: list[Event]) -> None:
    """Log windows slide on event time: ticks do not move firing or resolve times."""
    from tests.unit.rules.helpers import log_record

    def play(ticks: bool) -> list[tuple[str, str, Any, Any]]:
        host = Host(rules(LOG_RULES))
        t = 0
        for ev in history:
            t += ev[1]
            if ev[0] == "r":
                host.logs(t, [log_record(t, fault_class=ev[2], severity=ev[3])])
            elif ticks:
                host.tick(t)
        host.tick(t + 3600)
        return sorted(transitions(host.sent), key=lambda x: x[0])

    assert play(True) == play(False)
