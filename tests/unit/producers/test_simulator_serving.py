"""The simulated fleet's model serving: who serves, what they publish, how faults show."""

from __future__ import annotations

from collections import defaultdict
from statistics import mean
from typing import Any

import orjson

from producers.simulator import Fleet, SimOptions
from schemas.catalogue import CATALOGUE
from schemas.ids import ALERT, METRICS
from streams.replay import replay_lines
from streams.rules import DEFAULT_RULES_PATH, load_rules

ORIGIN = 1_700_000_000_000


def fleet(faults: str = "", hosts: int = 48, seed: int = 3, **kw: Any) -> Fleet:
    return Fleet(SimOptions(hosts=hosts, interval_s=10, seed=seed, faults=faults, **kw),
                 origin_ms=ORIGIN)


def series(events: list[Any], host: str, name: str, **labels: str) -> list[tuple[int, float]]:
    """(ts, value) of one host's samples named `name` whose labels include `labels`."""
    out = []
    for e in events:
        if e["schema"] == METRICS and e["host"] == host:
            for s in e["samples"]:
                have = s.get("labels", {})
                if s["name"] == name and all(have.get(k) == v for k, v in labels.items()):
                    out.append((e["ts"], s["value"]))
    return out


class TestWhoServes:
    """A share of the GPU hosts serve models, in whole groups, four GPUs per replica."""

    def test_share_groups_and_replicas(self) -> None:
        """About a quarter of the training groups' hosts serve; they train no more; each
        replica holds four GPUs and its (model, replica) pair is unique."""
        topo = fleet(hosts=160).topology
        serving, training = set(topo.serving), set(topo.job_of)
        assert serving and not serving & training
        share = len(serving) / (len(serving) + len(training))
        assert 0.15 <= share <= 0.4
        pairs = [(r.model.name, r.replica) for reps in topo.serving.values() for r in reps]
        assert len(pairs) == len(set(pairs)) == 2 * len(serving)
        assert all(len(r.gpus) == 4 for reps in topo.serving.values() for r in reps)

    def test_no_serving_when_asked(self) -> None:
        """`serving=0` keeps every group training."""
        assert fleet(hosts=160, serving=0.0).topology.serving == {}

    def test_a_host_that_trains_either_way_sends_the_same_bytes(self) -> None:
        """Serving draws from its own generator: the training hosts are untouched."""
        with_serving, without = fleet(hosts=96), fleet(hosts=96, serving=0.0)
        host = next(iter(with_serving.topology.job_of))
        assert host in without.topology.job_of

        def batches(f: Fleet) -> list[bytes]:
            return [orjson.dumps(e) for e in f.events(6) if e["host"] == host]
        assert batches(with_serving) == batches(without)


class TestWhatTheyPublish:
    """The series an agent scraping vLLM would publish, catalogued and labelled."""

    def test_serving_series(self) -> None:
        """Every serving.* name is catalogued, with model and replica labels; each
        replica's scrape target reports up; latencies are ordered p50 <= p90 <= p99."""
        f = fleet()
        host = next(iter(f.topology.serving))
        batch: dict[str, Any] = [dict(e) for e in f.events(3)
                                 if e["schema"] == METRICS and e["host"] == host][-1]
        serving = [s for s in batch["samples"] if s["name"].startswith("serving.")]
        assert serving and all(s["name"] in CATALOGUE for s in serving)
        assert {tuple(sorted(s["labels"])) for s in serving} == {("model", "replica")}
        up = {s["labels"]["target"]: s["value"] for s in batch["samples"]
              if s["name"] == "agent.scrape.up"}
        assert up == {"vllm-0": 1.0, "vllm-1": 1.0}
        by: dict[str, dict[str, float]] = defaultdict(dict)
        for s in serving:
            by[s["labels"]["replica"]][s["name"]] = s["value"]
        for v in by.values():
            assert v["serving.ttft_s.p50"] <= v["serving.ttft_s.p90"] <= v["serving.ttft_s.p99"]


class TestFaultsShow:
    """A slow GPU slows its replica; a lost GPU takes it down."""

    def test_power_brake_slows_only_its_replica(self) -> None:
        """gpu_throttle (power brake) on one GPU: its clock halves, its replica's queue
        and time to first token climb, the host's other replica carries on."""
        f = fleet("gpu_throttle@2m:4m")
        (e,) = f.manifest()
        host, gpu, replica = e["hosts"][0], e["details"]["gpu"], e["details"]["replica"]
        other = next(r.replica for r in f.topology.serving[host] if gpu not in r.gpus)
        events: list[dict[str, Any]] = [dict(ev) for ev in f.events(48)]

        def during(name: str, rep: str) -> tuple[float, float]:
            vals = [(e_["ts"], s["value"]) for e_ in events
                    if e_["schema"] == METRICS and e_["host"] == host for s in e_["samples"]
                    if s["name"] == name and s.get("labels", {}).get("replica") == rep]
            before = mean(v for t, v in vals if t < e["start_ms"])
            inside = mean(v for t, v in vals if e["start_ms"] + 60_000 <= t < e["end_ms"])
            return before, inside
        b, i = during("serving.ttft_s.p99", replica)
        assert i > 4 * b and i > 2.0
        b, i = during("serving.ttft_s.p99", other)
        assert i < 1.5 * b
        b, i = during("serving.queue_depth", replica)
        assert i > 50
        clocks = [s["value"] for e_ in events if e_["schema"] == METRICS and e_["host"] == host
                  and e["start_ms"] <= e_["ts"] < e["end_ms"] for s in e_["samples"]
                  if s["name"] == "gpu.sm_clock_mhz" and s["labels"]["gpu"] == str(gpu)]
        assert max(clocks) < 1000

    def test_lost_gpu_takes_its_replica_down_until_it_returns(self) -> None:
        """XID 79 on GPU 1 of a serving host: replica vllm-0's scrape fails and its
        series stop; vllm-1 carries on; after the fault the replica is back."""
        probe = fleet()
        host = next(iter(probe.topology.serving))
        f = fleet(f"gpu_xid_79(host={host}, gpu=1)@1m:2m")
        (e,) = f.manifest()
        events: list[dict[str, Any]] = [dict(ev) for ev in f.events(30)]
        up0 = series(events, host, "agent.scrape.up", target="vllm-0")
        down = [t for t, v in up0 if v == 0.0]
        assert down and min(down) >= e["details"]["xid_ms"] and max(down) < e["end_ms"]
        assert up0[-1][1] == 1.0
        first = next(r.replica for r in f.topology.serving[host] if 1 in r.gpus)
        ts = [t for t, _ in series(events, host, "serving.requests_per_s", replica=first)]
        assert ts and not [t for t in ts if min(down) <= t <= max(down)]
        assert all(v == 1.0 for _, v in series(events, host, "agent.scrape.up", target="vllm-1"))


class TestDefaultRulesSeeIt:
    """Replayed through the shipped rules, the slow replica is the alert."""

    def test_slow_replica_alerts_with_its_model_and_replica(self) -> None:
        """ServingLatencyHigh fires on the throttled host, naming the fault's model and
        replica; no serving alert fires anywhere else."""
        f = fleet("gpu_throttle@2m:6m")
        (e,) = f.manifest()
        out = [orjson.loads(x) for x in replay_lines(
            (orjson.dumps(ev) for ev in f.events(60)), load_rules(DEFAULT_RULES_PATH),
            {"alerts"})]
        firing = [a for a in out if a["schema"] == ALERT and a["status"] == "firing"
                  and a["rule"].startswith(("Serving", "Exporter"))]
        assert {a["host"] for a in firing} == set(e["hosts"])
        slow = [a for a in firing if a["rule"] == "ServingLatencyHigh"]
        assert slow
        assert (slow[0]["labels"]["model"], slow[0]["labels"]["replica"]) == (
            e["details"]["model"], e["details"]["replica"])
        assert slow[0]["labels"]["rack"] == e["rack"]
