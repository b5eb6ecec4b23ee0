"""One target's deliveries: order, batches, rate, retries and what may be committed.

No I/O and no clock of its own: the service hands in the time (`now`, seconds) and a
random source (for jitter), so every path here is stepped through in unit tests.

The contract, per target:
- at least once: an alert message's offset may be committed only once a request
  carrying it got a 2xx (or the target refused it for good, counted);
- in order: one request in flight, first in first out; a failed request is tried again
  before anything after it, so a resolution never overtakes its firing;
- to Alertmanager, which keeps only an alert's latest state, a request carries only the
  latest state of each alert in it (`coalesce`); a webhook gets every state change, and
  only changes: the worker's re-sends of a state (repeat_interval, resend_resolved_every)
  carry the same status, start and end, and are counted through without a request;
- retries wait `initial * 2**n` seconds, at most `max_s`, times a random factor in
  [0.5, 1] (so targets that failed together do not return in step);
- a refused batch (HTTP 400, 413, 422) is halved until the alert it cannot take is
  alone, which is then dropped and counted (one bad alert must not block a target);
- at most `rate` requests per second (a token bucket holding up to one second's worth);
- firing alerts of a refreshing target (Alertmanager) are sent again every
  `resend_s`, unless a newer state of theirs is queued: Alertmanager then keeps them
  active, and resolves them by itself if rackwatch goes away (their endsAt runs out).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STATES_KEPT", "Batch", "DeliveryQueue", "Item", "Policy"]

# Fingerprints whose last state a state-changes-only target remembers (to drop re-sends).
STATES_KEPT = 100_000


@dataclass(frozen=True, slots=True)
class Policy:
    """How one target is fed (from `[forwarder]`)."""

    max_batch: int = 64
    rate: float = 5.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    resend_s: float | None = 60.0  # None: the target gets state changes only (webhooks)
    coalesce: bool = True  # send only the latest state of an alert within one request


@dataclass(slots=True)
class Item:
    """An alert to send (None: a message that is not an alert, only its offset counts);
    `offset` is None for a re-send of a firing alert."""

    alert: Mapping[str, Any] | None
    partition: int | None = None
    offset: int | None = None


@dataclass(slots=True)
class Batch:
    """One request's worth: the items it covers and the alerts it sends."""

    items: list[Item]
    alerts: list[Mapping[str, Any]]
    refreshes: int = 0  # how many of the alerts are re-sends of firing alerts


@dataclass(slots=True)
class _Firing:
    alert: Mapping[str, Any]
    partition: int | None
    sent_at: float | None  # None: never sent by this process (seen while rebuilding)


@dataclass
class DeliveryQueue:
    """The queue of one target (see the module docstring for the contract)."""

    policy: Policy = field(default_factory=Policy)
    rng: random.Random = field(default_factory=random.Random)
    _queue: deque[Item] = field(default_factory=deque)
    _queued: dict[str, int] = field(default_factory=dict)  # fingerprint -> queued items
    _firing: dict[str, _Firing] = field(default_factory=dict)
    _inflight: Batch | None = None
    _retry_at: float = 0.0
    _failures: int = 0
    _limit: int = 0  # batch size while halving a refused batch (0: policy.max_batch)
    _tokens: float = 0.0
    _token_at: float | None = None
    _states: dict[str, tuple[Any, Any, Any]] = field(default_factory=dict)  # fp -> last
    _done: dict[int, int] = field(default_factory=dict)  # partition -> next offset
    _committed: dict[int, int] = field(default_factory=dict)

    # --- in ---------------------------------------------------------------------------
    def add(self, alert: Mapping[str, Any] | None, partition: int, offset: int) -> None:
        """An alert message (or, as None, one to skip) read at (partition, offset)."""
        if alert is not None and self.policy.resend_s is None and self._repeats(alert):
            alert = None  # the same state again: its offset counts, nothing is sent
        self._queue.append(Item(alert, partition, offset))
        if alert is not None:
            fp = str(alert.get("fingerprint"))
            self._queued[fp] = self._queued.get(fp, 0) + 1

    def _repeats(self, alert: Mapping[str, Any]) -> bool:
        """Whether `alert` repeats the last state queued for its fingerprint (remembered
        for the most recent STATES_KEPT fingerprints)."""
        fp = str(alert.get("fingerprint"))
        state = (alert.get("status"), alert.get("starts_at"), alert.get("ends_at"))
        if self._states.pop(fp, None) == state:
            self._states[fp] = state
            return True
        self._states[fp] = state
        if len(self._states) > STATES_KEPT:
            del self._states[next(iter(self._states))]
        return False

    def observe(self, alert: Mapping[str, Any], partition: int) -> None:
        """An alert read from before the committed offset (rebuilding the firing set at
        start): nothing is queued; a refreshing target sends it at the next refresh."""
        self._note(alert, partition, None)

    def refresh(self, now: float) -> int:
        """Queue a re-send of every firing alert due for one; how many were queued."""
        resend = self.policy.resend_s
        if resend is None:
            return 0
        due = [f for fp, f in self._firing.items() if fp not in self._queued
               and (f.sent_at is None or now - f.sent_at >= resend)]
        for f in due:
            self._queue.append(Item(f.alert))
            fp = str(f.alert.get("fingerprint"))
            self._queued[fp] = self._queued.get(fp, 0) + 1
            f.sent_at = now  # not again before this send is through or given up
        return len(due)

    def discard(self, partitions: Iterable[int]) -> int:
        """Forget what was read from partitions this process no longer owns."""
        gone = set(partitions)
        keep = deque(i for i in self._queue if i.partition not in gone)
        dropped = len(self._queue) - len(keep)
        self._queue = keep
        self._queued = {}
        for i in keep:
            if i.alert is not None:
                fp = str(i.alert.get("fingerprint"))
                self._queued[fp] = self._queued.get(fp, 0) + 1
        self._firing = {fp: f for fp, f in self._firing.items() if f.partition not in gone}
        for p in gone:
            self._done.pop(p, None)
            self._committed.pop(p, None)
        return dropped

    # --- out --------------------------------------------------------------------------
    def _take_token(self, now: float) -> bool:
        rate = self.policy.rate
        cap = max(1.0, rate)
        if self._token_at is None:
            self._tokens = cap
        else:
            self._tokens = min(cap, self._tokens + (now - self._token_at) * rate)
        self._token_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def next_batch(self, now: float) -> Batch | None:
        """The next request to make now, if one is due (None: wait)."""
        if self._inflight is not None or not self._queue or now < self._retry_at:
            return None
        limit = self._limit or self.policy.max_batch
        items: list[Item] = []
        sending = 0
        while self._queue and (self._queue[0].alert is None or sending < limit):
            item = self._queue.popleft()
            items.append(item)
            sending += item.alert is not None
        chosen = [i for i in items if i.alert is not None]
        if self.policy.coalesce:
            latest: dict[str, Item] = {}
            for item in chosen:
                fp = str(item.alert.get("fingerprint"))  # type: ignore[union-attr]
                latest.pop(fp, None)  # keep the order of the last states
                latest[fp] = item
            chosen = list(latest.values())
        if chosen and not self._take_token(now):
            self._queue.extendleft(reversed(items))
            return None
        batch = Batch(items, [i.alert for i in chosen if i.alert is not None],
                      refreshes=sum(1 for i in chosen if i.offset is None))
        self._inflight = batch
        return batch

    def delivered(self, batch: Batch, now: float) -> None:
        """The target took the batch (2xx): its offsets may be committed."""
        self._settle(batch)
        self._failures = 0
        self._retry_at = 0.0
        self._limit = 0
        for item in batch.items:
            if item.alert is not None:
                self._note(item.alert, item.partition, now)

    def failed(self, batch: Batch, now: float, *, refused: bool = False) -> float:
        """The request failed: retried later (the returned delay), or, when the target
        `refused` it (bad request), halved until the alert it refuses is alone and then
        dropped (delay 0)."""
        assert batch is self._inflight
        self._inflight = None
        if refused and len(batch.alerts) <= 1:
            self._settle(batch, inflight=False)
            self._limit = 0
            return 0.0
        self._queue.extendleft(reversed(batch.items))
        if refused:
            self._limit = max(1, len(batch.alerts) // 2)
            return 0.0
        self._failures += 1
        p = self.policy
        delay: float = min(p.retry_max_s, p.retry_initial_s * 2.0 ** (self._failures - 1))
        delay *= self.rng.uniform(0.5, 1.0)
        self._retry_at = now + delay
        return delay

    def _settle(self, batch: Batch, *, inflight: bool = True) -> None:
        if inflight:
            assert batch is self._inflight
            self._inflight = None
        for item in batch.items:
            if item.alert is not None:
                fp = str(item.alert.get("fingerprint"))
                n = self._queued.get(fp, 0) - 1
                if n > 0:
                    self._queued[fp] = n
                else:
                    self._queued.pop(fp, None)
            if item.partition is not None and item.offset is not None:
                self._done[item.partition] = max(self._done.get(item.partition, 0),
                                                 item.offset + 1)

    def _note(self, alert: Mapping[str, Any], partition: int | None,
              sent_at: float | None) -> None:
        fp = str(alert.get("fingerprint"))
        if alert.get("status") == "firing":
            before = self._firing.get(fp)
            if partition is None and before is not None:  # a re-send: same partition
                partition = before.partition
            self._firing[fp] = _Firing(alert, partition, sent_at)
        else:
            self._firing.pop(fp, None)

    # --- offsets ----------------------------------------------------------------------
    def commit_due(self) -> dict[int, int]:
        """Per partition, the next offset to commit, where it moved since the last."""
        return {p: o for p, o in self._done.items() if self._committed.get(p) != o}

    def committed(self, offsets: Mapping[int, int]) -> None:
        self._committed.update(offsets)

    # --- looking in -------------------------------------------------------------------
    @property
    def queued(self) -> int:
        return len(self._queue) + (len(self._inflight.items) if self._inflight else 0)

    @property
    def firing(self) -> int:
        return len(self._firing)

    @property
    def waiting_until(self) -> float:
        """When a failed request may be tried again (0: now)."""
        return self._retry_at

    def next_offset(self, partition: int) -> int | None:
        """The next offset of `partition` not yet delivered (None: none delivered yet)."""
        return self._done.get(partition)
