"""GPU metrics and XID events through NVML, behind a small interface.

`GpuSource` is the whole surface the agent needs from NVML: how many GPUs, one
reading per GPU, and the next XID event. `NvmlSource` implements it with
`nvidia-ml-py` (import name `pynvml`); `RecordedSource` replays readings captured
as JSON, so `GpuCollector`'s logic (counter rates, throttle bits, a GPU that falls
off the bus) is tested without a GPU. `NvmlSource` and `open_nvml` live in
producers.nvml, the one module that talks to the library.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from producers.events import sample
from producers.problems import Problems
from producers.rates import CounterRates
from schemas.events import Sample

__all__ = [
    "GpuCollector",
    "GpuLost",
    "GpuReading",
    "GpuSource",
    "RecordedSource",
    "XidEvent",
    "xid_message",
]

log = logging.getLogger(__name__)

# NVML clocks-event (throttle) reason bits, as in nvml.h.
THROTTLE_SW_POWER_CAP = 0x4
THROTTLE_HW_SLOWDOWN = 0x8
THROTTLE_SW_THERMAL = 0x20
THROTTLE_HW_THERMAL = 0x40
THROTTLE_HW_POWER_BRAKE = 0x80
_THERMAL_BITS = THROTTLE_SW_THERMAL | THROTTLE_HW_THERMAL
_POWER_BITS = THROTTLE_SW_POWER_CAP | THROTTLE_HW_POWER_BRAKE


class GpuLost(RuntimeError):
    """The GPU no longer answers (NVML_ERROR_GPU_IS_LOST: fallen off the bus)."""


@dataclass(slots=True)
class GpuReading:
    """One GPU at one moment, in NVML's own units; None where NVML had no answer."""

    index: int
    uuid: str = ""
    pci_bus_id: str = ""
    utilization_pct: float | None = None
    mem_utilization_pct: float | None = None
    mem_used_bytes: float | None = None
    mem_total_bytes: float | None = None
    temperature_c: float | None = None
    power_mw: float | None = None
    power_limit_mw: float | None = None
    sm_clock_mhz: float | None = None
    throttle_reasons: int | None = None
    ecc_sbe_volatile: float | None = None
    ecc_dbe_volatile: float | None = None
    retired_pages: float | None = None
    remapped_rows: float | None = None
    remap_failure: bool | None = None
    pcie_replay: float | None = None
    nvlink_errors: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GpuReading:
        """Rebuild a reading saved with `to_json` (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, used to record readings from real hardware."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class XidEvent:
    """An XID reported by NVML's event API."""

    index: int
    uuid: str
    pci_bus_id: str
    xid: int


def xid_message(ev: XidEvent) -> str:
    """A log line in the kernel's Xid shape, so one parser handles both sources."""
    bus = ev.pci_bus_id.lower()
    # NVRM prints "PCI:0000:3b:00"; NVML's busId is "00000000:3B:00.0".
    parts = bus.split(":")
    if len(parts) == 3:
        bus = f"{parts[0][-4:]}:{parts[1]}:{parts[2].split('.')[0]}"
    return f"NVML: Xid (PCI:{bus}): {ev.xid}, gpu={ev.index}, uuid={ev.uuid} (NVML event)"


class GpuSource(Protocol):
    """What the collector needs from NVML."""

    def count(self) -> int:
        """Number of GPUs."""
        ...

    def read(self, index: int) -> GpuReading:
        """One reading; raises GpuLost when the GPU stopped answering."""
        ...

    def wait_xid(self, timeout_ms: int) -> XidEvent | None:
        """Block up to `timeout_ms` for the next XID; None when none came."""
        ...

    def close(self) -> None:
        """Release NVML."""
        ...


class RecordedSource:
    """Replays recorded readings: `frames[i]` is the list of readings of poll i."""

    def __init__(self, frames: list[list[GpuReading | None]],
                 xids: Iterable[XidEvent] = ()) -> None:
        self.frames = frames
        self.poll = 0
        self._xids = list(xids)

    def count(self) -> int:
        return len(self.frames[0]) if self.frames else 0

    def advance(self) -> None:
        """Move to the next recorded poll (the last one repeats)."""
        self.poll = min(self.poll + 1, len(self.frames) - 1)

    def read(self, index: int) -> GpuReading:
        reading = self.frames[self.poll][index]
        if reading is None:
            raise GpuLost(f"GPU {index} is lost")
        return reading

    def wait_xid(self, timeout_ms: int) -> XidEvent | None:
        if self._xids:
            return self._xids.pop(0)
        time.sleep(min(timeout_ms, 50) / 1000)  # block a little, like NVML, but keep tests fast
        return None

    def close(self) -> None:
        return None


def _counter(value: float | None) -> tuple[float, ...] | None:
    return None if value is None else (value,)


@dataclass
class GpuCollector:
    """Turns GPU readings into catalogue samples; survives lost GPUs and missing queries."""

    source: GpuSource
    problems: Problems = field(default_factory=Problems)
    _rates: dict[str, CounterRates] = field(default_factory=dict)
    lost: set[int] = field(default_factory=set)
    pending_xids: list[XidEvent] = field(default_factory=list)

    def _rate(self, kind: str, index: int, now: float, value: float | None) -> float | None:
        if value is None:
            return None
        tracker = self._rates.setdefault(kind, CounterRates())
        rates = tracker.update(index, now, (value,))
        return None if rates is None else rates[0]

    def note_xid(self, ev: XidEvent) -> None:
        """Remember an XID so the next batch carries a `gpu.xid` sample for it."""
        self.pending_xids.append(ev)

    def samples(self, now: float) -> list[Sample]:
        """Samples of every GPU that answers; a GPU that stops answering is reported once."""
        out: list[Sample] = []
        for i in range(self.source.count()):
            try:
                r = self.source.read(i)
            except GpuLost as e:
                if i not in self.lost:
                    self.lost.add(i)
                    log.error("GPU %d stopped answering NVML (%s); its metrics stop until it "
                              "returns", i, e)
                self.problems.report(f"gpu{i}:lost", f"GPU {i} is lost")
                for tracker in self._rates.values():
                    tracker.keep_only(k for k in tracker.known() if k != i)
                continue
            if i in self.lost:
                self.lost.discard(i)
                self.problems.clear(f"gpu{i}:lost", f"GPU {i} answers again")
            out.extend(self._gpu_samples(r, now))
        for ev in self.pending_xids:
            out.append(sample("gpu.xid", float(ev.xid), self._labels(ev.index, ev.uuid)))
        self.pending_xids.clear()
        return out

    @staticmethod
    def _labels(index: int, uuid: str) -> dict[str, str]:
        return {"gpu": str(index), "uuid": uuid} if uuid else {"gpu": str(index)}

    def _gpu_samples(self, r: GpuReading, now: float) -> list[Sample]:
        lab = self._labels(r.index, r.uuid)
        out: list[Sample] = []

        def add(name: str, value: float | None) -> None:
            if value is not None:
                out.append(sample(name, value, dict(lab)))

        add("gpu.utilization", None if r.utilization_pct is None else r.utilization_pct / 100)
        add("gpu.mem.utilization",
            None if r.mem_utilization_pct is None else r.mem_utilization_pct / 100)
        add("gpu.mem.used_bytes", r.mem_used_bytes)
        add("gpu.mem.total_bytes", r.mem_total_bytes)
        if r.mem_used_bytes is not None and r.mem_total_bytes:
            add("gpu.mem.usage", round(r.mem_used_bytes / r.mem_total_bytes, 5))
        add("gpu.temperature", r.temperature_c)
        add("gpu.power_watts", None if r.power_mw is None else r.power_mw / 1000)
        add("gpu.power_limit_watts", None if r.power_limit_mw is None else r.power_limit_mw / 1000)
        add("gpu.sm_clock_mhz", r.sm_clock_mhz)
        if r.throttle_reasons is not None:
            bits = r.throttle_reasons
            add("gpu.throttle_reasons", float(bits))
            add("gpu.throttle.thermal", 1.0 if bits & _THERMAL_BITS else 0.0)
            add("gpu.throttle.power", 1.0 if bits & _POWER_BITS else 0.0)
        add("gpu.ecc.sbe_volatile", r.ecc_sbe_volatile)
        add("gpu.ecc.dbe_volatile", r.ecc_dbe_volatile)
        add("gpu.ecc.sbe_per_s", self._rate("sbe", r.index, now, r.ecc_sbe_volatile))
        add("gpu.ecc.dbe_per_s", self._rate("dbe", r.index, now, r.ecc_dbe_volatile))
        add("gpu.retired_pages", r.retired_pages)
        add("gpu.remapped_rows", r.remapped_rows)
        add("gpu.remap_failure", None if r.remap_failure is None else float(r.remap_failure))
        add("gpu.pcie_replay_per_s", self._rate("pcie", r.index, now, r.pcie_replay))
        add("gpu.nvlink_errors_per_s", self._rate("nvlink", r.index, now, r.nvlink_errors))
        return out
