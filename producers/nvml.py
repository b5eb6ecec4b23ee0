"""The NVML edge: `NvmlSource`, the real `GpuSource`, through `pynvml` (nvidia-ml-py).

Each NVML query is tried once per GPU; a query the GPU or driver does not support
is remembered and not asked again, so an older GPU costs no failing calls. A GPU that
stops answering raises `GpuLost`; the collector (producers.gpu) turns that into one
error and stops asking it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from producers.gpu import GpuLost, GpuReading, XidEvent

__all__ = ["NvmlSource", "open_nvml"]

log = logging.getLogger(__name__)


class NvmlSource:
    """The real thing: NVML through `pynvml` (package nvidia-ml-py)."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self._handles: list[Any] = [nvml.nvmlDeviceGetHandleByIndex(i)
                                    for i in range(nvml.nvmlDeviceGetCount())]
        self._ident: list[tuple[str, str]] = [self._identity(h) for h in self._handles]
        self._unsupported: set[tuple[int, str]] = set()
        self._links: list[list[int]] = [self._active_links(h) for h in self._handles]
        self._events: Any = None
        self._event_error: str | None = None

    def _identity(self, handle: Any) -> tuple[str, str]:
        uuid = self._text(self._safe(lambda: self.nvml.nvmlDeviceGetUUID(handle)))
        pci = self._safe(lambda: self.nvml.nvmlDeviceGetPciInfo(handle))
        bus = self._text(getattr(pci, "busId", "")) if pci is not None else ""
        return uuid, bus

    @staticmethod
    def _text(value: Any) -> str:
        if isinstance(value, bytes):
            return value.decode(errors="replace")
        return "" if value is None else str(value)

    def _safe(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except self.nvml.NVMLError:
            return None

    def _active_links(self, handle: Any) -> list[int]:
        nv = self.nvml
        links = []
        for link in range(getattr(nv, "NVML_NVLINK_MAX_LINKS", 18)):
            try:
                if nv.nvmlDeviceGetNvLinkState(handle, link):
                    links.append(link)
            except nv.NVMLError:
                break
        return links

    def count(self) -> int:
        return len(self._handles)

    def _query(self, index: int, name: str, fn: Callable[[], Any]) -> Any:
        if (index, name) in self._unsupported:
            return None
        nv = self.nvml
        try:
            return fn()
        except Exception as e:
            if not isinstance(e, nv.NVMLError):
                raise
            if isinstance(e, getattr(nv, "NVMLError_GpuIsLost", ())):
                raise GpuLost(str(e)) from e
            if isinstance(e, nv.NVMLError_NotSupported | nv.NVMLError_NoPermission):
                self._unsupported.add((index, name))
                log.info("GPU %d: %s not available (%s); not asking again", index, name, e)
            return None

    def read(self, index: int) -> GpuReading:
        nv = self.nvml
        h = self._handles[index]
        uuid, bus = self._ident[index]
        r = GpuReading(index=index, uuid=uuid, pci_bus_id=bus)
        util = self._query(index, "utilization", lambda: nv.nvmlDeviceGetUtilizationRates(h))
        if util is not None:
            r.utilization_pct, r.mem_utilization_pct = float(util.gpu), float(util.memory)
        mem = self._query(index, "memory", lambda: nv.nvmlDeviceGetMemoryInfo(h))
        if mem is not None:
            r.mem_used_bytes, r.mem_total_bytes = float(mem.used), float(mem.total)
        r.temperature_c = self._query(index, "temperature", lambda: nv.nvmlDeviceGetTemperature(
            h, nv.NVML_TEMPERATURE_GPU))
        r.power_mw = self._query(index, "power", lambda: nv.nvmlDeviceGetPowerUsage(h))
        r.power_limit_mw = self._query(index, "power_limit",
                                       lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h))
        r.sm_clock_mhz = self._query(index, "sm_clock",
                                     lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM))
        reasons = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            nv.nvmlDeviceGetCurrentClocksThrottleReasons
        r.throttle_reasons = self._query(index, "throttle", lambda: reasons(h))
        r.ecc_sbe_volatile = self._query(index, "ecc_sbe", lambda: nv.nvmlDeviceGetTotalEccErrors(
            h, nv.NVML_MEMORY_ERROR_TYPE_CORRECTED, nv.NVML_VOLATILE_ECC))
        r.ecc_dbe_volatile = self._query(index, "ecc_dbe", lambda: nv.nvmlDeviceGetTotalEccErrors(
            h, nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC))
        rows = self._query(index, "remapped_rows", lambda: nv.nvmlDeviceGetRemappedRows(h))
        if rows is not None:
            corr, unc, _pending, failure = rows
            r.remapped_rows, r.remap_failure = float(corr + unc), bool(failure)
        else:
            pages = [self._query(index, f"retired_pages_{cause}",
                                 lambda c=cause: nv.nvmlDeviceGetRetiredPages(h, c))  # type: ignore[misc]
                     for cause in (nv.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
                                   nv.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)]
            if any(p is not None for p in pages):
                r.retired_pages = float(sum(len(p) for p in pages if p is not None))
        r.pcie_replay = self._query(index, "pcie_replay",
                                    lambda: nv.nvmlDeviceGetPcieReplayCounter(h))
        if self._links[index]:
            total = 0.0
            for link in self._links[index]:
                for counter in (nv.NVML_NVLINK_ERROR_DL_CRC_FLIT, nv.NVML_NVLINK_ERROR_DL_REPLAY):
                    v = self._query(index, f"nvlink_{link}_{counter}",
                                    lambda lk=link, c=counter:  # type: ignore[misc]
                                    nv.nvmlDeviceGetNvLinkErrorCounter(h, lk, c))
                    total += float(v or 0)
            r.nvlink_errors = total
        return r

    def _event_set(self) -> Any:
        nv = self.nvml
        if self._events is None and self._event_error is None:
            try:
                es = nv.nvmlEventSetCreate()
                for i, h in enumerate(self._handles):
                    try:
                        nv.nvmlDeviceRegisterEvents(h, nv.nvmlEventTypeXidCriticalError, es)
                    except nv.NVMLError as e:
                        log.warning("GPU %d: cannot register for XID events: %s", i, e)
                self._events = es
            except nv.NVMLError as e:
                self._event_error = str(e)
                log.warning("NVML event API unavailable (%s): XIDs come only from kernel "
                            "logs", e)
        return self._events

    def wait_xid(self, timeout_ms: int) -> XidEvent | None:
        nv = self.nvml
        es = self._event_set()
        if es is None:
            return None
        try:
            data = nv.nvmlEventSetWait_v2(es, timeout_ms)
        except nv.NVMLError_Timeout:
            return None
        except nv.NVMLError as e:
            log.warning("NVML event wait failed: %s", e)
            return None
        target = _address(data.device)
        index = next((i for i, h in enumerate(self._handles) if _address(h) == target), -1)
        uuid, bus = self._ident[index] if index >= 0 else ("", "")
        return XidEvent(index=index, uuid=uuid, pci_bus_id=bus, xid=int(data.eventData))

    def close(self) -> None:
        nv = self.nvml
        try:
            if self._events is not None:
                nv.nvmlEventSetFree(self._events)
            nv.nvmlShutdown()
        except nv.NVMLError as e:
            log.debug("NVML shutdown: %s", e)


def _address(handle: Any) -> Any:
    """A comparable identity for an NVML device handle (a ctypes pointer)."""
    import ctypes

    try:
        return ctypes.cast(handle, ctypes.c_void_p).value
    except (TypeError, ctypes.ArgumentError):
        return handle


def open_nvml(importer: Callable[[], Any] | None = None) -> NvmlSource | None:
    """NVML if a library, a driver and at least one GPU are there; else None, said once."""
    try:
        nvml = importer() if importer is not None else _import_pynvml()
    except ImportError:
        log.info("no GPU metrics: the nvidia-ml-py package is not installed "
                 "(pip install 'rackwatch[gpu]')")
        return None
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as e:
        log.info("no GPU metrics: NVML is not available on this host (%s)", e)
        return None
    try:
        source = NvmlSource(nvml)
    except nvml.NVMLError as e:
        log.warning("no GPU metrics: NVML initialised but GPUs could not be listed (%s)", e)
        return None
    if source.count() == 0:
        log.info("no GPU metrics: NVML sees no GPU on this host")
        source.close()
        return None
    log.info("GPU metrics from NVML: %d GPU(s)", source.count())
    return source


def _import_pynvml() -> Any:
    import pynvml

    return pynvml
