"""The console's settings: where it listens, what it scrapes, how long things stay.

common.config is closed and has no [console] section yet; as sinks.settings does,
a field is read from `cfg.console` when that section and field exist and falls back to
the default here otherwise, so adding the section to the config is all it takes to make
these configurable from the file. Command-line flags override both (`replace`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from common.config import Config
from streams.rules import RuleSet, default_rules, load_rules

__all__ = ["ConsoleSettings", "default_scrape_urls", "load_console_rules"]


@dataclass(frozen=True)
class ConsoleSettings:
    host: str = "127.0.0.1"  # localhost only, by default: the console has no login
    port: int = 8470  # 0: any free port (in use: falls back to a free one, said in the log)
    # Endpoints whose metrics the health panel shows; empty: the configured worker's
    # /metrics and the sink's /ping. Absent ones are shown as down, never fatal.
    scrape: tuple[str, ...] = ()
    scrape_interval_s: float = 2.0
    scrape_timeout_s: float = 1.5
    inventory_interval_s: float = 30.0  # how often the host list is re-read from the store
    inventory_window_s: float = 900.0  # hosts that reported within this are on the grid
    bootstrap_window_s: float = 86_400.0  # alerts and incidents changed within this
    replay_overlap_s: float = 60.0  # topic messages re-read from before the start
    fade_s: float = 120.0  # resolved alerts and incidents stay this long, fading out
    group_labels: tuple[str, ...] = ("rack", "cluster", "zone", "role")
    gpu_metric: str = "gpu.utilization"  # a per-GPU metric every GPU reports
    rules: str = ""  # the worker's rule file (threshold lines); empty: [worker].rules
    push_interval_s: float = 0.25  # live changes are sent to pages in batches this often
    max_alerts: int = 50_000

    @classmethod
    def from_config(cls, cfg: Config, **overrides: Any) -> ConsoleSettings:
        section = getattr(cfg, "console", None)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            v = getattr(section, f.name, None) if section is not None else None
            if v is not None and v != "":
                values[f.name] = tuple(v) if isinstance(v, list) else v
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def default_scrape_urls(cfg: Config) -> tuple[str, ...]:
    """The worker's metrics endpoint and the sink's status endpoint, as configured."""
    urls = []
    w = cfg.worker
    if w.metrics_port:
        host = "127.0.0.1" if w.metrics_host in ("", "0.0.0.0", "::") else w.metrics_host
        urls.append(f"http://{host}:{w.metrics_port}/metrics")
    s = cfg.sink
    if s.serve_port:
        host = "127.0.0.1" if s.serve_host in ("", "0.0.0.0", "::") else s.serve_host
        urls.append(f"http://{host}:{s.serve_port}/ping")
    return tuple(urls)


def load_console_rules(cfg: Config, settings: ConsoleSettings) -> RuleSet:
    """The rule set whose lines the charts draw: the console's, else the worker's."""
    path = settings.rules or cfg.worker.rules
    return load_rules(path) if path else default_rules()
