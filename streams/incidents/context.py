"""Host contexts rebuilt from history, for training the fault model offline.

In the stream the worker hands the correlator a host context built from the host's
state (`streams.core.metrics.host_context`: per windowed series the last value, the
EWMA and the closed one-minute windows; recent fault counts). Training must see the
very same thing, or the model learns from features the stream never shows it. So
this does not imitate the worker: it runs the worker's own metric core over the
history (with no rules) and asks it for the context, sample for sample the same.

Only the series the features read are fed through (FEATURE_SERIES), which keeps
training fast; a series the worker does not window never reaches a context, here as
in the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streams.core.metrics import (
    DEFAULT_WINDOWED,
    FAULT_MEMORY_MS,
    HostState,
    MetricsCore,
    host_context,
    note_fault,
)
from streams.core.normalise import canonical_name
from streams.rules import RuleEngine
from streams.rules.model import RuleSet

__all__ = ["FEATURE_SERIES", "ContextFolder"]

log = logging.getLogger(__name__)

# The series the features read (streams.incidents.features); others are not fed.
FEATURE_SERIES = frozenset({
    "gpu.temperature", "gpu.utilization", "gpu.power_watts", "gpu.power_limit_watts",
    "gpu.throttle.thermal", "gpu.throttle.power", "gpu.sm_clock_mhz",
    "gpu.ecc.sbe_volatile", "gpu.ecc.dbe_volatile", "gpu.ecc.sbe_per_s", "gpu.ecc.dbe_per_s",
    "gpu.nvlink_errors_per_s", "gpu.pcie_replay_per_s", "cpu.usage", "cpu.iowait",
    "mem.usage", "net.rx_errors_per_s", "net.tx_errors_per_s", "net.rx_drops_per_s",
    "net.tx_drops_per_s",
})

_NO_RULES = RuleSet(rules=(), inhibit_rules=(), digest="none", source="<training>")


class ContextFolder:
    """Per-host worker state fed from history; `context(host)` is what the worker sends."""

    def __init__(self, *, windowed: tuple[str, ...] = DEFAULT_WINDOWED,
                 fault_window_ms: int = FAULT_MEMORY_MS) -> None:
        self.core = MetricsCore(RuleEngine(_NO_RULES), windowed=windowed)
        self.fault_window_ms = fault_window_ms
        self._faults: dict[str, list[tuple[int, str]]] = {}
        self.states: dict[str, HostState] = {}
        self._seen: dict[str, int] = {}
        self._seq: dict[str, int] = {}

    @property
    def hosts(self) -> list[str]:
        return sorted(self.states)

    def add_batch(self, batch: Mapping[str, Any]) -> None:
        """Fold a `rackwatch.metrics/v1` batch (a missing seq or labels is made up)."""
        host = batch.get("host")
        ts = batch.get("ts")
        if not isinstance(host, str) or not isinstance(ts, int):
            return
        samples = [s for s in batch.get("samples") or ()
                   if isinstance(s, dict)
                   and canonical_name(str(s.get("name", ""))).name in FEATURE_SERIES
                   and isinstance(s.get("value"), int | float)
                   and not isinstance(s.get("value"), bool)]
        seq = batch.get("seq")
        if not isinstance(seq, int):
            seq = self._seq[host] = self._seq.get(host, 0) + 1
        labels = batch.get("labels")
        clean: dict[str, Any] = {"schema": "rackwatch.metrics/v1", "host": host, "ts": ts,
                                 "seq": seq, "samples": samples,
                                 "labels": dict(labels) if isinstance(labels, dict) else {}}
        state, _ = self.core.process(self.states.get(host), clean)  # type: ignore[arg-type]
        self.states[host] = state
        self._seen[host] = max(self._seen.get(host, ts), ts)

    def add_fault(self, host: str, ts: int, fault_class: str) -> None:
        """Remember a classified fault record of a host, as the worker does."""
        st = self.states.get(host)
        if st is None:
            st = self.states[host] = HostState()
        note_fault(st, fault_class, ts)
        times = self._faults.setdefault(host, [])
        times.append((ts, fault_class))
        if len(times) > 512:
            del times[:256]

    def last_seen(self, host: str) -> int | None:
        """Event time of the host's newest metric batch (None: never reported metrics)."""
        return self._seen.get(host)

    def context(self, host: str, now_ms: int | None = None) -> dict[str, Any]:
        """The host context as the worker would build it now.

        With `now_ms`, the fault counts are those of the `fault_window_ms` before it, as
        the worker counts them for the event it is explaining (this folder also keeps
        faults older than the worker's state does, hence its own count).
        """
        st = self.states.get(host)
        if st is None:
            return {"series": {}, "recent_faults": {}}
        ctx = host_context(st)
        if now_ms is not None:
            recent: dict[str, int] = {}
            for ts, cls in self._faults.get(host, ()):
                if now_ms - self.fault_window_ms < ts <= now_ms:
                    recent[cls] = recent.get(cls, 0) + 1
            ctx["recent_faults"] = recent
        return ctx
