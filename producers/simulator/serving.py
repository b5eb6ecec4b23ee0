"""Model serving on some GPU hosts: replicas whose latency follows their slowest GPU.

A share of the fleet's GPU hosts (`SimOptions.serving`) serve models instead of
training: whole small training groups are turned into a deployment of one model, each
host running one replica per four GPUs (tensor parallel 4). Every interval each replica
gets requests (the host's daily curve with noise), serves what its capacity allows and
queues the rest, and publishes what the agent would publish after scraping its vLLM
endpoint: `serving.*` with labels `model` and `replica`, and the scrape's
`agent.scrape.up{target}`.

Physics, kept simple but in the right direction:
- capacity is proportional to the slowest GPU of the replica's group (`clock /
  MAX_CLOCK`: tensor parallelism waits for its slowest member), nominally 1.8x the mean
  arrival rate, so the daily peak runs at ~65 % of capacity; arrivals are random
  (Poisson), the service rate of a batching server is steady;
- when arrivals outrun capacity the queue grows (Little's law gives the wait), beyond
  `QUEUE_MAX` requests are rejected and count as errors;
- time to first token and time per output token grow as the GPU slows and as the
  replica gets busier; end-to-end latency is TTFT plus output tokens (lognormal, sigma
  0.8) times the time per token; the interval's quantiles carry sampling noise that
  shrinks with the number of requests;
- a GPU that is gone (XID 79, lost) takes its replica down: the scrape fails (`up` 0)
  and its series stop until the GPU is back, when it restarts with an empty queue.

The randomness comes from a generator per host seeded by (seed, "serving", host), so a
host's other metrics are the same bytes whether it serves or not.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from producers.events import sample
from schemas.events import Sample

__all__ = ["MODELS", "QUEUE_MAX", "ModelSpec", "ReplicaSim", "ReplicaSpec", "assign_serving"]

QUEUE_MAX = 400  # requests a replica holds waiting before it rejects (vLLM: max waiting)
HEADROOM = 1.8  # nominal capacity / mean arrival rate: the daily peak at ~65 % of it
_LOGN = (1.0, math.exp(1.2816 * 0.8), math.exp(2.3263 * 0.8), math.exp(0.8 ** 2 / 2))


@dataclass(frozen=True)
class ModelSpec:
    """A served model: its unloaded service times and its traffic per replica."""

    name: str
    ttft_s: float  # median time to first token, unloaded, full clocks
    tpot_s: float  # median time per output token
    out_tokens: float  # median output length
    prompt_tokens: float  # mean prompt length
    rps: float  # mean arrivals per replica per second


MODELS = (
    ModelSpec("llama-3.1-70b-instruct", 0.25, 0.030, 180, 900, 6.0),
    ModelSpec("mixtral-8x22b-instruct", 0.20, 0.025, 200, 700, 8.0),
    ModelSpec("qwen2.5-72b-instruct", 0.30, 0.032, 160, 1100, 5.0),
)


@dataclass(frozen=True)
class ReplicaSpec:
    """One serving process: its model, its index in the deployment, its GPUs."""

    model: ModelSpec
    replica: str
    gpus: tuple[int, ...]

    @property
    def target(self) -> str:
        """The agent's scrape target name for this replica's endpoint."""
        return f"vllm-{self.gpus[0] // max(len(self.gpus), 1)}"


def assign_serving(share: float, seed: int, groups: list[list[str]], gpus_per_host: int
                   ) -> dict[str, list[ReplicaSpec]]:
    """Which training groups become deployments (smallest first, ties in a seeded
    order) until `share` of their hosts serve; host -> its replicas."""
    rng = random.Random(f"{seed}:serving")
    total = sum(len(g) for g in groups)
    want = round(share * total)
    order = sorted(range(len(groups)), key=lambda i: (len(groups[i]), rng.random()))
    tp = 4 if gpus_per_host >= 4 else max(gpus_per_host, 1)
    out: dict[str, list[ReplicaSpec]] = {}
    served = 0
    for n, i in enumerate(order):
        if served >= want or served + len(groups[i]) > max(want, 1) * 1.5:
            continue
        model = MODELS[n % len(MODELS)] if n < len(MODELS) else rng.choice(MODELS)
        index = sum(1 for reps in out.values() for r in reps if r.model is model)
        for host in groups[i]:
            reps = []
            for first in range(0, max(gpus_per_host - tp + 1, 1), tp):
                reps.append(ReplicaSpec(model, str(index), tuple(range(first, first + tp))))
                index += 1
            out[host] = reps
        served += len(groups[i])
    return out


@dataclass
class ReplicaSim:
    """One replica's moving parts: its queue and whether it is up."""

    spec: ReplicaSpec
    queue: float = 0.0
    up: bool = True
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = {"model": self.spec.model.name, "replica": self.spec.replica}

    def restart(self) -> None:
        """A reboot or a reset GPU: the server starts again with nothing queued."""
        self.queue = 0.0

    def step(self, rng: random.Random, dt: float, load: float, clocks: list[float | None],
             max_clock: float, add: Callable[[Sample], None]) -> None:
        """One interval: `load` scales arrivals (daily curve), `clocks` are the SM clocks
        of this host's GPUs (None: the GPU is gone)."""
        target = {"target": self.spec.target}
        mine = [clocks[g] if g < len(clocks) else None for g in self.spec.gpus]
        if any(c is None for c in mine):
            self.up = False
            self.queue = 0.0
            add(sample("agent.scrape.up", 0.0, target))
            return
        if not self.up:
            self.up = True
            self.restart()
        add(sample("agent.scrape.up", 1.0, target))
        m = self.spec.model
        speed = min(c or 0.0 for c in mine) / max_clock
        lam = m.rps * load * (1 + 0.05 * rng.gauss(0, 1))
        arrivals = _count(rng, lam * dt)
        capacity = m.rps * HEADROOM * speed
        served = float(min(self.queue + arrivals, math.floor(capacity * dt)))
        self.queue += arrivals - served
        rejected = max(self.queue - QUEUE_MAX, 0.0)
        self.queue -= rejected
        failed = rejected + _count(rng, served * 0.002)
        done = served + rejected
        add(sample("serving.requests_per_s", round(done / dt, 3), dict(self.labels)))
        add(sample("serving.errors_per_s", round(failed / dt, 3), dict(self.labels)))
        if done > 0:
            add(sample("serving.error_ratio", round(min(failed / done, 1.0), 5),
                       dict(self.labels)))
        busy = min(lam / capacity, 1.0) if capacity > 0 else 1.0
        wait = self.queue / capacity if capacity > 0 else 0.0
        ttft = m.ttft_s / speed * (1 + 0.6 * busy)
        tpot = m.tpot_s / speed * (1 + 0.4 * busy)
        if served > 0:
            self._latencies(rng, served, wait, ttft, tpot, add)
        e2e_mean = wait + ttft * 1.4 + m.out_tokens * _LOGN[3] * tpot * 1.1
        batch = min(served / dt * e2e_mean, 256.0)
        add(sample("serving.generation_tokens_per_s",
                   round(served * m.out_tokens * _LOGN[3] / dt, 1), dict(self.labels)))
        add(sample("serving.prompt_tokens_per_s", round(served * m.prompt_tokens / dt, 1),
                   dict(self.labels)))
        add(sample("serving.queue_depth", float(round(self.queue) + _count(rng, lam * 0.02)),
                   dict(self.labels)))
        add(sample("serving.batch_size", float(round(batch)), dict(self.labels)))
        add(sample("serving.kv_cache.usage", round(min(0.1 + 0.85 * batch / 256, 0.99), 4),
                   dict(self.labels)))

    def _latencies(self, rng: random.Random, n: float, wait: float, ttft: float, tpot: float,
                   add: Callable[[Sample], None]) -> None:
        out = self.spec.model.out_tokens
        figures = {
            "serving.ttft_s": (wait + ttft, wait * 1.1 + ttft * 1.9, wait * 1.25 + ttft * 3.0,
                               wait + ttft * 1.3),
            "serving.time_per_token_s": (tpot, tpot * 1.3, tpot * 1.8, tpot * 1.1),
            "serving.request_latency_s": (
                wait + ttft + out * tpot, wait * 1.1 + ttft * 1.5 + out * _LOGN[1] * tpot,
                wait * 1.25 + ttft * 2.0 + out * _LOGN[2] * tpot,
                wait + ttft * 1.4 + out * _LOGN[3] * tpot * 1.1),
        }
        spread = 1.0 / math.sqrt(max(n, 1.0))
        for stem, values in figures.items():
            for suffix, v, k in zip(("p50", "p90", "p99", "mean"), values, (0.3, 0.5, 1.0, 0.3),
                                    strict=True):
                noisy = v * max(1.0 + k * spread * rng.gauss(0, 1), 0.5)
                add(sample(f"{stem}.{suffix}", round(noisy, 4), dict(self.labels)))


def _count(rng: random.Random, mean: float) -> float:
    """A Poisson-like count (normal approximation, never negative)."""
    if mean <= 0:
        return 0.0
    return float(max(round(rng.gauss(mean, math.sqrt(mean))), 0))
