"""The agent's options and its run counters.

`AgentOptions` is `[agent]` (declared once in common.config) with the command line's
overrides on top, plus what only the command line or the process sets; `problems()`
names every bad value with its key, so the agent refuses to start with all of them
listed rather than the first.
"""

from __future__ import annotations

import dataclasses
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config import AgentConfig, Config, ScrapeTargetConfig
from producers.exporters.scrape import target_problems

__all__ = ["AgentOptions", "AgentStats"]

_LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


_A = AgentConfig()  # the defaults: every [agent] key is declared once, in common.config


@dataclass(frozen=True)
class AgentOptions:
    """Everything the agent needs: `[agent]` (common.config), then command-line overrides,
    plus what only the command line or the process sets (duration, state directory)."""

    interval_s: float = _A.interval_s
    host: str = _A.host
    labels: dict[str, str] = field(default_factory=dict)
    log_patterns: tuple[str, ...] = _A.log_paths
    kmsg: bool = _A.kmsg
    kmsg_path: str = _A.kmsg_path
    gpu: bool = _A.gpu
    duration_s: float | None = None
    state_dir: Path = Path(".rackwatch") / "agent"
    buffer_max_batches: int = _A.buffer_max_batches
    buffer_memory_batches: int = _A.buffer_memory_batches
    per_core: bool = _A.per_core
    log_poll_s: float = _A.log_poll_s
    read_existing_logs: bool = _A.read_existing_logs
    flush_timeout_s: float = _A.flush_timeout_s
    host_metrics: bool = _A.host_metrics
    scrape: tuple[ScrapeTargetConfig, ...] = _A.scrape
    metrics_host: str = _A.metrics_host
    metrics_port: int = _A.metrics_port

    @classmethod
    def from_config(cls, cfg: Config, **overrides: Any) -> AgentOptions:
        """Options from `[agent]`, then `overrides` (None values are ignored)."""
        a = cfg.agent
        base = cls(interval_s=a.interval_s, host=a.host, labels=dict(a.labels),
                   log_patterns=tuple(a.log_paths), kmsg=a.kmsg, kmsg_path=a.kmsg_path,
                   gpu=a.gpu, state_dir=cfg.home / "agent",
                   buffer_max_batches=a.buffer_max_batches,
                   buffer_memory_batches=a.buffer_memory_batches, per_core=a.per_core,
                   log_poll_s=a.log_poll_s, read_existing_logs=a.read_existing_logs,
                   flush_timeout_s=a.flush_timeout_s, host_metrics=a.host_metrics,
                   scrape=a.scrape, metrics_host=a.metrics_host, metrics_port=a.metrics_port)
        return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def hostname(self) -> str:
        """The host id: configured, else this machine's name."""
        return self.host or socket.gethostname()

    def topology(self) -> dict[str, str]:
        """Labels attached to every event. No `rack` configured means none sent: a made-up
        shared rack ("unknown") would put unrelated hosts in one place."""
        return dict(self.labels)

    def problems(self) -> list[str]:
        """Every configuration problem, each naming its key."""
        out = []
        if not (self.interval_s > 0):
            out.append(f"[agent].interval_s / --interval must be > 0, got {self.interval_s!r}")
        if not self.hostname.strip():
            out.append("[agent].host / --host must not be empty")
        for k, v in self.labels.items():
            if not _LABEL_KEY.match(k):
                out.append(f"[agent].labels / --label: bad label name {k!r}")
            if not isinstance(v, str) or not v:
                out.append(f"[agent].labels / --label: label {k!r} needs a non-empty value")
        for p in self.log_patterns:
            if not p.strip():
                out.append("[agent].log_paths / --log: empty glob")
        if self.buffer_max_batches < 1:
            out.append("[agent].buffer_max_batches must be at least 1, "
                       f"got {self.buffer_max_batches}")
        if not 1 <= self.buffer_memory_batches <= max(self.buffer_max_batches, 1):
            out.append("[agent].buffer_memory_batches must be between 1 and "
                       f"buffer_max_batches, got {self.buffer_memory_batches}")
        if self.duration_s is not None and self.duration_s < 0:
            out.append(f"--duration must not be negative, got {self.duration_s}")
        if not (self.log_poll_s > 0):
            out.append(f"log_poll_s must be > 0, got {self.log_poll_s}")
        if self.interval_s > 0:
            out.extend(target_problems(self.scrape, self.interval_s))
        return out


@dataclass
class AgentStats:
    """What a run did; returned by `run_agent`."""

    batches: int = 0
    log_events: int = 0
    xid_events: int = 0
    sent: int = 0
    buffered: int = 0
    dropped: int = 0
    problems: int = 0
    gpus: int = 0
    first_seq: int | None = None
    last_seq: int | None = None

