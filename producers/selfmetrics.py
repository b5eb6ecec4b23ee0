"""The agent's /metrics (off by default: `[agent] metrics_port`, localhost).

What an operator of a fleet of agents wants to see on each host: that batches are
collected and sent, how much waits in the buffer (memory and spill file) while the
broker is away, what was dropped, and which sources fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from common.selfmetrics import Endpoint, Histogram, histogram_family, serve

__all__ = ["AgentCollector", "serve_metrics"]


def _one(kind: type[CounterMetricFamily] | type[GaugeMetricFamily], name: str, doc: str,
         value: float) -> Any:
    return kind(name, doc, value=value)


class AgentCollector(Collector):
    """Reads the agent's counters, its publisher's and its buffer's at scrape time."""

    def __init__(self, agent: Any, publisher: Callable[[], Any], collect: Histogram) -> None:
        self.agent, self.publisher, self.collect_seconds = agent, publisher, collect

    def collect(self) -> Iterator[Any]:
        a, p = self.agent, self.publisher()
        s = a.stats
        c, g = CounterMetricFamily, GaugeMetricFamily
        yield _one(c, "rackwatch_agent_metric_batches", "Metric batches collected.", s.batches)
        yield _one(c, "rackwatch_agent_log_events", "Log lines (files, kernel) published.",
                   s.log_events)
        yield _one(c, "rackwatch_agent_xid_events", "GPU XID events seen through NVML.",
                   s.xid_events)
        yield _one(c, "rackwatch_agent_source_problems", "Problems reading a source (a file, "
                   "NVML, /dev/kmsg...), each counted once per episode.", a.problems.total)
        yield histogram_family("rackwatch_agent_collect_seconds", "Time to collect one metric "
                               "batch.", [], [([], self.collect_seconds)])
        if p is None:
            return
        st, buf = p.stats, p.buffer
        yield _one(c, "rackwatch_agent_records_published", "Records handed to the publisher.",
                   st.published)
        yield _one(c, "rackwatch_agent_records_sent", "Records the broker acknowledged.",
                   st.sent)
        dropped = c("rackwatch_agent_records_dropped", "Records lost: buffer overflow (the "
                    "oldest go), or refused by the broker for good (too large).",
                    labels=["reason"])
        dropped.add_metric(["overflow"], buf.dropped)
        dropped.add_metric(["rejected"], st.rejected)
        yield dropped
        yield _one(c, "rackwatch_agent_send_failures", "Send rounds that failed (the records "
                   "stay buffered and are sent again).", st.failed_rounds)
        yield _one(c, "rackwatch_agent_spilled_records", "Records written to the spill file "
                   "while the memory buffer was full.", buf.spilled)
        yield _one(g, "rackwatch_agent_buffered_records", "Records waiting to be sent (memory "
                   "and spill file).", len(buf))
        yield _one(g, "rackwatch_agent_spill_bytes", "Bytes waiting in the spill file.",
                   buf.spill_bytes)
        yield _one(g, "rackwatch_agent_broker_connected", "1 while the agent is connected to "
                   "the brokers.", float(p.connected))


async def serve_metrics(host: str, port: int, agent: Any, publisher: Any) -> Endpoint | None:
    """The agent's /metrics, /healthz and /readyz (ready: connected to the brokers)."""

    def ready() -> tuple[bool, str]:
        if publisher.connected:
            return True, f"connected; {publisher.buffered} records buffered"
        return False, f"not connected to the brokers; {publisher.buffered} records buffered"

    return await serve("agent", CollectorRegistry(), host, port, ready=ready,
                       collectors=[AgentCollector(agent, lambda: publisher,
                                                  agent.collect_seconds)])
