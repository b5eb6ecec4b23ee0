"""The console's settings: where it listens, what it scrapes, how long things stay.

Every key is declared once, in common.config's [console] section; command-line flags
override them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from common.config import Config, ConsoleConfig
from streams.rules import RuleSet, default_rules, load_rules

__all__ = ["ConsoleSettings", "default_scrape_urls", "load_console_rules"]


@dataclass(frozen=True)
class ConsoleSettings(ConsoleConfig):
    """[console] (declared, with its defaults, in common.config), then command-line flags."""

    @classmethod
    def from_config(cls, cfg: Config, **overrides: Any) -> ConsoleSettings:
        values = {f.name: getattr(cfg.console, f.name) for f in dataclasses.fields(ConsoleConfig)}
        values.update({k: tuple(v) if isinstance(v, list) else v
                       for k, v in overrides.items() if v is not None})
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
