"""Each recognised exporter's exposition (tests/data/exporters) into catalogue samples.

The expected figures are hand computations of the interval the fixtures describe
(tests/data/exporters/README.md), not copies of the code's output.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from producers.exporters.exposition import parse
from producers.exporters.reader import ReaderOptions, Reading, TargetReader
from schemas.catalogue import CATALOGUE

DATA = Path(__file__).resolve().parents[2] / "data" / "exporters"
DT = 10.0


def scrape_pair(name: str, **options: Any) -> tuple[Reading, Reading]:
    """The reader's output for the fixture's first and second scrape."""
    reader = TargetReader(ReaderOptions(name=name, **options))
    first = reader.read(parse((DATA / f"{name}.1.txt").read_text()), 1_700_000_000.0)
    second = reader.read(parse((DATA / f"{name}.2.txt").read_text()), 1_700_000_000.0 + DT)
    return first, second


def values(reading: Reading, **labels: str) -> dict[str, float]:
    """name -> value of the samples whose labels include `labels`."""
    out = {}
    for s in reading.samples:
        have = s.get("labels", {})
        if all(have.get(k) == v for k, v in labels.items()):
            out[s["name"]] = s["value"]
    return out


class TestVllm:
    """vLLM: latency histograms into interval quantiles, counters into rates."""

    def test_first_scrape_publishes_only_what_stands(self) -> None:
        """Without a previous scrape there is no interval: gauges only."""
        first, _ = scrape_pair("vllm")
        names = {s["name"] for s in first.samples}
        assert names == {"serving.batch_size", "serving.queue_depth", "serving.kv_cache.usage",
                         "vllm:num_requests_swapped", "vllm:cpu_cache_usage_perc"}

    def test_interval_latency_quantiles_and_mean(self) -> None:
        """40 requests: p50 1.5, p90 2 + 0.5 * 4/6, p99 4.5 (see the intervals test),
        mean (4*0.9 + 16*1.2 + 12*1.8 + 6*2.2 + 2*3.0) / 40."""
        _, second = scrape_pair("vllm")
        v = values(second, model="meta-llama/Llama-3.1-8B-Instruct", replica="vllm")
        assert v["serving.request_latency_s.p50"] == pytest.approx(1.5)
        assert v["serving.request_latency_s.p90"] == pytest.approx(2 + 0.5 * 4 / 6)
        assert v["serving.request_latency_s.p99"] == pytest.approx(4.5)
        mean = (4 * 0.9 + 16 * 1.2 + 12 * 1.8 + 6 * 2.2 + 2 * 3.0) / 40
        assert v["serving.request_latency_s.mean"] == pytest.approx(mean)

    def test_time_to_first_token(self) -> None:
        """TTFT 10 x 0.03, 20 x 0.07, 6 x 0.3, 4 x 0.9 s: the (0.06, 0.08] bucket holds
        ranks 11-30, so the median, rank 20, lies 10 of its 20 in: 0.06 + 0.02 * 10/20."""
        _, second = scrape_pair("vllm")
        v = values(second)
        assert v["serving.ttft_s.p50"] == pytest.approx(0.06 + 0.02 * 10 / 20)
        # p99: rank 39.6 in (0.75, 1.0] holding the last 4: 0.75 + 0.25 * 3.6 / 4
        assert v["serving.ttft_s.p99"] == pytest.approx(0.75 + 0.25 * 3.6 / 4)

    def test_throughput_and_load(self) -> None:
        """38 + 2 finished requests, 20,480 prompt and 7,200 generated tokens in 10 s."""
        _, second = scrape_pair("vllm")
        v = values(second)
        assert v["serving.requests_per_s"] == pytest.approx(40 / DT)
        assert v["serving.prompt_tokens_per_s"] == pytest.approx(20_480 / DT)
        assert v["serving.generation_tokens_per_s"] == pytest.approx(7_200 / DT)
        assert (v["serving.batch_size"], v["serving.queue_depth"],
                v["serving.kv_cache.usage"]) == (30.0, 5.0, 0.47)

    def test_labels_model_and_replica(self) -> None:
        """`model_name` becomes `model`; the replica defaults to the target's name and the
        target's own labels win over the exporter's."""
        _, second = scrape_pair("vllm", labels={"model": "llama-8b", "rack_slot": "3"})
        serving = [s for s in second.samples if s["name"].startswith("serving.")]
        assert serving
        assert all(s.get("labels") == {"model": "llama-8b", "replica": "vllm", "rack_slot": "3"}
                   for s in serving)


class TestTriton:
    """Triton: cumulative microseconds over request counts, summaries, failures."""

    def test_means_from_cumulative_durations(self) -> None:
        """2,020,000 us over 404 requests is 5 ms; 121,200 us of queueing is 0.3 ms."""
        _, second = scrape_pair("triton")
        v = values(second, model="resnet50", model_version="1")
        assert v["serving.request_latency_s.mean"] == pytest.approx(2_020_000 / 404 * 1e-6)
        assert v["serving.queue_time_s.mean"] == pytest.approx(121_200 / 404 * 1e-6)

    def test_requests_errors_batch(self) -> None:
        """400 successes + 4 failures in 10 s; 1,600 inferences in 400 executions."""
        _, second = scrape_pair("triton")
        v = values(second, model="resnet50")
        assert v["serving.requests_per_s"] == pytest.approx(404 / DT)
        assert v["serving.errors_per_s"] == pytest.approx(4 / DT)
        assert v["serving.error_ratio"] == pytest.approx(4 / 404)
        assert v["serving.batch_size"] == pytest.approx(4.0)
        assert v["serving.queue_depth"] == 3.0

    def test_summary_quantiles_in_seconds(self) -> None:
        """The request summary's quantiles are microseconds as exposed."""
        _, second = scrape_pair("triton")
        v = values(second)
        assert v["serving.request_latency_s.p50"] == pytest.approx(3512e-6)
        assert v["serving.request_latency_s.p99"] == pytest.approx(11870e-6)

    def test_gpu_families_pass_through_under_their_own_names(self) -> None:
        """Triton's GPU gauges are not catalogued: own names, own labels; its energy
        counter becomes a rate (2,216 J in 10 s)."""
        _, second = scrape_pair("triton")
        v = values(second)
        assert v["nv_gpu_utilization"] == 0.41
        assert v["nv_energy_consumption_per_s"] == pytest.approx(2216 / DT)


class TestTgi:
    """text-generation-inference: geometric buckets, token histograms summed."""

    def test_latency_in_geometric_buckets(self) -> None:
        """30 requests, 20 at 1.4 s: rank 15 falls in the router's bucket
        (0.0001 * 1.5^23, 0.0001 * 1.5^24], 15 of 20 of the way up."""
        _, second = scrape_pair("tgi")
        lo, hi = 0.0001 * 1.5 ** 23, 0.0001 * 1.5 ** 24
        assert lo < 1.4 <= hi
        v = values(second, replica="tgi")
        assert v["serving.request_latency_s.p50"] == pytest.approx(lo + (hi - lo) * 15 / 20)
        assert v["serving.request_latency_s.mean"] == pytest.approx(
            (20 * 1.4 + 8 * 2.6 + 2 * 7.0) / 30)

    def test_tokens_from_histogram_sums(self) -> None:
        """Generated tokens are the token histogram's sum per second."""
        _, second = scrape_pair("tgi")
        v = values(second)
        assert v["serving.generation_tokens_per_s"] == pytest.approx((24 * 120 + 6 * 400) / DT)
        assert v["serving.prompt_tokens_per_s"] == pytest.approx(30 * 300 / DT)

    def test_failures_and_gauges(self) -> None:
        """28 successes and 2 failures; queue and batch as exposed."""
        _, second = scrape_pair("tgi")
        v = values(second)
        assert v["serving.requests_per_s"] == pytest.approx(30 / DT)
        assert v["serving.error_ratio"] == pytest.approx(2 / 30)
        assert (v["serving.queue_depth"], v["serving.batch_size"]) == (4.0, 12.0)


class TestDcgm:
    """DCGM exporter: NVML's series in NVML's units, XIDs as events."""

    GPU1 = {"gpu": "1", "uuid": "GPU-6e2f3a4b-9c8d-4e7f-a01b-2c3d4e5f6071"}

    def test_units_become_the_catalogues(self) -> None:
        """Percent to fractions, MiB to bytes, total = used + free + reserved."""
        _, second = scrape_pair("dcgm")
        v = values(second, **self.GPU1)
        assert v["gpu.utilization"] == pytest.approx(0.97)
        assert v["gpu.mem.used_bytes"] == 71888 * 2 ** 20
        assert v["gpu.mem.total_bytes"] == (71888 + 8743 + 561) * 2 ** 20
        assert v["gpu.mem.usage"] == pytest.approx(71888 / (71888 + 8743 + 561), abs=1e-5)
        assert (v["gpu.temperature"], v["gpu.sm_clock_mhz"]) == (88.0, 1155.0)

    def test_throttle_flags_from_the_reasons_bitmask(self) -> None:
        """0x20 is software thermal slowdown, as NVML's bits say."""
        _, second = scrape_pair("dcgm")
        v = values(second, **self.GPU1)
        assert (v["gpu.throttle_reasons"], v["gpu.throttle.thermal"],
                v["gpu.throttle.power"]) == (32.0, 1.0, 0.0)

    def test_xid_is_an_event_not_a_level(self) -> None:
        """The last-XID field changing to 79 is one `gpu.xid`; the first scrape, whatever
        it holds, is none."""
        first, second = scrape_pair("dcgm")
        assert [s for s in first.samples if s["name"] == "gpu.xid"] == []
        xids = [s for s in second.samples if s["name"] == "gpu.xid"]
        assert [(x["value"], x.get("labels")) for x in xids] == [(79.0, self.GPU1)]

    def test_ecc_counter_and_its_rate(self) -> None:
        """3 -> 5 single-bit errors: the total as it stands, 0.2 per second."""
        _, second = scrape_pair("dcgm")
        v = values(second, gpu="0")
        assert v["gpu.ecc.sbe_volatile"] == 5.0
        assert v["gpu.ecc.sbe_per_s"] == pytest.approx(0.2)

    def test_only_gpu_and_uuid_label_catalogued_series(self) -> None:
        """Pod, host name and driver labels would split a GPU's series when pods move."""
        _, second = scrape_pair("dcgm")
        for s in second.samples:
            if s["name"] in CATALOGUE:
                assert set(s.get("labels", {})) == {"gpu", "uuid"}


class TestNodeExporter:
    """node_exporter: the same host samples the psutil reader gives."""

    def test_cpu_fractions_from_mode_seconds(self) -> None:
        """CPU 0 is busy 5 of 10 s, CPU 1 2 of 10 s: 7 of 20 in all; user 5.5, system
        0.8 + 0.5 + 0.2 of softirq (counted as system), iowait 0.5."""
        _, second = scrape_pair("node")
        v = values(second)
        assert v["cpu.usage"] == pytest.approx(7 / 20)
        assert v["cpu.user"] == pytest.approx(5.5 / 20)
        assert v["cpu.system"] == pytest.approx(1.5 / 20)
        assert v["cpu.iowait"] == pytest.approx(0.5 / 20)
        assert values(second, cpu="0")["cpu.core.usage"] == pytest.approx(0.5)

    def test_disks_and_networks_skip_what_psutil_skips(self) -> None:
        """Partitions, loop devices and `lo` are left out; rates per second."""
        _, second = scrape_pair("node")
        devices = {s["labels"].get("device") for s in second.samples
                   if s["name"].startswith("disk.")}
        assert devices == {"nvme0n1"}
        v = values(second, device="nvme0n1")
        assert (v["disk.read_bytes_per_s"], v["disk.busy"]) == (5e7, 0.25)
        assert values(second, interface="eth0")["net.rx_bytes_per_s"] == 1.25e8
        assert not any(s.get("labels", {}).get("interface") == "lo" for s in second.samples)

    def test_filesystems_and_memory(self) -> None:
        """df's usage: used / (used + available); tmpfs is skipped."""
        _, second = scrape_pair("node")
        assert values(second, mount="/")["fs.usage"] == pytest.approx(
            300e9 / (300e9 + 175e9), abs=1e-5)
        assert not values(second, mount="/run")
        assert values(second)["mem.usage"] == pytest.approx(1 - 39 / 64, abs=1e-5)

    def test_node_families_beyond_the_host_samples_are_left_out_by_default(self) -> None:
        """Thousands of node_* series would flood the store; they pass only when asked."""
        _, second = scrape_pair("node", exclude=("go_*", "node_*"))
        assert "node_hwmon_temp_celsius" not in values(second)
        _, second = scrape_pair("node", exclude=("go_*",))
        assert values(second)["node_hwmon_temp_celsius"] == 48.0


class TestPassThrough:
    """Unrecognised families: own names, bounded in count, include / exclude."""

    def test_bound_admits_the_first_and_counts_the_rest(self) -> None:
        """With room for one series, the others are dropped every scrape, and the
        admitted one stays admitted."""
        first, second = scrape_pair("triton", max_series=1)
        passed = [s["name"] for s in second.samples if not s["name"].startswith("serving.")]
        assert len(passed) == 1 and second.dropped >= 2
        assert passed[0] in {s["name"] for s in first.samples}

    def test_include_and_exclude_globs(self) -> None:
        """Only included, not excluded families pass."""
        _, second = scrape_pair("triton", include=("nv_gpu_*",), exclude=("nv_gpu_power*",))
        passed = {s["name"] for s in second.samples if not s["name"].startswith("serving.")}
        assert passed == {"nv_gpu_utilization", "nv_gpu_memory_used_bytes"}

    def test_histogram_passes_as_quantiles_mean_and_rate(self) -> None:
        """An unknown histogram becomes NAME.p50/.p90/.p99/.mean and NAME.count_per_s."""
        body = "# TYPE job_seconds histogram\njob_seconds_bucket{{le=\"1\"}} {a}\n" \
               "job_seconds_bucket{{le=\"+Inf\"}} {a}\njob_seconds_sum {s}\njob_seconds_count {a}\n"
        reader = TargetReader(ReaderOptions(name="t"))
        reader.read(parse(body.format(a=0, s=0)), 0.0)
        out = reader.read(parse(body.format(a=4, s=2.0)), 2.0)
        v = {s["name"]: s["value"] for s in out.samples}
        assert v == {"job_seconds.p50": 0.5, "job_seconds.p90": 0.9, "job_seconds.p99": 0.99,
                     "job_seconds.mean": 0.5, "job_seconds.count_per_s": 2.0}


class TestRobustness:
    """What must never reach a batch, and restarts."""

    def test_non_finite_values_are_not_published(self) -> None:
        """A NaN gauge or quantile would dead-letter the whole batch downstream."""
        reader = TargetReader(ReaderOptions(name="t"))
        out = reader.read(parse("a NaN\nb +Inf\nc 1\n"), 0.0)
        assert [s["name"] for s in out.samples] == ["c"]

    def test_exporter_restart_is_a_new_baseline(self) -> None:
        """A new process start time: every counter started again, even one that has
        already grown past its old value, so no rate for that interval."""
        body = "process_start_time_seconds {start}\n# TYPE vllm:request_success_total counter\n" \
               'vllm:request_success_total{{model_name="m"}} {n}\n'
        reader = TargetReader(ReaderOptions(name="t"))
        reader.read(parse(body.format(start=100, n=50)), 0.0)
        restarted = reader.read(parse(body.format(start=200, n=60)), 10.0)
        assert "serving.requests_per_s" not in {s["name"] for s in restarted.samples}
        after = reader.read(parse(body.format(start=200, n=70)), 20.0)
        assert values(after)["serving.requests_per_s"] == pytest.approx(1.0)

    def test_every_catalogued_name_is_in_range(self) -> None:
        """All fixtures together: catalogued samples respect the catalogue's bounds."""
        for name in ("vllm", "triton", "tgi", "dcgm", "node"):
            for reading in scrape_pair(name):
                for s in reading.samples:
                    spec = CATALOGUE.get(s["name"])
                    if spec is not None:
                        assert spec.lo <= s["value"] <= spec.hi, s
                    assert math.isfinite(s["value"])
