"""A synthetic store and alert stream for driving the console without a pipeline.

`FakeReader` answers the console's fixed queries (by name, console.queries) for a fleet
of `hosts` hosts in racks of 16 (GPU hosts with 8 GPUs), plus a few hosts without a
rack that carry only a cluster label; metric series are smooth curves with a bump.
`alert_message` builds `rackwatch.alert/v1` messages. Used by the browser tests that
need no broker and by benchmarks/console.py (2,000 hosts, 50 alerts a second).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from console.queries import Query

__all__ = ["FakeReader", "alert_message", "fleet_hosts", "iso"]

RACK_SIZE = 16


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def fleet_hosts(n: int, rackless: int = 0) -> list[tuple[str, str, str]]:
    """(host, rack, cluster) of a fleet: racks r00.. of 16 hosts, then rack-less hosts."""
    out = []
    for i in range(n):
        rack = f"r{i // RACK_SIZE:02d}" if i < n - rackless else ""
        host = f"{rack}-gpu{i % RACK_SIZE + 1:02d}" if rack else f"edge{i:04d}"
        out.append((host, rack, f"c{i // (RACK_SIZE * 8)}"))
    return out


def alert_message(host: str, rack: str, rule: str, severity: str, status: str, at_ms: int,
                  *, fingerprint: str, gpu: str | None = None, value: float = 91.0,
                  threshold: float = 85.0, started_ms: int | None = None) -> dict[str, Any]:
    labels = {"rack": rack, "host": host, "severity": severity, "alertname": rule}
    if gpu is not None:
        labels["gpu"] = gpu
    return {"schema": "rackwatch.alert/v1", "fingerprint": fingerprint, "status": status,
            "rule": rule, "severity": severity, "host": host, "labels": labels,
            "annotations": {"summary": f"{rule} on {host}", "description": ""},
            "value": value, "threshold": threshold,
            "starts_at": iso(started_ms or at_ms),
            "ends_at": iso(at_ms) if status == "resolved" else None,
            "updated_at": iso(at_ms), "incident_id": None}


class FakeReader:
    """Answers the console's queries from a synthetic fleet (see the module docstring)."""

    def __init__(self, hosts: int = 64, rackless: int = 4, clock_ms: int | None = None) -> None:
        self.fleet = fleet_hosts(hosts, rackless)
        self.clock_ms = clock_ms
        self.asked: list[str] = []

    def close(self) -> None:
        pass

    async def rows(self, query: Query) -> list[dict[str, Any]]:
        self.asked.append(query.name)
        query.sql  # noqa: B018  (binding must succeed, as it would for the real store)
        fn = getattr(self, "_" + query.name, None)
        return fn(query.params) if fn is not None else []

    def _host_inventory(self, p: Any) -> list[dict[str, Any]]:
        return [{"host": h, "rack": r, "seen_ms": 0} for h, r, _ in self.fleet]

    def _host_labels(self, p: Any) -> list[dict[str, Any]]:
        wanted = set(p["hosts"])
        return [{"host": h, "labels": {"cluster": c, "role": "edge"}}
                for h, r, c in self.fleet if h in wanted]

    def _gpu_inventory(self, p: Any) -> list[dict[str, Any]]:
        return [{"host": h, "gpus": [str(g) for g in range(8)]} for h, r, _ in self.fleet if r]

    def _host_metrics(self, p: Any) -> list[dict[str, Any]]:
        return [{"name": n, "samples": 360} for n in
                ("cpu.usage", "gpu.temperature", "gpu.utilization", "mem.usage")]

    def _series(self, p: Any) -> list[dict[str, Any]]:
        out = []
        gpus = [str(g) for g in range(8)] if p["metric"].startswith("gpu.") else [""]
        step = p["step"]
        start = p["from"] // step * step
        for g in gpus:
            labels = {"gpu": g} if g else {}
            ewma = None
            for t in range(start, p["to"], step):
                x = (t - p["from"]) / max(1, p["to"] - p["from"])
                base = 62 + 6 * math.sin(x * 9 + int(g or 0))
                bump = 30 * math.exp(-((x - 0.7) * 12) ** 2) if g == "3" else 0.0
                raw = base + bump + 1.5 * math.sin(t / 7000.0)
                ewma = raw if ewma is None else ewma + 0.3 * (raw - ewma)
                out.append({"series": str(labels), "series_labels": labels, "t": t, "raw": raw,
                            "ewma": ewma, "wma": ewma})
        return out

    def _alert_periods(self, p: Any) -> list[dict[str, Any]]:
        span = p["to"] - p["from"]
        if "GpuTooHot" not in p["rules"]:
            return []
        return [{"fingerprint": "f-hot", "rule": "GpuTooHot", "severity": "critical",
                 "labels": {"gpu": "3"}, "start_ms": p["from"] + int(span * 0.66),
                 "end_ms": p["from"] + int(span * 0.76)}]

    def _host_logs(self, p: Any) -> list[dict[str, Any]]:
        return [{"ts_ms": p["to"] - 60_000, "host": p["host"], "severity": "err",
                 "program": "kernel", "template_id": "4e2ed65191104680",
                 "template": "NVRM: Xid (PCI:<*>): <*>, pid=<*>, name=python, An uncorrectable "
                             "double bit error (DBE) has been detected on GPU",
                 "fault_class": "gpu_xid_48", "fault_source": "catalogue",
                 "message": "NVRM: Xid (PCI:0000:5d:00): 48, pid=44847, name=python, An "
                            "uncorrectable double bit error (DBE) has been detected on GPU",
                 "source": "kmsg"}]

    def _log_templates_count(self, p: Any) -> list[dict[str, Any]]:
        return [{"template_id": "ed78c135331e4fc7", "lines": 120, "hosts": 40,
                 "template": "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 <*> <*>)",
                 "fault_class": "", "first_ms": p["from"], "last_ms": p["to"] - 1000,
                 "before": 0},
                {"template_id": "4e2ed65191104680", "lines": 1, "hosts": 1,
                 "template": "NVRM: Xid (PCI:<*>): <*>, pid=<*>, name=python",
                 "fault_class": "gpu_xid_48", "first_ms": p["to"] - 60_000,
                 "last_ms": p["to"] - 60_000, "before": 0}]

    def _log_templates_novelty(self, p: Any) -> list[dict[str, Any]]:
        rows = self._log_templates_count(p)
        rows[0].update(before=840, novelty=0.5)
        rows[1].update(novelty=1.0)
        return [rows[1], rows[0]]

    def _log_lines(self, p: Any) -> list[dict[str, Any]]:
        return [{**self._host_logs({"to": p["to"], "host": "r00-gpu03"})[0],
                 "template_id": p["template_id"]}]
