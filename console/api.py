"""The JSON APIs under /api/: what each answers, from the live picture or fixed queries.

Each handler takes the request's path value and query parameters as plain strings and
returns a JSON-ready dict whose shape is the JSON Schema of the same name in
console/schemas/ (tested against real answers). Bad parameters raise ParamError
(HTTP 400); a store that cannot answer raises StoreUnavailable (HTTP 503). The live
views (fleet, alerts, incidents, health) never touch the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console import params
from console.hub import Hub
from console.lines import metric_lines, metrics_of_rule, rules_for_metric
from console.queries import (
    ALERT_PERIODS,
    HOST_ALERTS,
    HOST_INCIDENTS,
    HOST_LOGS,
    HOST_METRICS,
    LOG_LINES,
    LOG_TEMPLATES_COUNT,
    LOG_TEMPLATES_NOVELTY,
    SERIES,
    Query,
    shape_alert_change,
    shape_log_line,
    shape_period,
    shape_series,
    shape_template,
)
from console.reader import Reader
from console.settings import ConsoleSettings
from console.state import incident_from_row
from streams.rules import RuleSet

__all__ = ["Api"]

Q = Mapping[str, str]
_SMOOTHING = ("ewma", "wma")
_SERIES_LIMIT = params.MAX_POINTS * 64  # 64 series of a full chart


@dataclass
class Api:
    """The handlers, over one hub (live picture), one reader (store) and the rule set."""

    hub: Hub
    reader: Reader
    rules: RuleSet
    settings: ConsoleSettings
    clock: Callable[[], float] = time.time
    info: dict[str, Any] = field(default_factory=dict)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # --- live -------------------------------------------------------------------------

    async def status(self, q: Q) -> dict[str, Any]:
        return {**self.info, "generated_ms": self.now_ms(), "kafka": self.hub.status.get("kafka"),
                "store": self.hub.status.get("store"), "pages": self.hub.subscribers,
                "messages": self.hub.messages, "bad_messages": self.hub.bad_messages}

    async def fleet(self, q: Q) -> dict[str, Any]:
        st = self.hub.state
        return {"generated_ms": self.now_ms(), "counts": st.counts(), "groups": st.fleet()}

    async def alerts(self, q: Q) -> dict[str, Any]:
        severity = params.choice(q, "severity", params.SEVERITIES)
        status = params.choice(q, "status", ("active", "all"), "all")
        group = params.optional_name(q, "rack")
        rule = params.optional_name(q, "rule")
        n = params.limit(q, 500, self.settings.max_alerts)
        alerts = self.hub.state.alert_list(severity=severity, group=group, rule=rule,
                                           active_only=status == "active", limit=n)
        return {"generated_ms": self.now_ms(), "alerts": alerts}

    async def incidents(self, q: Q) -> dict[str, Any]:
        return {"generated_ms": self.now_ms(), "incidents": self.hub.state.incident_list()}

    async def health(self, q: Q) -> dict[str, Any]:
        summary = self.hub.health or {"endpoints": [], "rates": {}, "lag": [], "lag_total": 0,
                                      "dead_letters": []}
        return {"generated_ms": self.now_ms(), **summary}

    # --- host page --------------------------------------------------------------------

    async def host(self, name: str, q: Q) -> dict[str, Any]:
        host = params.host_name(name)
        rng = params.time_range(q, self.now_ms())
        st = self.hub.state
        entry = st.hosts.get(host)
        rows = await self.reader.rows(Query("host_metrics", HOST_METRICS, {
            "host": host, "from": rng.from_ms, "to": rng.to_ms}))
        active = [a for a in st.alert_list() if a.get("host") == host]
        names = [str(r["name"]) for r in rows]
        return {"host": host, "known": entry is not None or bool(rows),
                "labels": entry.labels if entry else {},
                "group": entry.group if entry else st.group_of_host(host),
                "gpus": entry.gpus if entry else [],
                "from_ms": rng.from_ms, "to_ms": rng.to_ms,
                "metrics": [{"name": str(r["name"]), "samples": int(r["samples"])}
                            for r in rows],
                "suggested_metric": self._suggest(active, names),
                "alerts": active,
                "incidents": [i for i in st.incident_list()
                              if host in i["hosts"] or i["scope_value"] == host]}

    def _suggest(self, active: list[dict[str, Any]], names: list[str]) -> str | None:
        """The metric to chart first: one a firing alert of the host is about, else a
        telling default the host has."""
        for a in active:
            if a["status"] != "firing":
                continue
            for metric in metrics_of_rule(self.rules, a["rule"]):
                if metric in names:
                    return metric
        for metric in ("gpu.temperature", "cpu.usage", "mem.usage"):
            if metric in names:
                return metric
        return names[0] if names else None

    async def series(self, name: str, q: Q) -> dict[str, Any]:
        host = params.host_name(name)
        metric = params.metric_name(q.get("metric", ""))
        rng = params.time_range(q, self.now_ms())
        lines = metric_lines(self.rules, metric)
        rule_smoothing = next((ln["smoothing"] for ln in lines if ln["smoothing"] != "raw"),
                              "ewma")
        smoothing = params.choice(q, "smoothing", _SMOOTHING, rule_smoothing) or "ewma"
        rows = await self.reader.rows(Query("series", SERIES, {
            "topology": list(self.settings.group_labels), "step": rng.step_ms, "host": host,
            "metric": metric, "from": rng.from_ms, "to": rng.to_ms, "limit": _SERIES_LIMIT}))
        rules = rules_for_metric(self.rules, metric)
        periods = await self.reader.rows(Query("alert_periods", ALERT_PERIODS, {
            "host": host, "rules": rules, "to": rng.to_ms, "from": rng.from_ms,
            "since": rng.from_ms - int(self.settings.bootstrap_window_s * 1000)}))
        return {"host": host, "metric": metric, "from_ms": rng.from_ms, "to_ms": rng.to_ms,
                "step_ms": rng.step_ms, "smoothing": smoothing, "lines": lines,
                "series": shape_series(rows, smoothing),
                "alert_periods": [shape_period(r) for r in periods]}

    async def host_logs(self, name: str, q: Q) -> dict[str, Any]:
        host = params.host_name(name)
        rng = params.time_range(q, self.now_ms())
        every = params.choice(q, "lines", ("faults", "all"), "faults")
        rows = await self.reader.rows(Query("host_logs", HOST_LOGS, {
            "host": host, "from": rng.from_ms, "to": rng.to_ms,
            "all": int(every == "all"), "limit": params.limit(q, 200, 2000)}))
        return {"host": host, "from_ms": rng.from_ms, "to_ms": rng.to_ms, "lines_shown": every,
                "lines": [shape_log_line(r) for r in rows]}

    async def host_history(self, name: str, q: Q) -> dict[str, Any]:
        host = params.host_name(name)
        rng = params.time_range(q, self.now_ms(), default="24h")
        n = params.limit(q, 200, 2000)
        alerts = await self.reader.rows(Query("host_alerts", HOST_ALERTS, {
            "host": host, "from": rng.from_ms, "to": rng.to_ms, "limit": n}))
        incidents = await self.reader.rows(Query("host_incidents", HOST_INCIDENTS, {
            "host": host, "from": rng.from_ms, "to": rng.to_ms, "limit": n}))
        return {"host": host, "from_ms": rng.from_ms, "to_ms": rng.to_ms,
                "alerts": [shape_alert_change(r) for r in alerts],
                "incidents": [incident_from_row(r) for r in incidents]}

    # --- logs -------------------------------------------------------------------------

    async def log_templates(self, q: Q) -> dict[str, Any]:
        rng = params.time_range(q, self.now_ms())
        order = params.choice(q, "order", ("count", "novelty"), "count") or "count"
        n = params.limit(q, 50, 500)
        span = rng.to_ms - rng.from_ms
        if order == "count":
            query = Query("log_templates_count", LOG_TEMPLATES_COUNT, {
                "from": rng.from_ms, "to": rng.to_ms, "limit": n})
            baseline = 0
        else:
            baseline = min(7 * span, 7 * 86_400_000)
            query = Query("log_templates_novelty", LOG_TEMPLATES_NOVELTY, {
                "from": rng.from_ms, "to": rng.to_ms, "span": float(span),
                "baseline": float(baseline), "baseline_from": rng.from_ms - baseline,
                "limit": n})
        rows = await self.reader.rows(query)
        return {"from_ms": rng.from_ms, "to_ms": rng.to_ms, "order": order,
                "baseline_ms": baseline, "templates": [shape_template(r) for r in rows]}

    async def log_lines(self, q: Q) -> dict[str, Any]:
        tid = params.template_id(q.get("template_id", ""))
        rng = params.time_range(q, self.now_ms())
        host = q.get("host", "")
        if host:
            params.host_name(host)
        rows = await self.reader.rows(Query("log_lines", LOG_LINES, {
            "template_id": tid, "from": rng.from_ms, "to": rng.to_ms, "host": host,
            "limit": params.limit(q, 200, 2000)}))
        return {"template_id": tid, "from_ms": rng.from_ms, "to_ms": rng.to_ms,
                "lines": [shape_log_line(r) for r in rows]}
