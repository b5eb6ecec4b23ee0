"""Small builders of correlation events and host contexts for the incident tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MIN = 60_000
T0 = 1_700_000_000_000  # an arbitrary, realistic event-time origin


def alert(host: str, ts: int, *, rule: str = "cpu_high", severity: str = "critical",
          status: str = "firing", rack: str = "r07", labels: dict[str, str] | None = None,
          topo: dict[str, str] | None = None, context: dict[str, Any] | None = None,
          summary: str | None = None) -> dict[str, Any]:
    """An `alert` correlation event (fingerprint derived from host, rule and labels)."""
    lab = labels or {}
    fp = f"fp-{host}-{rule}-" + ",".join(f"{k}={v}" for k, v in sorted(lab.items()))
    ev: dict[str, Any] = {
        "kind": "alert", "ts": ts, "host": host, "labels": {"rack": rack, **(topo or {})},
        "alert": {"schema": "rackwatch.alert/v1", "fingerprint": fp, "status": status,
                  "rule": rule, "severity": severity, "host": host, "labels": lab,
                  "annotations": {"summary": summary or f"{rule} on {host}"}},
    }
    if context is not None:
        ev["context"] = context
    return ev


def fault(host: str, ts: int, fault_class: str, *, rack: str = "r07",
          labels: dict[str, str] | None = None, topo: dict[str, str] | None = None,
          severity: str = "error", context: dict[str, Any] | None = None,
          source: str | None = None) -> dict[str, Any]:
    """A `fault` correlation event carrying a processed log record."""
    ev: dict[str, Any] = {
        "kind": "fault", "ts": ts, "host": host, "labels": {"rack": rack, **(topo or {})},
        "record": {"schema": "rackwatch.log_record/v1", "host": host, "ts": ts, "seq": 1,
                   "message": fault_class, "severity": severity, "fault_class": fault_class,
                   "labels": labels or {}},
    }
    if context is not None:
        ev["context"] = context
    if source is not None:
        ev["record"]["fault_source"] = source
    return ev


def silent(host: str, ts: int, *, rack: str = "r07") -> dict[str, Any]:
    """A `silent` correlation event: the host stopped reporting."""
    return {"kind": "silent", "ts": ts, "host": host, "labels": {"rack": rack}}


def series(values: Sequence[tuple[float, float, float]], start: int = T0,
           last: float | None = None) -> dict[str, Any]:
    """A series summary from (min, max, avg) per minute, oldest first."""
    minutes = [[start + i * MIN, lo, hi, avg, 6] for i, (lo, hi, avg) in enumerate(values)]
    tail = values[-1][2] if values else 0.0
    return {"last": tail if last is None else last, "ewma": tail, "minutes": minutes}


def gpu_context(gpu: str, *, hot: bool, minutes: int = 10, start: int = T0,
                recent_faults: dict[str, int] | None = None) -> dict[str, Any]:
    """A host context for one GPU: cool and steady, or heating up and throttling."""
    temps: list[tuple[float, float, float]] = []
    throttle: list[tuple[float, float, float]] = []
    for i in range(minutes):
        if hot and i >= minutes // 2:
            t = 84.0 + 2 * i
            temps.append((t - 2, t + 2, t))
            throttle.append((0.0, 1.0, 0.5))
        else:
            temps.append((62.0, 66.0, 64.0))
            throttle.append((0.0, 0.0, 0.0))
    power = [(280.0, 320.0, 300.0)] * minutes
    return {
        "series": {
            f"gpu.temperature{{gpu={gpu}}}": series(temps, start),
            f"gpu.throttle.thermal{{gpu={gpu}}}": series(throttle, start),
            f"gpu.power_watts{{gpu={gpu}}}": series(power, start),
            f"gpu.power_limit_watts{{gpu={gpu}}}": series([(700.0, 700.0, 700.0)] * minutes,
                                                         start),
            f"gpu.sm_clock_mhz{{gpu={gpu}}}": series([(1980.0, 1980.0, 1980.0)] * minutes,
                                                     start),
        },
        "recent_faults": recent_faults or {},
    }


def by_status(messages: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["status"] == status]


def incident_ids(messages: list[dict[str, Any]]) -> set[str]:
    return {m["incident_id"] for m in messages}
