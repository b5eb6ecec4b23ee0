"""Alert handling: who owns an alert (routing) and what was done about it (actions).

`routing` gives every alert an assignee and a priority from a tree in the spirit of
Alertmanager's; `actions` are the `rackwatch.action/v1` events (assigned, acknowledged,
escalated, silenced, resolved, reopened) and `book` applies them to alert states. All
of it is plain data in, plain data out: the worker, `rackwatch replay` and the CLI use
the same functions.
"""

from __future__ import annotations

from common.config import Config
from streams.handling.routing import (
    DEFAULT_ROUTES_PATH,
    RoutingError,
    RoutingTree,
    default_routing,
    load_routing,
    parse_routing,
)

__all__ = ["DEFAULT_ROUTES_PATH", "RoutingError", "RoutingTree", "default_routing",
           "load_routing", "parse_routing", "routing_of"]


def routing_of(cfg: Config) -> RoutingTree:
    """The routing tree the configuration names (`[routing] file`), else the shipped one."""
    return load_routing(cfg.routing.file) if cfg.routing.file else default_routing()
