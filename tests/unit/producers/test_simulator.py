"""The simulated fleet: determinism, realistic shape, and the evidence each fault leaves."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from producers.simulator import KINDS, Fleet, SimOptions, run_simulator
from schemas.catalogue import CATALOGUE
from schemas.ids import LOGS, METRICS

ORIGIN = 1_700_000_000_000


def fleet(faults: str = "", hosts: int = 48, interval: float = 10.0, seed: int = 3,
          **kw: Any) -> Fleet:
    return Fleet(SimOptions(hosts=hosts, interval_s=interval, seed=seed, faults=faults, **kw),
                 origin_ms=ORIGIN)


def run(f: Fleet, seconds: float) -> list[dict[str, Any]]:
    steps = int(seconds * 1000 // f.interval_ms)
    return [dict(e) for e in f.events(steps)]


def metric(events: list[dict[str, Any]], host: str, name: str,
           labels: dict[str, str] | None = None) -> list[tuple[int, float]]:
    out = []
    for e in events:
        if e["schema"] == METRICS and e["host"] == host:
            for s in e["samples"]:
                if s["name"] == name and (labels is None or s.get("labels") == labels):
                    out.append((e["ts"], s["value"]))
    return out


def logs(events: list[dict[str, Any]], host: str | None = None) -> list[dict[str, Any]]:
    return [e for e in events if e["schema"] == LOGS and (host is None or e["host"] == host)]


def one(f: Fleet) -> dict[str, Any]:
    (entry,) = f.manifest()
    return entry


class TestDeterminism:
    def test_same_seed_same_bytes(self) -> None:
        """Two runs with one seed produce identical bytes, faults included."""
        a = b"".join(orjson.dumps(e) for e in fleet("all", hosts=40).events(60))
        b = b"".join(orjson.dumps(e) for e in fleet("all", hosts=40).events(60))
        assert a == b

    def test_other_seed_other_bytes(self) -> None:
        """Another seed gives another fleet."""
        a = [orjson.dumps(e) for e in fleet(seed=1).events(3)]
        b = [orjson.dumps(e) for e in fleet(seed=2).events(3)]
        assert a != b


class TestShape:
    def test_event_time_order(self) -> None:
        """Metrics and logs come interleaved in non-decreasing event time."""
        ts = [e["ts"] for e in fleet("demo", interval=2).events(120)]
        assert ts == sorted(ts)

    def test_labels_and_sample_counts(self) -> None:
        """Every host carries rack, cluster, zone, role; batches hold ~60-155 samples, a
        serving host's up to 200 (two replicas' serving series on top)."""
        events = run(fleet(hosts=100), 30)
        batches = [e for e in events if e["schema"] == METRICS]
        assert len({e["host"] for e in batches}) == 100
        for b in batches:
            assert {"rack", "cluster", "zone", "role"} <= set(b["labels"])
            serving = any(s["name"].startswith("serving.") for s in b["samples"])
            assert 60 <= len(b["samples"]) <= (200 if serving else 160)
            assert b["interval_ms"] == 10_000

    def test_gpu_hosts_have_eight_gpus_and_catalogued_names(self) -> None:
        """GPU hosts report gpu="0".."7" with catalogued metric names only."""
        events = run(fleet(), 20)
        gpu_batch = next(e for e in events
                         if e["schema"] == METRICS and e["labels"]["role"] == "gpu")
        gpus = {s["labels"]["gpu"] for s in gpu_batch["samples"] if "gpu" in s.get("labels", {})}
        assert gpus == {str(i) for i in range(8)}
        names = {s["name"] for e in events if e["schema"] == METRICS for s in e["samples"]}
        assert names <= set(CATALOGUE)

    def test_seq_increases_per_host_and_stream(self) -> None:
        """Metric and log seqs each increase by one per host."""
        events = run(fleet("nic_errors@0s:5m"), 300)
        seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
        for e in events:
            seqs[(e["schema"], e["host"])].append(e["seq"])
        for s in seqs.values():
            assert s == list(range(1, len(s) + 1))

    def test_values_within_catalogue_bounds(self) -> None:
        """No simulated value leaves the physical range the catalogue allows."""
        for e in run(fleet("all", hosts=40), 1500):
            if e["schema"] == METRICS:
                for s in e["samples"]:
                    spec = CATALOGUE[s["name"]]
                    assert spec.lo <= s["value"] <= spec.hi, s

    def test_training_correlates_gpu_power_and_temperature(self) -> None:
        """A busy GPU draws more power and runs hotter than an idle one."""
        events = run(fleet(hosts=64), 120)
        rows = [(s["value"], s["name"], e["host"], s["labels"]["gpu"])
                for e in events if e["schema"] == METRICS for s in e["samples"]
                if s["name"] in ("gpu.utilization", "gpu.power_watts", "gpu.temperature")]
        by: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for v, name, host, gpu in rows:
            by[(host, gpu)][name] = v
        busy = [d for d in by.values() if d["gpu.utilization"] > 0.8]
        idle = [d for d in by.values() if d["gpu.utilization"] == 0.0]
        assert busy and idle
        assert min(d["gpu.power_watts"] for d in busy) > max(d["gpu.power_watts"] for d in idle)
        assert min(d["gpu.temperature"] for d in busy) > max(d["gpu.temperature"] for d in idle)


class TestManifest:
    def test_every_kind_resolves_with_the_documented_shape(self) -> None:
        """The 'all' scenario injects each kind once; entries have the contract's fields."""
        f = fleet("all", hosts=160)
        entries = f.manifest()
        assert sorted(e["kind"] for e in entries) == sorted(KINDS)
        for e in entries:
            assert set(e) == {"kind", "hosts", "rack", "start_ms", "end_ms", "details"}
            assert e["hosts"] and e["start_ms"] < e["end_ms"]
            assert e["rack"] == e["hosts"][0].split("-")[0]

    def test_targets_can_be_named(self) -> None:
        """host=, gpu= and rack= pick exactly those."""
        f = fleet("gpu_xid_48(host=r00-gpu02,gpu=5)@1m, rack_power(rack=r01)@2m:1m")
        xid, rack = f.manifest()
        assert (xid["hosts"], xid["details"]["gpu"]) == (["r00-gpu02"], 5)
        assert rack["rack"] == "r01" and len(rack["hosts"]) == 16
        assert xid["start_ms"] == ORIGIN + 60_000


XID = re.compile(r"NVRM: Xid \(PCI:(?P<pci>[0-9a-f:]+)\): (?P<xid>\d+), pid=\d+, name=\w+, ")


class TestFaultEvidence:
    def test_cpu_saturation(self) -> None:
        """cpu.usage sits near 1 during the fault, not before or after."""
        f = fleet("cpu_saturation@1m:2m")
        e = one(f)
        values = metric(run(f, 300), e["hosts"][0], "cpu.usage")
        inside = [v for t, v in values if e["start_ms"] <= t < e["end_ms"]]
        outside = [v for t, v in values if t < e["start_ms"] or t > e["end_ms"] + 10_000]
        assert min(inside) > 0.95 and max(outside) < 0.9

    def test_memory_leak_climbs_then_oom(self) -> None:
        """mem.usage climbs to the limit, then the OOM killer's lines appear."""
        f = fleet("memory_leak@1m:5m")
        e = one(f)
        events = run(f, 420)
        host = e["hosts"][0]
        inside = [v for t, v in metric(events, host, "mem.usage")
                  if e["start_ms"] <= t < e["end_ms"]]
        assert inside == sorted(inside) and inside[-1] > 0.97
        oom = [lg for lg in logs(events, host) if "Out of memory: Killed process" in lg["message"]]
        assert len(oom) == 1 and oom[0]["ts"] == e["end_ms"]
        after = [v for t, v in metric(events, host, "mem.usage") if t > e["end_ms"] + 10_000]
        assert max(after) < 0.9

    def test_slow_disk(self) -> None:
        """The device is ~fully busy while moving under 50 MB/s, and the kernel complains."""
        f = fleet("slow_disk@1m:3m")
        e = one(f)
        host, dev = e["hosts"][0], e["details"]["device"]
        events = run(f, 300)
        busy = dict(metric(events, host, "disk.busy", {"device": dev}))
        rd = dict(metric(events, host, "disk.read_bytes_per_s", {"device": dev}))
        wr = dict(metric(events, host, "disk.write_bytes_per_s", {"device": dev}))
        window = [t for t in busy if e["start_ms"] <= t < e["end_ms"]]
        assert window
        for t in window:
            assert busy[t] >= 0.9 and rd[t] + wr[t] < 50e6
        assert any("timeout, aborting" in lg["message"] for lg in logs(events, host))

    def test_nic_errors_and_flaps(self) -> None:
        """Errors per second appear and the link flaps, with kernel link messages."""
        f = fleet("nic_errors@30s:4m")
        e = one(f)
        host, nic = e["hosts"][0], e["details"]["interface"]
        events = run(f, 330)
        errs = [v for t, v in metric(events, host, "net.rx_errors_per_s", {"interface": nic})
                if e["start_ms"] <= t < e["end_ms"]]
        link = [v for t, v in metric(events, host, "net.link_up", {"interface": nic})]
        assert min(errs) > 0
        assert 0.0 in link and link[-1] == 1.0
        text = [lg["message"] for lg in logs(events, host)]
        assert any("Link down" in m for m in text) and any("Link up" in m for m in text)

    def test_xid_79_gpu_falls_off_the_bus(self) -> None:
        """The NVRM line appears with the GPU's PCI address; that GPU's samples stop."""
        f = fleet("gpu_xid_79@1m:3m")
        e = one(f)
        host, gpu = e["hosts"][0], str(e["details"]["gpu"])
        events = run(f, 360)
        lines = [XID.search(lg["message"]) for lg in logs(events, host)]
        hits = [m for m in lines if m]
        assert [(m["pci"], m["xid"]) for m in hits] == [(e["details"]["pci"], "79")]
        util = dict(metric(events, host, "gpu.utilization", {"gpu": gpu}))
        assert not [t for t in util if e["details"]["xid_ms"] < t < e["end_ms"]]
        assert [t for t in util if t > e["end_ms"]]
        assert metric(events, host, "gpu.xid", {"gpu": gpu})[0][1] == 79.0

    def test_xid_48_double_bit_ecc(self) -> None:
        """The DBE counter steps up with the XID 48 line, and its rate shows one interval."""
        f = fleet("gpu_xid_48@1m:2m")
        e = one(f)
        host, gpu = e["hosts"][0], str(e["details"]["gpu"])
        events = run(f, 240)
        dbe = [v for _, v in metric(events, host, "gpu.ecc.dbe_volatile", {"gpu": gpu})]
        assert dbe[0] == 0.0 and max(dbe) == 1.0
        rate = [v for _, v in metric(events, host, "gpu.ecc.dbe_per_s", {"gpu": gpu})]
        assert [v for v in rate if v > 0] == [0.1]  # one error in a 10 s interval
        assert any("double bit error (DBE)" in lg["message"] for lg in logs(events, host))

    def test_xid_63_and_64_row_remapping(self) -> None:
        """63 adds a remapped row; 64 raises the remap failure flag."""
        f = fleet("gpu_xid_63@1m:2m, gpu_xid_64@1m:2m")
        e63, e64 = f.manifest()
        events = run(f, 200)
        rows = metric(events, e63["hosts"][0], "gpu.remapped_rows",
                      {"gpu": str(e63["details"]["gpu"])})
        assert rows[0][1] == 0.0 and rows[-1][1] == 1.0
        fail = metric(events, e64["hosts"][0], "gpu.remap_failure",
                      {"gpu": str(e64["details"]["gpu"])})
        assert fail and all(v == 1.0 for _, v in fail)

    def test_xid_74_nvlink(self) -> None:
        """NVLink errors rise ahead of the XID 74 line."""
        f = fleet("gpu_xid_74(lead=1m)@1m:3m")
        e = one(f)
        host, gpu = e["hosts"][0], str(e["details"]["gpu"])
        events = run(f, 300)
        before = [v for t, v in metric(events, host, "gpu.nvlink_errors_per_s", {"gpu": gpu})
                  if e["start_ms"] <= t < e["details"]["xid_ms"]]
        assert before and min(before) > 0
        line = next(lg for lg in logs(events, host) if XID.search(lg["message"]))
        assert "NVLink: fatal error" in line["message"]
        assert line["ts"] == e["details"]["xid_ms"]

    def test_thermal_throttling_before_the_xid(self) -> None:
        """Temperature climbs and thermal throttling holds for minutes before the XID."""
        f = fleet("gpu_thermal_xid(lead=4m)@1m:8m")
        e = one(f)
        host, gpu = e["hosts"][0], str(e["details"]["gpu"])
        events = run(f, 600)
        temp = metric(events, host, "gpu.temperature", {"gpu": gpu})
        throttle = metric(events, host, "gpu.throttle.thermal", {"gpu": gpu})
        x = e["details"]["xid_ms"]
        assert max(v for t, v in temp if t < x) > max(v for t, v in temp if t < e["start_ms"]) + 8
        throttled = [t for t, v in throttle if v == 1.0 and t < x]
        assert throttled and x - min(throttled) >= 60_000
        assert not [t for t, v in throttle if v == 1.0 and t < e["start_ms"]]
        clocks = [v for t, v in metric(events, host, "gpu.sm_clock_mhz", {"gpu": gpu})
                  if t in set(throttled)]
        assert max(clocks) < 1980

    def test_power_throttling_variant(self) -> None:
        """cause=power pins power at the limit with the power throttle flag set."""
        f = fleet("gpu_thermal_xid(cause=power, lead=2m)@1m:4m")
        e = one(f)
        host, gpu = e["hosts"][0], str(e["details"]["gpu"])
        events = run(f, 240)
        flags = [v for t, v in metric(events, host, "gpu.throttle.power", {"gpu": gpu})
                 if e["start_ms"] <= t < e["details"]["xid_ms"]]
        assert flags and set(flags) == {1.0}

    def test_nccl_timeout_in_every_rank(self) -> None:
        """All ranks of the job log the watchdog timeout, labelled with the job; GPUs idle."""
        f = fleet("nccl_timeout(timeout=2m)@1m:4m", hosts=96)
        e = one(f)
        events = run(f, 360)
        job = e["details"]["job"]
        lines = [lg for lg in logs(events) if "Watchdog caught collective operation timeout"
                 in lg["message"]]
        assert {lg["host"] for lg in lines} == set(e["hosts"])
        assert len(lines) == e["details"]["ranks"]
        assert all(lg["labels"]["job"] == job for lg in lines)
        ranks = sorted(int(lg["labels"]["rank"]) for lg in lines)
        assert ranks == list(range(e["details"]["ranks"]))
        assert "Timeout(ms)=120000) ran for 120" in lines[0]["message"]
        util = [v for t, v in metric(events, e["hosts"][0], "gpu.utilization", {"gpu": "0"})
                if e["start_ms"] + 10_000 <= t < e["end_ms"]]
        assert max(util) < 0.05

    def test_rack_power_silence_and_reboot(self) -> None:
        """A rack goes silent together and returns with uptime reset and boot messages."""
        f = fleet("rack_power@1m:2m")
        e = one(f)
        events = run(f, 300)
        for host in e["hosts"]:
            ts = [t for t, _ in metric(events, host, "host.uptime_s")]
            assert not [t for t in ts if e["start_ms"] <= t < e["end_ms"]]
            after = [v for t, v in metric(events, host, "host.uptime_s") if t >= e["end_ms"]]
            assert after[0] < 60
            assert any("Linux version" in lg["message"] for lg in logs(events, host))

    def test_rack_switch_errors_together(self) -> None:
        """Every host of the rack shows errors and link flaps at the same time."""
        f = fleet("rack_switch@30s:3m")
        e = one(f)
        events = run(f, 240)
        for host in e["hosts"]:
            errs = [v for t, v in metric(events, host, "net.rx_errors_per_s",
                                         {"interface": "eth0"})
                    if e["start_ms"] <= t < e["end_ms"]]
            assert min(errs) > 0
        downs = {lg["ts"] // 1000 for lg in logs(events) if "Link down" in lg["message"]}
        assert len(downs) < len(e["hosts"])  # the same moments, not one per host

    def test_host_silent(self) -> None:
        """A silent host publishes nothing during the fault, then resumes."""
        f = fleet("host_silent@1m:1m")
        e = one(f)
        events = run(f, 200)
        mine = [ev["ts"] for ev in events if ev["host"] == e["hosts"][0]]
        assert not [t for t in mine if e["start_ms"] <= t < e["end_ms"]]
        assert [t for t in mine if t > e["end_ms"]]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_alone_runs(kind: str) -> None:
    """Every fault kind can be injected on its own with its defaults."""
    f = fleet(f"{kind}@20s", hosts=40)
    assert len(list(f.events(10))) > 0


class TestEpoch:
    def test_each_run_to_kafka_is_a_new_epoch(self, tmp_path: Path) -> None:
        """Two runs of one seed publish under two epochs, so the second is not dropped as
        duplicates of the first; a file output carries none (same seed, same bytes)."""
        from common.config import Config
        from tests.unit.producers.test_agent import Memory

        cfg = Config(home=tmp_path)
        opts = SimOptions(hosts=3, batches=2, seed=1)
        runs = [Memory(), Memory()]
        for t in runs:
            asyncio.run(run_simulator(cfg, opts, stop=asyncio.Event(), transport=t))
        epochs = [{e["epoch"] for e in t.events(METRICS)} for t in runs]
        assert all(len(e) == 1 for e in epochs) and epochs[0] != epochs[1]
        assert all("epoch" not in e for e in Fleet(opts).events())
        pinned = SimOptions(hosts=3, batches=2, seed=1, epoch="fixed")
        assert {e["epoch"] for e in Fleet(pinned).events()} == {"fixed"}
