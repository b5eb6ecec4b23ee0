"""GPU collector logic over recorded readings, and the NVML edge with a stand-in library."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from producers.gpu import (
    GpuCollector,
    GpuReading,
    RecordedSource,
    XidEvent,
    xid_message,
)
from producers.nvml import NvmlSource, open_nvml
from producers.problems import Problems
from schemas.catalogue import CATALOGUE

DATA = Path(__file__).resolve().parent / "data" / "gpu_readings.json"


def recorded() -> RecordedSource:
    raw = json.loads(DATA.read_text())
    frames = [[GpuReading.from_json(r) if r is not None else None for r in f]
              for f in raw["frames"]]
    return RecordedSource(frames)


def by_gpu(samples: list[Any], name: str) -> dict[str, float]:
    return {s["labels"]["gpu"]: s["value"] for s in samples if s["name"] == name}


class TestGpuCollector:
    def test_units_are_converted_to_the_catalogue(self) -> None:
        """Percent becomes a fraction, milliwatts become watts, memory usage is derived."""
        out = GpuCollector(recorded()).samples(0.0)
        assert by_gpu(out, "gpu.utilization") == {"0": 0.97, "1": 0.96}
        assert by_gpu(out, "gpu.power_watts")["0"] == pytest.approx(655.0)
        assert by_gpu(out, "gpu.mem.usage")["0"] == pytest.approx(0.8)
        assert {s["name"] for s in out} <= set(CATALOGUE)

    def test_throttle_bits_map_to_thermal_and_power(self) -> None:
        """Thermal slowdown bits (0x20, 0x40) set gpu.throttle.thermal, not power."""
        src = recorded()
        col = GpuCollector(src)
        col.samples(0.0)
        src.advance()
        out = col.samples(10.0)
        assert by_gpu(out, "gpu.throttle.thermal") == {"0": 0.0, "1": 1.0}
        assert by_gpu(out, "gpu.throttle.power") == {"0": 0.0, "1": 0.0}
        assert by_gpu(out, "gpu.throttle_reasons")["1"] == 96.0

    def test_counters_become_rates(self) -> None:
        """The PCIe replay counter becomes a per-second rate from the second poll on."""
        src = recorded()
        col = GpuCollector(src)
        assert "gpu.pcie_replay_per_s" not in {s["name"] for s in col.samples(0.0)}
        src.advance()
        out = col.samples(10.0)
        assert by_gpu(out, "gpu.pcie_replay_per_s") == {"0": 0.0, "1": 30.0}

    def test_lost_gpu_is_skipped_reported_once_and_recovers(
            self, caplog: pytest.LogCaptureFixture) -> None:
        """A GPU that stops answering drops out of the batch, is logged once, and may return."""
        src = recorded()
        problems = Problems()
        col = GpuCollector(src, problems=problems)
        for t in (0.0, 10.0, 20.0):
            out = col.samples(t)
            src.advance()
        assert set(by_gpu(out, "gpu.utilization")) == {"0"}
        assert col.lost == {1}
        assert problems.counts["gpu1:lost"] == 1
        out = col.samples(30.0)
        assert col.lost == set()
        assert set(by_gpu(out, "gpu.utilization")) == {"0", "1"}
        assert "gpu.ecc.sbe_per_s" not in {s["name"] for s in out if s["labels"]["gpu"] == "1"}
        assert sum("stopped answering" in r.message for r in caplog.records) == 1

    def test_xid_rides_in_the_next_batch(self) -> None:
        """An XID seen between polls appears once as a gpu.xid sample."""
        col = GpuCollector(recorded())
        col.note_xid(XidEvent(1, "GPU-bbbb", "00000000:2A:00.0", 79))
        first = col.samples(0.0)
        assert by_gpu(first, "gpu.xid") == {"1": 79.0}
        assert by_gpu(col.samples(1.0), "gpu.xid") == {}

    def test_xid_message_has_the_kernel_shape(self) -> None:
        """The NVML XID line uses NVRM's `Xid (PCI:dddd:bb:dd): N` form."""
        msg = xid_message(XidEvent(3, "GPU-x", "00000000:3B:00.0", 79))
        assert "Xid (PCI:0000:3b:00): 79" in msg


class FakeNvmlError(Exception):
    pass


class NotSupported(FakeNvmlError):
    pass


class NoPermission(FakeNvmlError):
    pass


class GpuIsLost(FakeNvmlError):
    pass


class Timeout(FakeNvmlError):
    pass


class LibraryNotFound(FakeNvmlError):
    pass


class FakeNvml:
    """Just enough of pynvml's surface, with call counting."""

    NVMLError = FakeNvmlError
    NVMLError_NotSupported = NotSupported
    NVMLError_NoPermission = NoPermission
    NVMLError_GpuIsLost = GpuIsLost
    NVMLError_Timeout = Timeout
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
    NVML_VOLATILE_ECC = 0
    NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS = 0
    NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = 1
    NVML_NVLINK_MAX_LINKS = 2
    NVML_NVLINK_ERROR_DL_CRC_FLIT = 2
    NVML_NVLINK_ERROR_DL_REPLAY = 0
    nvmlEventTypeXidCriticalError = 8

    def __init__(self, gpus: int = 1, init_error: Exception | None = None) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.calls: dict[str, int] = {}
        self.lost = False

    def _n(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.lost:
            raise GpuIsLost("GPU is lost")

    def nvmlInit(self) -> None:
        if self.init_error:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        return None

    def nvmlDeviceGetCount(self) -> int:
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return f"GPU-{h}"

    def nvmlDeviceGetPciInfo(self, h: int) -> Any:
        return type("P", (), {"busId": b"00000000:18:00.0"})()

    def nvmlDeviceGetNvLinkState(self, h: int, link: int) -> int:
        return 1

    def nvmlDeviceGetNvLinkErrorCounter(self, h: int, link: int, counter: int) -> int:
        self._n("nvlink")
        return 3

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        self._n("util")
        return type("U", (), {"gpu": 50, "memory": 20})()

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        self._n("mem")
        return type("M", (), {"used": 1, "total": 4})()

    def nvmlDeviceGetTemperature(self, h: int, s: int) -> int:
        self._n("temp")
        return 60

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        self._n("power")
        return 300_000

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return 700_000

    def nvmlDeviceGetClockInfo(self, h: int, c: int) -> int:
        return 1980

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        return 0x4

    def nvmlDeviceGetTotalEccErrors(self, h: int, kind: int, counter: int) -> int:
        self._n("ecc")
        raise NotSupported("ECC not supported")

    def nvmlDeviceGetRemappedRows(self, h: int) -> tuple[int, int, int, int]:
        return (1, 0, 0, 0)

    def nvmlDeviceGetPcieReplayCounter(self, h: int) -> int:
        return 7


class TestNvmlSource:
    def test_reads_and_units(self) -> None:
        """A reading carries NVML's values; the collector turns them into samples."""
        nv = FakeNvml()
        src = NvmlSource(nv)
        r = src.read(0)
        assert (r.utilization_pct, r.power_mw, r.remapped_rows) == (50.0, 300_000, 1.0)
        assert r.nvlink_errors == 12.0  # 2 links x 2 counters x 3
        out = GpuCollector(src).samples(0.0)
        assert by_gpu(out, "gpu.throttle.power") == {"0": 1.0}

    def test_unsupported_query_is_not_asked_again(self) -> None:
        """A query the GPU does not support costs one failing call, not one per interval."""
        nv = FakeNvml()
        src = NvmlSource(nv)
        for _ in range(5):
            assert src.read(0).ecc_sbe_volatile is None
        assert nv.calls["ecc"] == 2  # corrected and uncorrected, once each

    def test_lost_gpu_raises_gpu_lost(self) -> None:
        """NVML's GPU_IS_LOST becomes GpuLost, which the collector handles."""
        nv = FakeNvml()
        src = NvmlSource(nv)
        nv.lost = True
        col = GpuCollector(src)
        assert col.samples(0.0) == []
        assert col.lost == {0}


class TestOpenNvml:
    def test_without_the_package(self, caplog: pytest.LogCaptureFixture) -> None:
        """No nvidia-ml-py: the agent says so once and goes on without GPUs."""
        def missing() -> Any:
            raise ImportError("no pynvml")

        caplog.set_level(logging.INFO)
        assert open_nvml(missing) is None
        assert any("nvidia-ml-py" in r.message for r in caplog.records)

    def test_without_a_driver(self) -> None:
        """NVML present but no driver or library: no GPU source."""
        nv = FakeNvml(init_error=LibraryNotFound("NVML Shared Library Not Found"))
        assert open_nvml(lambda: nv) is None

    def test_with_no_gpu(self) -> None:
        """A driver that sees no GPU: no GPU source."""
        assert open_nvml(lambda: FakeNvml(gpus=0)) is None

    def test_the_real_library_on_this_host(self) -> None:
        """The real pynvml, where installed, either finds GPUs or cleanly reports none."""
        pytest.importorskip("pynvml")
        src = open_nvml()
        if src is not None:
            assert src.count() > 0
            src.close()
