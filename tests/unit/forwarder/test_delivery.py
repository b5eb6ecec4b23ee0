"""One target's queue: order, at-least-once offsets, retries, halving, rate, refresh."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from forwarder.delivery import DeliveryQueue, Policy


def alert(fp: str, status: str = "firing", n: int = 0) -> dict[str, Any]:
    return {"schema": "rackwatch.alert/v1", "fingerprint": fp, "status": status,
            "starts_at": "2026-01-01T00:00:00.000Z", "n": n}


def queue(**kw: Any) -> DeliveryQueue:
    return DeliveryQueue(Policy(**{"rate": 1000.0, **kw}), random.Random(1))


class TestOrderAndOffsets:
    """Nothing is committed before it is delivered; order is kept."""

    def test_offsets_move_only_with_a_2xx(self) -> None:
        """A failed request commits nothing; its retry, once taken, commits it all."""
        q = queue(max_batch=10)
        for i in range(3):
            q.add(alert(f"a{i}"), 0, 100 + i)
        q.add(alert("b"), 1, 7)
        b = q.next_batch(0.0)
        assert b is not None and len(b.alerts) == 4
        q.failed(b, 0.0)
        assert q.commit_due() == {}
        assert q.next_batch(0.0) is None  # waiting out the backoff
        b = q.next_batch(10.0)
        assert b is not None and [a["fingerprint"] for a in b.alerts] == ["a0", "a1", "a2", "b"]
        q.delivered(b, 10.0)
        assert q.commit_due() == {0: 103, 1: 8}
        q.committed({0: 103, 1: 8})
        assert q.commit_due() == {}

    def test_one_request_at_a_time_in_order(self) -> None:
        """No second request while one is in flight; the next starts where it ended."""
        q = queue(max_batch=2)
        for i in range(5):
            q.add(alert(f"a{i}"), 0, i)
        first = q.next_batch(0.0)
        assert first is not None and q.next_batch(0.0) is None
        q.delivered(first, 0.0)
        second = q.next_batch(0.0)
        assert second is not None and [a["fingerprint"] for a in second.alerts] == ["a2", "a3"]

    def test_latest_state_per_alert_in_a_request(self) -> None:
        """Firing then resolved of one alert in one batch: only resolved is sent, and
        both offsets are covered."""
        q = queue()
        q.add(alert("x"), 0, 1)
        q.add(alert("y"), 0, 2)
        q.add(alert("x", "resolved"), 0, 3)
        b = q.next_batch(0.0)
        assert b is not None
        assert [(a["fingerprint"], a["status"]) for a in b.alerts] == [("y", "firing"),
                                                                        ("x", "resolved")]
        q.delivered(b, 0.0)
        assert q.commit_due() == {0: 4}

    def test_a_webhook_gets_every_state_change(self) -> None:
        """Without coalescing, firing and resolved of one alert both go out, in order."""
        q = queue(coalesce=False, resend_s=None)
        q.add(alert("x"), 0, 1)
        q.add(alert("x", "resolved"), 0, 2)
        b = q.next_batch(0.0)
        assert b is not None and [a["status"] for a in b.alerts] == ["firing", "resolved"]

    def test_a_webhook_gets_no_repeated_state(self) -> None:
        """The worker's re-sends of a state (same status, start, end) reach a webhook
        once; their offsets still count. A refreshing target keeps every message."""
        q = queue(coalesce=False, resend_s=None)
        resolved = {**alert("x", "resolved"), "ends_at": "2026-01-01T00:05:00.000Z"}
        for off, a in enumerate([alert("x"), alert("x"), resolved, resolved, alert("y")]):
            q.add(a, 0, off)
        b = q.next_batch(0.0)
        assert b is not None
        assert [(a["fingerprint"], a["status"]) for a in b.alerts] == [
            ("x", "firing"), ("x", "resolved"), ("y", "firing")]
        q.delivered(b, 0.0)
        assert q.commit_due() == {0: 5}
        again = {**alert("x"), "starts_at": "2026-01-01T01:00:00.000Z"}  # a new episode
        q.add(again, 0, 5)
        b = q.next_batch(1.0)
        assert b is not None and b.alerts == [again]
        am = queue(coalesce=False, resend_s=60.0)
        for off in range(2):
            am.add(resolved, 0, off)
        b = am.next_batch(0.0)
        assert b is not None and len(b.alerts) == 2

    def test_messages_to_skip_still_move_the_offset(self) -> None:
        """A message that is not an alert is covered by the request around it."""
        q = queue()
        q.add(None, 0, 5)
        b = q.next_batch(0.0)
        assert b is not None and b.alerts == []
        q.delivered(b, 0.0)
        assert q.commit_due() == {0: 6}


class TestRetries:
    """Backoff with jitter, and refused batches halved to the bad alert."""

    def test_backoff_doubles_with_jitter_up_to_the_cap(self) -> None:
        """initial * 2**n, at most max_s, times [0.5, 1]."""
        q = queue(retry_initial_s=1.0, retry_max_s=8.0)
        q.add(alert("a"), 0, 0)
        delays = []
        now = 0.0
        for _ in range(6):
            b = q.next_batch(now)
            assert b is not None
            delays.append(q.failed(b, now))
            now = q.waiting_until
        caps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
        assert all(c / 2 <= d <= c for d, c in zip(delays, caps, strict=True)), delays

    def test_a_refused_batch_is_halved_until_the_bad_alert_is_dropped(self) -> None:
        """Eight alerts, one refused: the other seven get through, the bad one is dropped
        and its offset committed."""
        q = queue(max_batch=8)
        for i in range(8):
            q.add(alert(f"a{i}"), 0, i)
        delivered: list[str] = []
        dropped: list[str] = []
        for _ in range(20):
            b = q.next_batch(0.0)
            if b is None:
                break
            if any(a["fingerprint"] == "a5" for a in b.alerts):
                if len(b.alerts) == 1:
                    dropped.append("a5")
                q.failed(b, 0.0, refused=True)
            else:
                delivered += [a["fingerprint"] for a in b.alerts]
                q.delivered(b, 0.0)
        assert dropped == ["a5"] and sorted(delivered) == [f"a{i}" for i in range(8) if i != 5]
        assert delivered == sorted(delivered)  # still in order
        assert q.commit_due() == {0: 8}


class TestRate:
    """At most `rate` requests per second."""

    def test_token_bucket(self) -> None:
        """Two per second: two at once, then one every half second."""
        q = DeliveryQueue(Policy(rate=2.0, max_batch=1), random.Random(1))
        for i in range(10):
            q.add(alert(f"a{i}"), 0, i)
        sent = []
        t = 0.0
        while t < 2.0:
            b = q.next_batch(t)
            if b is not None:
                sent.append(t)
                q.delivered(b, t)
            else:
                t = round(t + 0.1, 1)
        assert sent[:2] == [0.0, 0.0] and len(sent) == 2 + 3  # + 2/s for 1.9 s, rounded


class TestRefresh:
    """Firing alerts are re-sent to Alertmanager; resolved ones are not."""

    def test_firing_alerts_are_resent_every_interval(self) -> None:
        """Delivered firing: re-sent after resend_s; resolved: never again."""
        q = queue(resend_s=60.0)
        q.add(alert("hot"), 0, 0)
        q.add(alert("gone", "resolved"), 0, 1)
        b = q.next_batch(0.0)
        assert b is not None
        q.delivered(b, 0.0)
        assert q.refresh(30.0) == 0
        assert q.refresh(60.0) == 1
        r = q.next_batch(60.0)
        assert r is not None and r.refreshes == 1 and r.alerts[0]["fingerprint"] == "hot"
        q.delivered(r, 60.0)
        assert q.commit_due() == {0: 2}  # a re-send moves no offset
        assert q.refresh(100.0) == 0 and q.refresh(120.0) == 1

    def test_no_resend_while_a_newer_state_is_queued(self) -> None:
        """A queued resolution is never overtaken by a re-send of the firing state."""
        q = queue(resend_s=60.0)
        q.add(alert("x"), 0, 0)
        b = q.next_batch(0.0)
        assert b is not None
        q.delivered(b, 0.0)
        q.add(alert("x", "resolved"), 0, 1)
        assert q.refresh(120.0) == 0
        b = q.next_batch(120.0)
        assert b is not None and b.alerts[0]["status"] == "resolved"
        q.delivered(b, 120.0)
        assert q.firing == 0 and q.refresh(500.0) == 0

    def test_rebuilt_firing_alerts_go_out_at_once(self) -> None:
        """Alerts seen before the committed offset (at start) are sent at the first
        refresh; a webhook target (no resend) never re-sends."""
        q = queue(resend_s=60.0)
        q.observe(alert("old"), 3)
        q.observe(alert("cured"), 3)
        q.observe(alert("cured", "resolved"), 3)
        assert q.refresh(0.0) == 1
        hook = queue(resend_s=None)
        hook.observe(alert("old"), 3)
        assert hook.refresh(0.0) == 0

    def test_revoked_partitions_are_forgotten(self) -> None:
        """What was read from a partition that moved is left to its new owner."""
        q = queue(resend_s=60.0)
        q.observe(alert("p3"), 3)
        q.add(alert("p4"), 4, 0)
        assert q.discard([3, 4]) == 1
        assert q.firing == 0 and q.queued == 0 and q.refresh(0.0) == 0


class TestProperties:
    """Whatever the failures, each offset is committed only after delivery, in order."""

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["firing", "resolved"]),
                              st.integers(0, 4)), min_size=1, max_size=40),
           st.lists(st.sampled_from(["ok", "fail", "refuse"]), min_size=1, max_size=80),
           st.integers(1, 6))
    def test_at_least_once_in_order(self, msgs: list[tuple[int, str, int]],
                                    outcomes: list[str], max_batch: int) -> None:
        """Every alert whose offset is committed was sent (or refused alone), and each
        alert's states reach the target in the order they were read."""
        q = queue(max_batch=max_batch, retry_initial_s=0.001, retry_max_s=0.001)
        offsets = {0: 0, 1: 0, 2: 0}
        read: list[tuple[int, int, str, str]] = []
        for p, status, k in msgs:
            q.add(alert(f"f{k}", status, len(read)), p, offsets[p])
            read.append((p, offsets[p], f"f{k}", status))
            offsets[p] += 1
        seen: dict[str, list[int]] = {}
        refused: set[int] = set()
        t = 0.0
        for outcome in outcomes * 3:
            t += 1.0
            b = q.next_batch(t)
            if b is None:
                continue
            if outcome == "ok" or not b.alerts:
                for a in b.alerts:
                    seen.setdefault(a["fingerprint"], []).append(a["n"])
                q.delivered(b, t)
            elif outcome == "refuse" and len(b.alerts) == 1:
                refused.add(b.alerts[0]["n"])
                q.failed(b, t, refused=True)
            else:
                q.failed(b, t, refused=outcome == "refuse")
        done = q.commit_due()
        sent = {n for ns in seen.values() for n in ns} | refused
        for n, (p, off, fp, _) in enumerate(read):
            if off < done.get(p, 0):
                # covered: it, or a later state of its alert in the same request, went out
                later = [m for m in sent if m >= n and read[m][2] == fp]
                assert later, (n, read[n])
        for ns in seen.values():
            assert ns == sorted(ns)
