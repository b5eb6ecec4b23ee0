"""A small deterministic fleet of stored-shape records, for docs, tests and benchmarks.

It carries one of each story the documented queries answer: a rack of hosts, one host
running hot on CPU, a GPU whose temperature climbs for half an hour before it falls off
the bus (XID 79), XIDs on other racks on earlier days, a rule that flaps, alerts that
fire and resolve, an incident, and dead letters. Everything is relative to `now_ms`, so
"the last hour" always holds the same story.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas import ids
from schemas.events import Alert, DeadLetter, Incident, LogRecord, MetricRow

__all__ = ["Fleet", "build_fleet", "iso", "metric_rows"]

MINUTE = 60_000
HOT_CPU_HOST = "r02-h03"
FAULTY_HOST = "r03-h02"
FAULTY_GPU = "1"
FLAPPING_RULE = "HostHighCpu"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@dataclass
class Fleet:
    now_ms: int
    hosts: list[str]
    racks: dict[str, str]  # host -> rack
    fault_ms: int  # when FAULTY_HOST's GPU fell off the bus
    metrics: list[MetricRow] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)


def _metric(host: str, rack: str, ts: int, seq: int, name: str, value: float,
            extra: dict[str, str] | None = None) -> MetricRow:
    labels = {"rack": rack, "cluster": "c1"}
    labels.update(extra or {})
    return {"schema": ids.METRIC_ROW, "host": host, "ts": ts, "seq": seq, "name": name,
            "labels": labels, "value": value, "raw": value, "ewma": value, "wma": value,
            "outlier": False}


def metric_rows(n: int, *, now_ms: int, hosts: int = 100, seed: int = 0) -> list[MetricRow]:
    """`n` plain metric rows over `hosts` hosts, 10 s apart per host (benchmarks)."""
    rng = random.Random(seed)
    names = ("cpu.usage", "mem.usage", "gpu.temperature", "gpu.utilization")
    out: list[MetricRow] = []
    for i in range(n):
        h = i % hosts
        host = f"r{h // 10:02d}-h{h % 10:02d}"
        ts = now_ms - (n - i) // hosts * 10_000
        out.append(_metric(host, f"r{h // 10:02d}", ts, i // hosts, names[i % 4],
                           rng.random(), {"gpu": str(i % 8)} if i % 4 >= 2 else None))
    return out


def build_fleet(now_ms: int, *, racks: int = 3, hosts_per_rack: int = 4, minutes: int = 90,
                step_s: int = 30, seed: int = 7) -> Fleet:
    rng = random.Random(seed)
    hosts = [f"r{r:02d}-h{h:02d}" for r in range(1, racks + 1)
             for h in range(1, hosts_per_rack + 1)]
    rack_of = {h: h.split("-")[0] for h in hosts}
    fault_ms = now_ms - 10 * MINUTE
    fleet = Fleet(now_ms, hosts, rack_of, fault_ms)
    start = now_ms - minutes * MINUTE
    step = step_s * 1000
    for hi, host in enumerate(hosts):
        rack = rack_of[host]
        cpu_base = 0.93 if host == HOT_CPU_HOST else 0.15 + 0.04 * hi
        seq = 0
        for ts in range(start, now_ms, step):
            seq += 1
            cpu = min(1.0, max(0.0, cpu_base + rng.uniform(-0.03, 0.03)))
            fleet.metrics.append(_metric(host, rack, ts, seq, "cpu.usage", cpu))
            fleet.metrics.append(_metric(host, rack, ts, seq, "mem.usage",
                                         0.4 + rng.uniform(-0.02, 0.02)))
            for gpu in ("0", "1"):
                temp = 55.0 + rng.uniform(-1.0, 1.0)
                if host == FAULTY_HOST and gpu == FAULTY_GPU:
                    if fault_ms - 30 * MINUTE <= ts < fault_ms:
                        temp += 30.0 * (ts - (fault_ms - 30 * MINUTE)) / (30 * MINUTE)
                    elif ts >= fault_ms:
                        continue  # fallen off the bus: no more samples
                fleet.metrics.append(_metric(host, rack, ts, seq, "gpu.temperature", temp,
                                             {"gpu": gpu}))
    _logs(fleet)
    _alerts(fleet)
    _deadletters(fleet)
    return fleet


def _log(host: str, rack: str, ts: int, seq: int, message: str, fault: str | None,
         severity: str = "info", program: str = "kernel") -> LogRecord:
    rec: LogRecord = {
        "schema": ids.LOG_RECORD, "host": host, "ts": ts, "seq": seq, "message": message,
        "severity": severity, "program": program, "pid": None,
        "template_id": "t-xid" if fault else "t-info",
        "template": "NVRM: Xid (PCI:<*>): <*>, <*>" if fault else "<*> ok",
        "fault_class": fault, "labels": {"rack": rack}, "source": "kmsg",
        "component": "gpu" if fault else None}
    if fault:
        rec["fault_source"] = "catalogue"
    return rec


def _logs(fleet: Fleet) -> None:
    day = 24 * 60 * MINUTE
    for seq, host in enumerate(fleet.hosts, start=1):
        fleet.logs.append(_log(host, fleet.racks[host], fleet.now_ms - 50 * MINUTE, seq,
                               "systemd[1]: Started session.", None, program="systemd"))
    fleet.logs.append(_log(
        FAULTY_HOST, fleet.racks[FAULTY_HOST], fleet.fault_ms, 900,
        "NVRM: Xid (PCI:0000:3b:00): 79, pid=0, GPU has fallen off the bus.", "gpu_xid_79",
        severity="error"))
    # Earlier XIDs on rack r01: two yesterday, one the day before.
    for i, (days, host) in enumerate([(1, "r01-h01"), (1, "r01-h02"), (2, "r01-h01")]):
        fleet.logs.append(_log(
            host, fleet.racks[host], fleet.now_ms - days * day, 1000 + i,
            "NVRM: Xid (PCI:0000:1a:00): 48, pid=0, DBE (double bit error).", "gpu_xid_48",
            severity="error"))


def _alert(rule: str, host: str, rack: str, status: str, starts: int, ends: int | None,
           updated: int, severity: str = "warning", value: float = 0.95,
           threshold: float = 0.8) -> Alert:
    return {"schema": ids.ALERT, "fingerprint": f"fp-{rule}-{host}",
            "status": status, "rule": rule, "severity": severity,  # type: ignore[typeddict-item]
            "host": host, "labels": {"rack": rack, "host": host},
            "annotations": {"summary": f"{rule} on {host}"}, "value": value,
            "threshold": threshold, "starts_at": iso(starts),
            "ends_at": None if ends is None else iso(ends), "updated_at": iso(updated)}


def _alerts(fleet: Fleet) -> None:
    now = fleet.now_ms
    hot, rack = HOT_CPU_HOST, fleet.racks[HOT_CPU_HOST]
    # The flapping rule: four short episodes within the last hour.
    for k, (fire, clear) in enumerate([(55, 50), (45, 42), (35, 31), (25, 20)]):
        s, e = now - fire * MINUTE, now - clear * MINUTE
        fleet.alerts.append(_alert(FLAPPING_RULE, hot, rack, "firing", s, None, s))
        if k == 1:  # one re-send while firing
            fleet.alerts.append(_alert(FLAPPING_RULE, hot, rack, "firing", s, None,
                                       s + MINUTE))
        fleet.alerts.append(_alert(FLAPPING_RULE, hot, rack, "resolved", s, e, e))
    # One memory alert that fired for 12 minutes.
    h = "r01-h01"
    s, e = now - 80 * MINUTE, now - 68 * MINUTE
    fleet.alerts.append(_alert("HostHighMemory", h, fleet.racks[h], "firing", s, None, s,
                               value=0.75, threshold=0.7))
    fleet.alerts.append(_alert("HostHighMemory", h, fleet.racks[h], "resolved", s, e, e,
                               value=0.65, threshold=0.7))
    # The GPU fault: still firing.
    f = FAULTY_HOST
    fleet.alerts.append(_alert("GpuXidError", f, fleet.racks[f], "firing", fleet.fault_ms,
                               None, fleet.fault_ms, severity="critical", value=79.0,
                               threshold=0.0))
    fleet.incidents.append({
        "schema": ids.INCIDENT, "incident_id": "inc-0001", "status": "open", "scope": "host",
        "scope_value": f, "suspect": f"{f}/gpu{FAULTY_GPU}",
        "root_cause_hint": "GPU fell off the bus (XID 79) after a 30 minute temperature rise",
        "fault_probability": 0.9, "hosts": [f], "alerts": [f"fp-GpuXidError-{f}"],
        "fault_classes": ["gpu_xid_79"], "severity": "critical",
        "opened_at": iso(fleet.fault_ms), "updated_at": iso(fleet.fault_ms),
        "resolved_at": None, "evidence": {"xid": 79}})


def _deadletters(fleet: Fleet) -> None:
    def dl(code: str, topic: str, offset: int, minutes_ago: int) -> DeadLetter:
        return {"schema": ids.DEADLETTER, "reason": f"{code} at offset {offset}",
                "reason_code": code, "source_topic": topic, "source_partition": 0,
                "source_offset": offset, "key": None, "raw": "{not json",
                "raw_encoding": "utf-8",
                "rejected_at": iso(fleet.now_ms - minutes_ago * MINUTE)}

    for i in range(3):
        fleet.deadletters.append(dl("bad_json", "rackwatch.metrics", 100 + i, 5 + i))
    fleet.deadletters.append(dl("missing_field", "rackwatch.logs", 7, 30))
