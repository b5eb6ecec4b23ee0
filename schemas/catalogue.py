"""The metric catalogue: canonical names, units and physical bounds (contract).

Agents publish these names; the normaliser maps known aliases onto them, converts
units (percent to a 0-1 fraction), and rejects values outside the physical bounds.
A metric that is not catalogued passes through unchanged under its own name.

Series labels used by the catalogue: `cpu` (core index), `mount`, `device` (block
device), `interface` (network), `gpu` (index), `uuid` (GPU UUID), `model` and
`replica` (a served model and one serving process of it; `model_version` where the
server has versions), `target` (an exporter the agent scrapes).

Serving latencies are published per interval as separate series per quantile,
`serving.request_latency_s.p50|p90|p99` and `.mean` (not one series with a `quantile`
label): a rule names the figure it watches by name (`serving.ttft_s.p99`), every
figure gets its own smoothing, and the catalogue can say what each one is.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALIASES", "CATALOGUE", "SERVING_LATENCIES", "Alias", "MetricSpec", "spec_for"]

INF = float("inf")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One catalogued metric: its unit and the range a real machine can produce."""

    name: str
    unit: str
    description: str
    lo: float = 0.0
    hi: float = INF
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Alias:
    """A non-canonical name some source uses, and how to convert its value."""

    canonical: str
    scale: float = 1.0


_F = 1.0  # upper bound of a fraction
_SERVE = ("model", "replica")
# Latency figures of the interval's requests, one series per quantile and the mean.
SERVING_LATENCIES = {
    "serving.request_latency_s": "end-to-end request latency",
    "serving.ttft_s": "time to first token",
    "serving.time_per_token_s": "time per output token after the first (inter-token latency)",
    "serving.queue_time_s": "time a request waited before it was scheduled",
}
_SERVING = [
    MetricSpec(f"{stem}.{figure}", "seconds", f"{what}, {label} of the interval's requests",
               labels=_SERVE)
    for stem, what in SERVING_LATENCIES.items()
    for figure, label in (("p50", "median"), ("p90", "90th percentile"),
                          ("p99", "99th percentile"), ("mean", "mean"))
]
_SPECS = [
    # CPU
    MetricSpec("cpu.usage", "fraction", "CPU busy time, all cores", 0, _F),
    MetricSpec("cpu.core.usage", "fraction", "CPU busy time of one core", 0, _F, ("cpu",)),
    MetricSpec("cpu.user", "fraction", "CPU time in user mode", 0, _F),
    MetricSpec("cpu.system", "fraction", "CPU time in kernel mode", 0, _F),
    MetricSpec("cpu.iowait", "fraction", "CPU time waiting for I/O", 0, _F),
    MetricSpec("cpu.steal", "fraction", "CPU time stolen by the hypervisor", 0, _F),
    MetricSpec("load.1m", "tasks", "1-minute load average"),
    MetricSpec("load.5m", "tasks", "5-minute load average"),
    MetricSpec("load.15m", "tasks", "15-minute load average"),
    MetricSpec("proc.count", "processes", "number of processes"),
    # memory
    MetricSpec("mem.usage", "fraction", "memory in use (total - available) / total", 0, _F),
    MetricSpec("mem.used_bytes", "bytes", "memory in use"),
    MetricSpec("mem.available_bytes", "bytes", "memory available without swapping"),
    MetricSpec("mem.total_bytes", "bytes", "installed memory"),
    MetricSpec("swap.usage", "fraction", "swap in use", 0, _F),
    MetricSpec("swap.used_bytes", "bytes", "swap in use"),
    # disk usage per mount
    MetricSpec("fs.usage", "fraction", "filesystem space used, as df shows it: used / (used + "
               "available to users)", 0, _F, ("mount",)),
    MetricSpec("fs.free_bytes", "bytes", "filesystem space available to users",
               labels=("mount",)),
    # disk I/O per device
    MetricSpec("disk.read_bytes_per_s", "bytes/s", "bytes read", labels=("device",)),
    MetricSpec("disk.write_bytes_per_s", "bytes/s", "bytes written", labels=("device",)),
    MetricSpec("disk.read_iops", "ops/s", "read operations", labels=("device",)),
    MetricSpec("disk.write_iops", "ops/s", "write operations", labels=("device",)),
    MetricSpec("disk.busy", "fraction", "time the device was busy (io_time)", 0, _F, ("device",)),
    # network per interface
    MetricSpec("net.rx_bytes_per_s", "bytes/s", "bytes received", labels=("interface",)),
    MetricSpec("net.tx_bytes_per_s", "bytes/s", "bytes sent", labels=("interface",)),
    MetricSpec("net.rx_packets_per_s", "packets/s", "packets received", labels=("interface",)),
    MetricSpec("net.tx_packets_per_s", "packets/s", "packets sent", labels=("interface",)),
    MetricSpec("net.rx_errors_per_s", "errors/s", "receive errors", labels=("interface",)),
    MetricSpec("net.tx_errors_per_s", "errors/s", "transmit errors", labels=("interface",)),
    MetricSpec("net.rx_drops_per_s", "packets/s", "received packets dropped",
               labels=("interface",)),
    MetricSpec("net.tx_drops_per_s", "packets/s", "sent packets dropped", labels=("interface",)),
    MetricSpec("net.link_up", "bool", "1 when the link is up", 0, 1, ("interface",)),
    # GPU (NVML), labels gpu=index, uuid
    MetricSpec("gpu.utilization", "fraction", "SM busy fraction", 0, _F, ("gpu",)),
    MetricSpec("gpu.mem.utilization", "fraction", "memory controller busy", 0, _F, ("gpu",)),
    MetricSpec("gpu.mem.used_bytes", "bytes", "framebuffer memory used", labels=("gpu",)),
    MetricSpec("gpu.mem.total_bytes", "bytes", "framebuffer memory total", labels=("gpu",)),
    MetricSpec("gpu.mem.usage", "fraction", "framebuffer memory used / total", 0, _F, ("gpu",)),
    MetricSpec("gpu.temperature", "celsius", "GPU core temperature", -40, 150, ("gpu",)),
    MetricSpec("gpu.power_watts", "watts", "power draw", 0, 5000, ("gpu",)),
    MetricSpec("gpu.power_limit_watts", "watts", "enforced power limit", 0, 5000, ("gpu",)),
    MetricSpec("gpu.sm_clock_mhz", "MHz", "SM clock", 0, 10000, ("gpu",)),
    MetricSpec("gpu.throttle_reasons", "bitmask", "NVML clocks-event reasons bitmask",
               labels=("gpu",)),
    MetricSpec("gpu.throttle.thermal", "bool", "1 while thermally throttled", 0, 1, ("gpu",)),
    MetricSpec("gpu.throttle.power", "bool", "1 while power capped", 0, 1, ("gpu",)),
    MetricSpec("gpu.ecc.sbe_volatile", "errors", "single-bit ECC errors since boot",
               labels=("gpu",)),
    MetricSpec("gpu.ecc.dbe_volatile", "errors", "double-bit ECC errors since boot",
               labels=("gpu",)),
    MetricSpec("gpu.ecc.sbe_per_s", "errors/s", "single-bit ECC error rate", labels=("gpu",)),
    MetricSpec("gpu.ecc.dbe_per_s", "errors/s", "double-bit ECC error rate", labels=("gpu",)),
    MetricSpec("gpu.retired_pages", "pages", "retired memory pages", labels=("gpu",)),
    MetricSpec("gpu.remapped_rows", "rows", "remapped memory rows", labels=("gpu",)),
    MetricSpec("gpu.remap_failure", "bool", "1 when row remapping failed", 0, 1, ("gpu",)),
    MetricSpec("gpu.pcie_replay_per_s", "replays/s", "PCIe replay rate", labels=("gpu",)),
    MetricSpec("gpu.xid", "code", "last XID event code (sample present when one happened)",
               labels=("gpu",)),
    MetricSpec("gpu.nvlink_errors_per_s", "errors/s", "NVLink CRC/replay error rate",
               labels=("gpu",)),
    # model serving (vLLM, Triton, TGI through the agent's scrape targets; the simulator)
    *_SERVING,
    MetricSpec("serving.requests_per_s", "requests/s", "requests completed, failed ones "
               "included", labels=_SERVE),
    MetricSpec("serving.errors_per_s", "requests/s", "requests that failed", labels=_SERVE),
    MetricSpec("serving.error_ratio", "fraction", "failed / completed requests of the "
               "interval (only when some completed)", 0, _F, _SERVE),
    MetricSpec("serving.generation_tokens_per_s", "tokens/s", "output tokens generated",
               labels=_SERVE),
    MetricSpec("serving.prompt_tokens_per_s", "tokens/s", "prompt (prefill) tokens processed",
               labels=_SERVE),
    MetricSpec("serving.queue_depth", "requests", "requests waiting to be scheduled",
               labels=_SERVE),
    MetricSpec("serving.batch_size", "requests", "requests processed together: the running "
               "batch (vLLM, TGI) or inferences per model execution (Triton, mean)",
               labels=_SERVE),
    MetricSpec("serving.kv_cache.usage", "fraction", "KV-cache blocks in use", 0, _F, _SERVE),
    # services: latency of the requests a service serves (server side) and of the calls it
    # makes (client side), as service meshes and exporters report them per pod or instance
    MetricSpec("serving.success_ratio", "fraction", "share of requests served that succeeded",
               0, _F),
    *(MetricSpec(f"serving.{side}_latency_p{q}_s", "seconds",
                 f"p{q} latency of requests {what}")
      for side, what in (("server", "served"), ("client", "made to other services"))
      for q in (50, 90, 95, 99)),
    MetricSpec("container.restarts", "restarts", "restarts of the service's containers (counter)"),
    MetricSpec("container.cpu_throttled_ratio", "fraction",
               "share of CPU periods the container was throttled in", 0, _F),
    # application logs, counted per host between its metric batches (streams.core.logseries)
    MetricSpec("log.lines_per_s", "lines/s", "log lines"),
    MetricSpec("log.errors_per_s", "lines/s", "log lines at error level or worse"),
    MetricSpec("log.new_templates_per_s", "lines/s", "log lines of a template never seen before"),
    # host / agent health
    MetricSpec("host.uptime_s", "seconds", "time since boot"),
    MetricSpec("agent.buffered_batches", "batches", "batches held while the broker is away"),
    MetricSpec("agent.dropped_batches", "batches", "batches lost to buffer overflow (counter)"),
    MetricSpec("agent.errors", "errors", "source problems the agent has met so far (counter)"),
    MetricSpec("agent.scrape.up", "bool", "1 when the target's last scrape succeeded", 0, 1,
               ("target",)),
    MetricSpec("agent.scrape.duration_s", "seconds", "how long the target's last scrape took",
               labels=("target",)),
    MetricSpec("agent.scrape.samples", "samples", "samples the target's last scrape published",
               labels=("target",)),
    MetricSpec("agent.scrape.dropped_series", "series", "uncatalogued series of the last "
               "scrape left out beyond the target's max_series", labels=("target",)),
]

CATALOGUE: dict[str, MetricSpec] = {s.name: s for s in _SPECS}

ALIASES: dict[str, Alias] = {
    # percent-valued names other tools use -> 0-1 fraction
    "cpu.percent": Alias("cpu.usage", 0.01),
    "cpu_percent": Alias("cpu.usage", 0.01),
    "cpu.usage_percent": Alias("cpu.usage", 0.01),
    "mem.percent": Alias("mem.usage", 0.01),
    "memory.percent": Alias("mem.usage", 0.01),
    "mem.usage_percent": Alias("mem.usage", 0.01),
    "swap.percent": Alias("swap.usage", 0.01),
    "fs.percent": Alias("fs.usage", 0.01),
    "disk.usage_percent": Alias("fs.usage", 0.01),
    "disk.busy_percent": Alias("disk.busy", 0.01),
    "gpu.utilization_percent": Alias("gpu.utilization", 0.01),
    "gpu.util": Alias("gpu.utilization", 0.01),
    "gpu.temp": Alias("gpu.temperature"),
    "gpu.power_mw": Alias("gpu.power_watts", 0.001),
    "memory.usage": Alias("mem.usage"),
}


def spec_for(name: str) -> MetricSpec | None:
    """The catalogue entry of a canonical name, or None for an uncatalogued metric."""
    return CATALOGUE.get(name)
