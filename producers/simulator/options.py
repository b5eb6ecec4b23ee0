"""Options of a simulated fleet, validated all at once before anything starts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FAST_EPOCH_MS", "SimOptions"]

# Fast (benchmark) runs start at a fixed event time, so two runs are byte-identical.
FAST_EPOCH_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DEFAULT_FAST_DURATION_S = 3600.0


@dataclass(frozen=True)
class SimOptions:
    """A fleet, its faults and how fast to play it."""

    hosts: int = 300
    racks: int | None = None  # default: about 16 hosts per rack
    interval_s: float = 10.0
    seed: int = 0
    faults: str = ""  # spec string, scenario name ("demo", "all") or a file
    duration_s: float | None = None  # event time to cover
    batches: int | None = None  # or: this many intervals (batches per host)
    realtime: bool = False
    rate: float | None = None  # cap on metric batches per second (fast mode)
    output: Path | None = None  # JSON lines instead of Kafka
    manifest: Path | None = None
    start_ms: int | None = None  # event-time origin
    background_logs: bool = True
    gpus_per_host: int = 8
    serving: float = 0.25  # share of GPU hosts that serve models instead of training
    # The producer epoch on every event (dedup keys on host, epoch and seq). None: a
    # fresh one per run when publishing to Kafka (a new run is a new producer, whose
    # numbers start again from 1), none when writing to a file (same seed, same bytes).
    epoch: str | None = None

    @property
    def rack_count(self) -> int:
        """Racks in the fleet."""
        if self.racks:
            return min(self.racks, self.hosts)
        return max(1, math.ceil(self.hosts / 16))

    @property
    def interval_ms(self) -> int:
        return max(1, round(self.interval_s * 1000))

    def steps(self) -> int | None:
        """Intervals to simulate; None means until stopped (real-time runs only)."""
        if self.batches is not None:
            return self.batches
        duration = self.duration_s
        if duration is None:
            if self.realtime:
                return None
            duration = DEFAULT_FAST_DURATION_S
        return max(0, math.ceil(duration * 1000 / self.interval_ms))

    def origin_ms(self, now_ms: int) -> int:
        """Event time of the first interval."""
        if self.start_ms is not None:
            return self.start_ms
        if self.realtime:
            return now_ms - now_ms % self.interval_ms
        return FAST_EPOCH_MS

    def problems(self) -> list[str]:
        """Every problem with these options, each naming its flag."""
        out = []
        if self.hosts < 1:
            out.append(f"--hosts must be at least 1, got {self.hosts}")
        if self.racks is not None and self.racks < 1:
            out.append(f"--racks must be at least 1, got {self.racks}")
        if not (self.interval_s > 0):
            out.append(f"--interval must be > 0, got {self.interval_s}")
        if self.duration_s is not None and self.duration_s < 0:
            out.append(f"--duration must not be negative, got {self.duration_s}")
        if self.batches is not None and self.batches < 0:
            out.append(f"--batches must not be negative, got {self.batches}")
        if self.duration_s is not None and self.batches is not None:
            out.append("--duration and --batches are exclusive; give one")
        if self.rate is not None and not (self.rate > 0):
            out.append(f"--rate must be > 0, got {self.rate}")
        if self.start_ms is not None and self.start_ms < 0:
            out.append(f"--start-ms must not be negative, got {self.start_ms}")
        if self.epoch is not None and len(self.epoch) > 64:
            out.append(f"--epoch must be at most 64 characters, got {len(self.epoch)}")
        if not 0 <= self.gpus_per_host <= 16:
            out.append(f"gpus_per_host must be 0..16, got {self.gpus_per_host}")
        if not 0 <= self.serving <= 1:
            out.append(f"--serving must be a share between 0 and 1, got {self.serving}")
        return out
