"""The engine as a dispatcher: the kind registry, the tick phases, batches of joined points."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.rules.kinds import CONDITION_KINDS
from streams.rules.model import KINDS
from tests.unit.rules.helpers import Host, log_record, point, rules, summary


class TestRegistry:
    """Every kind of the rule language has a module, and only those."""

    def test_registry_covers_the_language(self) -> None:
        """The registry names the kinds the parser accepts, in their documented order."""
        assert tuple(CONDITION_KINDS) == KINDS
        assert all(k.name == name for name, k in CONDITION_KINDS.items())

    def test_timeless_kinds_never_go_stale(self) -> None:
        """Absence and log windows are functions of time itself: no stale_after."""
        timeless = {name for name, k in CONDITION_KINDS.items() if not k.goes_stale}
        assert timeless == {"absent", "log_count", "log_burst"}
        for kind, body in (("absent", "duration: 1m"),
                           ("log_count", "window: 1m\n        at_least: 1"),
                           ("threshold", "metric: m\n        above: 1")):
            rule = rules(f"      - alert: A\n        kind: {kind}\n        {body}\n").rules[0]
            assert (rule.stale_ms == 0) is (kind in timeless)


# listed against the order of the phases: the file's order must not decide
PHASES = """\
      - alert: Logs
        kind: log_count
        match: {fault_class: '*'}
        window: 60s
        at_least: 1
      - alert: Gone
        kind: absent
        metric: m
        duration: 1m
      - alert: Silent
        kind: absent
        duration: 1m
"""


class TestTickPhases:
    """A tick's messages of equal time come out in phase order."""

    def test_host_then_series_then_log_windows(self) -> None:
        """Host absence, then series absence, then log windows, whatever the rule order."""
        host = Host(rules(PHASES))
        host.batch(0, point("m", 1, 0))
        host.logs(0, [log_record(0, fault_class="x")])
        assert summary(host.sent) == [("Logs", "firing", 0, 0)]
        out = host.tick(100)
        assert summary(out) == [("Silent", "firing", 60, 60), ("Gone", "firing", 60, 60),
                                ("Logs", "resolved", 0, 60)]


SUMS = """\
      - alert: Io
        kind: threshold
        sum: [r, w]
        above: 100
        join: [dev]
      - alert: Slow
        kind: all
        conditions:
          - {name: busy, metric: b, above: 0.5}
          - {name: tput, sum: [r, w], below: 150}
"""

series = st.lists(st.tuples(st.sampled_from(["sda", "sdb", "sdc"]), st.floats(0, 1),
                            st.floats(0, 100), st.floats(0, 100)),
                  max_size=3, unique_by=lambda x: x[0])


def per_alert(msgs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each alert's messages in the order sent."""
    out: dict[str, list[dict[str, Any]]] = {}
    for m in msgs:
        out.setdefault(m["fingerprint"], []).append(m)
    return out


class TestJoinedBatches:
    """Rules over several points are judged once the batch's points are all in."""

    @settings(max_examples=60, deadline=None)
    @given(steps=st.lists(series, min_size=1, max_size=5), seed=st.integers(0, 2**16))
    def test_point_order_within_a_batch_does_not_matter(
            self, steps: list[list[tuple[str, float, float, float]]], seed: int) -> None:
        """Shuffling a batch's points changes no message of a sum or an `all` rule (the
        order of two rules' messages of equal time follows the points, as it always did)."""
        ordered, shuffled = Host(rules(SUMS)), Host(rules(SUMS))
        rng = random.Random(seed)
        for i, batch in enumerate(steps):
            t = 10 * i
            pts = [p for dev, b, r, w in batch
                   for p in (point("b", b, t, {"dev": dev}), point("r", r, t, {"dev": dev}),
                             point("w", w, t, {"dev": dev}))]
            ordered.batch(t, *pts)
            rng.shuffle(pts)
            shuffled.batch(t, *pts)
        assert per_alert(shuffled.sent) == per_alert(ordered.sent)
        assert shuffled.state == ordered.state

    def test_batch_scratch_is_not_kept(self) -> None:
        """What a batch gathered is judged and dropped: the next batch starts empty."""
        host = Host(rules(SUMS))
        host.batch(0, point("r", 90, 0, {"dev": "sda"}), point("w", 20, 0, {"dev": "sda"}))
        host.batch(10, point("r", 90, 10, {"dev": "sda"}))  # half a sum: no data
        assert summary(host.sent) == [("Io", "firing", 0, 0)]
        assert "batch" not in host.state
