"""Host contexts rebuilt from history, for training the fault model offline.

In the stream the worker hands the correlator a host context (per series: last value,
EWMA and the last closed one-minute windows; recent fault counts). Training must see
exactly the same shape, so this folds raw metric samples and fault records into the
same summaries: EWMA with the worker's time constant (streams.core.smoothing), tumbling
one-minute windows on event time, fault counts over a trailing window.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.core.metrics import series_key
from streams.core.normalise import canonical_labels, canonical_name
from streams.core.smoothing import EWMA, SmoothingParams, update_series

__all__ = ["FEATURE_SERIES", "ContextFolder"]

log = logging.getLogger(__name__)

MINUTE_MS = 60_000

# The series the features read (streams.incidents.features); others are not kept.
FEATURE_SERIES = frozenset({
    "gpu.temperature", "gpu.utilization", "gpu.power_watts", "gpu.power_limit_watts",
    "gpu.throttle.thermal", "gpu.throttle.power", "gpu.sm_clock_mhz",
    "gpu.ecc.sbe_volatile", "gpu.ecc.dbe_volatile", "gpu.ecc.sbe_per_s", "gpu.ecc.dbe_per_s",
    "gpu.nvlink_errors_per_s", "gpu.pcie_replay_per_s", "cpu.usage", "cpu.iowait", "mem.usage",
    "net.rx_errors_per_s", "net.tx_errors_per_s", "net.rx_drops_per_s", "net.tx_drops_per_s",
})


@dataclass
class _Series:
    smooth: list[float] | None = None
    last: float = 0.0
    # closed and open minute windows: start -> [min, max, sum, count]
    windows: dict[int, list[float]] = field(default_factory=dict)


@dataclass
class _Host:
    seen: int = 0
    series: dict[str, _Series] = field(default_factory=dict)
    faults: deque[tuple[int, str]] = field(default_factory=deque)


class ContextFolder:
    """Per-host running summaries; `context(host, now)` is what the worker would send."""

    def __init__(self, *, minutes: int = 10, fault_window_ms: int = 600_000,
                 smoothing: SmoothingParams | None = None,
                 names: Iterable[str] | None = FEATURE_SERIES) -> None:
        self.minutes = minutes
        self.fault_window_ms = fault_window_ms
        self.smoothing = smoothing or SmoothingParams()
        self.names = frozenset(names) if names is not None else None
        self.hosts: dict[str, _Host] = {}

    def add_sample(self, host: str, ts: int, name: str, value: float,
                   labels: dict[str, str] | None = None) -> None:
        """Fold one sample (canonical name and unit) into its series."""
        if self.names is not None and name not in self.names:
            return
        h = self.hosts.setdefault(host, _Host())
        h.seen = max(h.seen, ts)
        key = series_key(name, labels)
        s = h.series.get(key)
        if s is None:
            s = h.series[key] = _Series()
        s.smooth, _ = update_series(s.smooth, ts, value, self.smoothing)
        s.last = value
        start = ts - ts % MINUTE_MS
        w = s.windows.get(start)
        if w is None:
            s.windows[start] = [value, value, value, 1.0]
            if len(s.windows) > self.minutes + 2:
                del s.windows[min(s.windows)]
        else:
            w[0] = min(w[0], value)
            w[1] = max(w[1], value)
            w[2] += value
            w[3] += 1.0

    def add_batch(self, batch: Mapping[str, Any]) -> None:
        """Fold a `rackwatch.metrics/v1` batch (names and units normalised as the worker does)."""
        host = batch.get("host")
        ts = batch.get("ts")
        if not isinstance(host, str) or not isinstance(ts, int):
            return
        for sample in batch.get("samples") or ():
            canon = canonical_name(str(sample.get("name", "")))
            if self.names is not None and canon.name not in self.names:
                continue
            value = sample.get("value")
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            v = float(value) * canon.scale
            if not canon.lo <= v <= canon.hi:
                continue
            labels = sample.get("labels")
            self.add_sample(host, ts, canon.name, v,
                            canonical_labels(labels) if isinstance(labels, dict) else None)

    def add_fault(self, host: str, ts: int, fault_class: str) -> None:
        """Remember a fault record of a host (for the recent fault counts)."""
        h = self.hosts.setdefault(host, _Host())
        h.faults.append((ts, fault_class))
        while h.faults and h.faults[0][0] < ts - 4 * self.fault_window_ms:
            h.faults.popleft()

    def last_seen(self, host: str) -> int | None:
        h = self.hosts.get(host)
        return h.seen if h is not None and h.seen else None

    def context(self, host: str, now_ms: int) -> dict[str, Any]:
        """The host context at `now_ms`: only minutes closed by then, only faults up to then."""
        h = self.hosts.get(host)
        if h is None:
            return {"series": {}, "recent_faults": {}}
        series: dict[str, Any] = {}
        for key, s in h.series.items():
            closed = sorted(start for start in s.windows if start + MINUTE_MS <= now_ms)
            closed = closed[-self.minutes:]
            minutes = [[start, w[0], w[1], w[2] / w[3], int(w[3])]
                       for start in closed for w in (s.windows[start],)]
            entry: dict[str, Any] = {"last": s.last, "minutes": minutes}
            if s.smooth is not None:
                entry["ewma"] = s.smooth[EWMA]
            series[key] = entry
        recent: dict[str, int] = {}
        for ts, cls in h.faults:
            if now_ms - self.fault_window_ms < ts <= now_ms:
                recent[cls] = recent.get(cls, 0) + 1
        return {"series": series, "recent_faults": recent}
