"""The exporters rackwatch recognises by their metric names, and what each name becomes.

Names and units are the exporters' documented ones:

- vLLM (`vllm:` prefix, label `model_name`; v1 engines add `engine`, summed away):
  request latency, time to first token, time per output token (`inter_token_latency`
  in newer releases), queue time histograms in seconds; running and waiting requests;
  KV-cache usage as a 0-1 fraction despite the `_perc` suffix; token and finished
  request counters.
- NVIDIA Triton (`nv_inference_` prefix, labels `model`, `version`): cumulative
  microsecond counters for request and queue duration, request success / failure,
  inference and execution counts (their ratio is the mean batch size), pending requests;
  optionally the first-response histogram (ms) and latency summaries (us).
- Hugging Face text-generation-inference (`tgi_` prefix; no model label: give the
  target a `model` label): request duration, queue duration and time-per-token
  histograms in seconds, token-count histograms whose sums are tokens, batch size
  and queue size gauges, success / failure counters.
- NVIDIA DCGM exporter (`DCGM_FI_` prefix, labels `gpu`, `UUID`): the same `gpu.*`
  series the agent reads from NVML, in NVML's units (DCGM reports % and MiB).

node_exporter's host metrics go through `producers.exporters.node` instead, into the
very `HostMetrics` converter the agent's psutil reading uses.

A `Rule` maps one exposed family; `how` says what is published:

| how | published |
|---|---|
| gauge | the value x scale (series aggregated by `agg`: sum or max) |
| rate | a counter's increase per second x scale (for a histogram or summary: its count) |
| total | a counter's current value x scale |
| latency | `NAME.p50`, `.p90`, `.p99` of the interval's observations and `NAME.mean` (x scale) |
| sum_rate | a histogram's or summary's sum, per second x scale (tokens from token counts) |

A `Ratio` divides the interval increases of counters (Triton's cumulative duration by
its request count is the mean latency of the interval's requests).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["DCGM", "EXPORTERS", "TGI", "TRITON", "VLLM", "Exporter", "Ratio", "Rule",
           "recognise"]

GAUGE, RATE, TOTAL, LATENCY, SUM_RATE = "gauge", "rate", "total", "latency", "sum_rate"
MIB = 1024.0 * 1024.0


@dataclass(frozen=True, slots=True)
class Rule:
    """One exposed family and the catalogue series it becomes."""

    family: str
    name: str
    how: str
    scale: float = 1.0
    agg: str = "sum"  # how series that differ only in dropped labels combine (gauges)


@dataclass(frozen=True, slots=True)
class Ratio:
    """NAME = (increase of numerators) / (increase of denominators) x scale."""

    name: str
    numerators: tuple[str, ...]
    denominators: tuple[str, ...]
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Exporter:
    """A recognised exporter: its families, how its labels map, what it publishes."""

    key: str
    title: str
    prefix: str
    labels: tuple[tuple[str, str], ...]  # exposed label -> rackwatch label; others summed away
    rules: tuple[Rule, ...]
    ratios: tuple[Ratio, ...] = ()


_MODEL = (("model_name", "model"), ("model", "model"), ("version", "model_version"))

VLLM = Exporter("vllm", "vLLM", "vllm:", _MODEL, (
    Rule("vllm:e2e_request_latency_seconds", "serving.request_latency_s", LATENCY),
    Rule("vllm:time_to_first_token_seconds", "serving.ttft_s", LATENCY),
    Rule("vllm:time_per_output_token_seconds", "serving.time_per_token_s", LATENCY),
    Rule("vllm:inter_token_latency_seconds", "serving.time_per_token_s", LATENCY),
    Rule("vllm:request_queue_time_seconds", "serving.queue_time_s", LATENCY),
    Rule("vllm:request_success", "serving.requests_per_s", RATE),
    Rule("vllm:generation_tokens", "serving.generation_tokens_per_s", RATE),
    Rule("vllm:prompt_tokens", "serving.prompt_tokens_per_s", RATE),
    Rule("vllm:num_requests_waiting", "serving.queue_depth", GAUGE),
    Rule("vllm:num_requests_running", "serving.batch_size", GAUGE),
    Rule("vllm:gpu_cache_usage_perc", "serving.kv_cache.usage", GAUGE, agg="max"),
    Rule("vllm:kv_cache_usage_perc", "serving.kv_cache.usage", GAUGE, agg="max"),
))

TRITON = Exporter("triton", "NVIDIA Triton", "nv_inference_", _MODEL, (
    Rule("nv_inference_request_success", "serving.requests_per_s", RATE),
    Rule("nv_inference_request_failure", "serving.requests_per_s", RATE),
    Rule("nv_inference_request_failure", "serving.errors_per_s", RATE),
    Rule("nv_inference_pending_request_count", "serving.queue_depth", GAUGE),
    Rule("nv_inference_first_response_histogram_ms", "serving.ttft_s", LATENCY, 1e-3),
    Rule("nv_inference_request_summary_us", "serving.request_latency_s", LATENCY, 1e-6),
    Rule("nv_inference_queue_summary_us", "serving.queue_time_s", LATENCY, 1e-6),
), ratios=(
    Ratio("serving.request_latency_s.mean", ("nv_inference_request_duration_us",),
          ("nv_inference_request_success", "nv_inference_request_failure"), 1e-6),
    Ratio("serving.queue_time_s.mean", ("nv_inference_queue_duration_us",),
          ("nv_inference_request_success", "nv_inference_request_failure"), 1e-6),
    Ratio("serving.batch_size", ("nv_inference_count",), ("nv_inference_exec_count",)),
))

TGI = Exporter("tgi", "text-generation-inference", "tgi_", _MODEL, (
    Rule("tgi_request_duration", "serving.request_latency_s", LATENCY),
    Rule("tgi_request_queue_duration", "serving.queue_time_s", LATENCY),
    Rule("tgi_request_mean_time_per_token_duration", "serving.time_per_token_s", LATENCY),
    Rule("tgi_request_success", "serving.requests_per_s", RATE),
    Rule("tgi_request_failure", "serving.requests_per_s", RATE),
    Rule("tgi_request_failure", "serving.errors_per_s", RATE),
    Rule("tgi_request_generated_tokens", "serving.generation_tokens_per_s", SUM_RATE),
    Rule("tgi_request_input_length", "serving.prompt_tokens_per_s", SUM_RATE),
    Rule("tgi_queue_size", "serving.queue_depth", GAUGE),
    Rule("tgi_batch_current_size", "serving.batch_size", GAUGE),
))

DCGM = Exporter("dcgm", "DCGM exporter", "DCGM_FI_", (("gpu", "gpu"), ("UUID", "uuid")), (
    Rule("DCGM_FI_DEV_GPU_UTIL", "gpu.utilization", GAUGE, 0.01, "max"),
    Rule("DCGM_FI_DEV_MEM_COPY_UTIL", "gpu.mem.utilization", GAUGE, 0.01, "max"),
    Rule("DCGM_FI_DEV_FB_USED", "gpu.mem.used_bytes", GAUGE, MIB, "max"),
    Rule("DCGM_FI_DEV_FB_USED", "gpu.mem.total_bytes", GAUGE, MIB, "max"),
    Rule("DCGM_FI_DEV_FB_FREE", "gpu.mem.total_bytes", GAUGE, MIB, "max"),
    Rule("DCGM_FI_DEV_FB_RESERVED", "gpu.mem.total_bytes", GAUGE, MIB, "max"),
    Rule("DCGM_FI_DEV_GPU_TEMP", "gpu.temperature", GAUGE, agg="max"),
    Rule("DCGM_FI_DEV_POWER_USAGE", "gpu.power_watts", GAUGE, agg="max"),
    Rule("DCGM_FI_DEV_POWER_MGMT_LIMIT", "gpu.power_limit_watts", GAUGE, agg="max"),
    Rule("DCGM_FI_DEV_SM_CLOCK", "gpu.sm_clock_mhz", GAUGE, agg="max"),
    Rule("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "gpu.ecc.sbe_volatile", TOTAL),
    Rule("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "gpu.ecc.dbe_volatile", TOTAL),
    Rule("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "gpu.ecc.sbe_per_s", RATE),
    Rule("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "gpu.ecc.dbe_per_s", RATE),
    Rule("DCGM_FI_DEV_RETIRED_SBE", "gpu.retired_pages", TOTAL),
    Rule("DCGM_FI_DEV_RETIRED_DBE", "gpu.retired_pages", TOTAL),
    Rule("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "gpu.remapped_rows", TOTAL),
    Rule("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "gpu.remapped_rows", TOTAL),
    Rule("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gpu.remap_failure", GAUGE, agg="max"),
    Rule("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "gpu.pcie_replay_per_s", RATE),
    Rule("DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL", "gpu.nvlink_errors_per_s", RATE),
    Rule("DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL", "gpu.nvlink_errors_per_s", RATE),
))

# Families the converter handles itself (edges and bitmasks, see producers.exporters.reader).
DCGM_XID = "DCGM_FI_DEV_XID_ERRORS"
DCGM_THROTTLE = ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS")

EXPORTERS: tuple[Exporter, ...] = (VLLM, TRITON, TGI, DCGM)


def recognise(families: Collection[str]) -> list[Exporter]:
    """The exporters whose families appear among `families` (one endpoint may serve
    several: a Triton server also exposes GPU metrics, a pod may merge exporters)."""
    return [e for e in EXPORTERS if any(r.family in families for r in e.rules)
            or any(n in families for r in e.ratios for n in r.numerators)]
