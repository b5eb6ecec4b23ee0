"""Every query the console runs: fixed SQL with typed placeholders, and the shaping of rows.

The SQL is constant; only values change, bound by console.sql after console.params has
validated them. Times go out as epoch milliseconds (`toUnixTimestamp64Milli`) so the
page never parses a date. Rows arrive as JSON objects (the store's JSONEachRow output);
numbers are read with `_int`/`_float` because a ClickHouse server quotes 64-bit
integers in JSON by default while chDB does not. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from console.sql import bind

__all__ = [
    "ALERTS_LATEST",
    "ALERT_PERIODS",
    "GPU_INVENTORY",
    "HOST_ALERTS",
    "HOST_INCIDENTS",
    "HOST_INVENTORY",
    "HOST_LABELS",
    "HOST_LOGS",
    "HOST_METRICS",
    "INCIDENTS_LATEST",
    "LOG_LINES",
    "LOG_TEMPLATES_COUNT",
    "LOG_TEMPLATES_NOVELTY",
    "SERIES",
    "Query",
    "shape_log_line",
    "shape_series",
    "shape_template",
]

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Query:
    """A named query and its values; `sql` is the bound text."""

    name: str
    template: str
    params: Mapping[str, object]

    @property
    def sql(self) -> str:
        return bind(self.template, self.params)


# --- the live picture's bootstrap and inventory ---------------------------------------

# The latest row of every alert changed since `since`: firing ones, and those resolved
# after `recent` (still fading out on the page).
ALERTS_LATEST = """
SELECT fingerprint, status, rule, severity, host, rack, labels, annotations, value,
       threshold, toUnixTimestamp64Milli(starts_at) AS starts_ms,
       toUnixTimestamp64Milli(ends_at) AS ends_ms,
       toUnixTimestamp64Milli(updated_at) AS updated_ms, incident_id
FROM (
    SELECT * FROM alerts
    WHERE updated_at >= {since:DateTime64}
    ORDER BY fingerprint, updated_at DESC, status = 'resolved' DESC
    LIMIT 1 BY fingerprint
)
WHERE status = 'firing' OR updated_at >= {recent:DateTime64}
ORDER BY updated_at DESC
LIMIT {limit:Int64}
"""

INCIDENTS_LATEST = """
SELECT incident_id, status, scope, scope_value, suspect, root_cause_hint,
       fault_probability, hosts, alerts, fault_classes, severity,
       toUnixTimestamp64Milli(opened_at) AS opened_ms,
       toUnixTimestamp64Milli(updated_at) AS updated_ms,
       toUnixTimestamp64Milli(resolved_at) AS resolved_ms
FROM (
    SELECT * FROM incidents
    WHERE updated_at >= {since:DateTime64}
    ORDER BY incident_id, updated_at DESC, status = 'resolved' DESC
    LIMIT 1 BY incident_id
)
WHERE status != 'resolved' OR updated_at >= {recent:DateTime64}
ORDER BY opened_at DESC
LIMIT {limit:Int64}
"""

# Hosts that reported recently, from the per-minute rollup (small: one row per host,
# metric name and minute).
HOST_INVENTORY = """
SELECT host, any(rack) AS rack, toUnixTimestamp(max(ts)) * 1000 AS seen_ms
FROM metrics_1m
WHERE ts >= {since:DateTime64}
GROUP BY host
ORDER BY host
LIMIT {limit:Int64}
"""

# The topology labels of hosts without a rack (to group them by another label).
HOST_LABELS = """
SELECT host, any(labels) AS labels
FROM metrics
WHERE has({hosts:Array(String)}, host) AND ts >= {since:DateTime64}
GROUP BY host
"""

# Which GPUs each host has, from one per-GPU metric.
GPU_INVENTORY = """
SELECT host, groupUniqArray(labels['gpu']) AS gpus
FROM metrics
WHERE name = {metric:String} AND ts >= {since:DateTime64} AND labels['gpu'] != ''
GROUP BY host
"""

# --- the host page ----------------------------------------------------------------------

HOST_METRICS = """
SELECT name, sum(samples) AS samples
FROM metrics_1m
WHERE host = {host:String} AND ts >= toStartOfMinute({from:DateTime64}) AND ts < {to:DateTime64}
GROUP BY name
ORDER BY name
"""

# One metric of one host, per series (its labels beyond the topology), in buckets of
# `step` ms: the raw value and both smoothed values, averaged over the bucket, placed at
# the bucket's first sample (its real time when the bucket holds one sample).
SERIES = """
SELECT toString(mapFilter((k, v) -> NOT has({topology:Array(String)}, k), labels)) AS series,
       any(mapFilter((k, v) -> NOT has({topology:Array(String)}, k), labels)) AS series_labels,
       intDiv(toUnixTimestamp64Milli(ts), {step:Int64}) AS bucket,
       toUnixTimestamp64Milli(min(ts)) AS t,
       avg(raw) AS raw,
       avgIf(ewma, isFinite(ewma)) AS ewma,
       avgIf(wma, isFinite(wma)) AS wma
FROM metrics
WHERE host = {host:String} AND name = {metric:String}
  AND ts >= {from:DateTime64} AND ts < {to:DateTime64}
GROUP BY series, bucket
ORDER BY series, bucket
LIMIT {limit:Int64}
"""

# Alert episodes (one per fingerprint and start) of some rules on one host that overlap
# [from, to): for shading a chart. end_ms is null while an episode still fires.
ALERT_PERIODS = """
SELECT fingerprint, rule, any(severity) AS severity, any(labels) AS labels,
       toUnixTimestamp64Milli(starts_at) AS start_ms,
       toUnixTimestamp64Milli(max(ends_at)) AS end_ms
FROM alerts
WHERE host = {host:String} AND has({rules:Array(String)}, rule)
  AND starts_at < {to:DateTime64} AND updated_at >= {since:DateTime64}
GROUP BY fingerprint, rule, starts_at
HAVING end_ms IS NULL OR end_ms >= toUnixTimestamp64Milli({from:DateTime64})
ORDER BY start_ms
LIMIT 1000
"""

HOST_LOGS = """
SELECT toUnixTimestamp64Milli(ts) AS ts_ms, host, severity, program, template_id, template,
       fault_class, fault_source, message, source
FROM logs
WHERE host = {host:String} AND ts >= {from:DateTime64} AND ts < {to:DateTime64}
  AND (fault_class != '' OR {all:Int64} = 1)
ORDER BY ts DESC
LIMIT {limit:Int64}
"""

HOST_ALERTS = """
SELECT fingerprint, status, rule, severity, value, threshold,
       annotations['summary'] AS summary, labels,
       toUnixTimestamp64Milli(starts_at) AS starts_ms,
       toUnixTimestamp64Milli(ends_at) AS ends_ms,
       toUnixTimestamp64Milli(updated_at) AS updated_ms, incident_id
FROM alerts
WHERE host = {host:String} AND updated_at >= {from:DateTime64} AND updated_at < {to:DateTime64}
ORDER BY updated_at DESC
LIMIT {limit:Int64}
"""

HOST_INCIDENTS = """
SELECT incident_id, status, scope, scope_value, suspect, root_cause_hint,
       fault_probability, hosts, alerts, fault_classes, severity,
       toUnixTimestamp64Milli(opened_at) AS opened_ms,
       toUnixTimestamp64Milli(updated_at) AS updated_ms,
       toUnixTimestamp64Milli(resolved_at) AS resolved_ms
FROM (
    SELECT * FROM incidents
    WHERE (has(hosts, {host:String}) OR scope_value = {host:String})
      AND updated_at >= {from:DateTime64} AND opened_at < {to:DateTime64}
    ORDER BY incident_id, updated_at DESC, status = 'resolved' DESC
    LIMIT 1 BY incident_id
)
ORDER BY opened_ms DESC
LIMIT {limit:Int64}
"""

# --- logs -------------------------------------------------------------------------------

LOG_TEMPLATES_COUNT = """
SELECT template_id, any(template) AS template, count() AS lines, uniq(host) AS hosts,
       anyIf(fault_class, fault_class != '') AS fault_class,
       toUnixTimestamp64Milli(min(ts)) AS first_ms, toUnixTimestamp64Milli(max(ts)) AS last_ms,
       toUInt64(0) AS before
FROM logs
WHERE ts >= {from:DateTime64} AND ts < {to:DateTime64} AND template_id != ''
GROUP BY template_id
ORDER BY lines DESC, template_id
LIMIT {limit:Int64}
"""

# Novelty of a template over [from, to) against the `baseline` before it: its rate in
# the range over the sum of both rates, 1 for a template never seen in the baseline,
# 0.5 for one as frequent as before, near 0 for one that went quiet.
LOG_TEMPLATES_NOVELTY = """
SELECT template_id, any(template) AS template, countIf(ts >= {from:DateTime64}) AS lines,
       uniqIf(host, ts >= {from:DateTime64}) AS hosts,
       anyIf(fault_class, fault_class != '') AS fault_class,
       toUnixTimestamp64Milli(minIf(ts, ts >= {from:DateTime64})) AS first_ms,
       toUnixTimestamp64Milli(max(ts)) AS last_ms,
       countIf(ts < {from:DateTime64}) AS before,
       (lines / {span:Float64}) / (lines / {span:Float64} + before / {baseline:Float64})
           AS novelty
FROM logs
WHERE ts >= {baseline_from:DateTime64} AND ts < {to:DateTime64} AND template_id != ''
GROUP BY template_id
HAVING lines > 0
ORDER BY novelty DESC, lines DESC, template_id
LIMIT {limit:Int64}
"""

LOG_LINES = """
SELECT toUnixTimestamp64Milli(ts) AS ts_ms, host, severity, program, template_id, template,
       fault_class, fault_source, message, source
FROM logs
WHERE template_id = {template_id:String} AND ts >= {from:DateTime64} AND ts < {to:DateTime64}
  AND ({host:String} = '' OR host = {host:String})
ORDER BY ts DESC
LIMIT {limit:Int64}
"""


# --- shaping ----------------------------------------------------------------------------

def _int(v: Any) -> int:
    return int(v)


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _float(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def shape_series(rows: Iterable[Row], smoothing: str) -> list[dict[str, Any]]:
    """Rows of SERIES as one entry per series: {key, labels, ts, raw, smoothed}."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        s = out.get(r["series"])
        if s is None:
            labels = {str(k): str(v) for k, v in (r.get("series_labels") or {}).items()}
            key = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
            s = out[r["series"]] = {"key": key, "labels": labels, "ts": [], "raw": [],
                                    "smoothed": []}
        s["ts"].append(_int(r["t"]))
        s["raw"].append(_float(r["raw"]))
        s["smoothed"].append(_float(r[smoothing]))
    return sorted(out.values(), key=lambda s: _series_order(s["labels"]))


def _series_order(labels: Mapping[str, str]) -> tuple[tuple[int, int, str], ...]:
    """GPU 2 before GPU 10: numeric label values sort as numbers."""
    return tuple((0, int(v), "") if v.isdigit() else (1, 0, v)
                 for _, v in sorted(labels.items()))


def shape_log_line(r: Row) -> dict[str, Any]:
    return {"ts_ms": _int(r["ts_ms"]), "host": str(r["host"]), "severity": str(r["severity"]),
            "program": str(r["program"]), "template_id": str(r["template_id"]),
            "template": str(r["template"]), "fault_class": str(r["fault_class"]),
            "fault_source": str(r.get("fault_source") or ""), "message": str(r["message"]),
            "source": str(r.get("source") or "")}


def shape_template(r: Row) -> dict[str, Any]:
    lines, before = _int(r["lines"]), _int(r["before"])
    novelty = _float(r.get("novelty"))
    return {"template_id": str(r["template_id"]), "template": str(r["template"]),
            "lines": lines, "hosts": _int(r["hosts"]), "fault_class": str(r["fault_class"]),
            "first_ms": _int(r["first_ms"]), "last_ms": _int(r["last_ms"]),
            "before": before, "novelty": novelty}


def shape_alert_change(r: Row) -> dict[str, Any]:
    return {"fingerprint": str(r["fingerprint"]), "status": str(r["status"]),
            "rule": str(r["rule"]), "severity": str(r["severity"]),
            "value": _float(r["value"]), "threshold": _float(r["threshold"]),
            "summary": str(r["summary"]),
            "labels": {str(k): str(v) for k, v in (r.get("labels") or {}).items()},
            "starts_ms": _int(r["starts_ms"]), "ends_ms": _opt_int(r["ends_ms"]),
            "updated_ms": _int(r["updated_ms"]), "incident_id": r.get("incident_id") or None}


def shape_period(r: Row) -> dict[str, Any]:
    return {"fingerprint": str(r["fingerprint"]), "rule": str(r["rule"]),
            "severity": str(r["severity"]),
            "labels": {str(k): str(v) for k, v in (r.get("labels") or {}).items()},
            "start_ms": _int(r["start_ms"]), "end_ms": _opt_int(r["end_ms"])}
