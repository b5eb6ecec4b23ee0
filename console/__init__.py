"""rackwatch console: a small, fast web console served by the running pipeline.

- `console.app.start_console(cfg)`: serve on a thread, returns (url, stop);
- `console.app.serve_console(cfg, settings, stop)`: serve on the running event loop;
- `console.cli.register(sub)`: the `rackwatch console` command.

The top layer of rackwatch: it reads the store through sinks, the topics through
aiokafka and the roles' own metrics endpoints; nothing imports it but the CLI.
See docs/console.md.
"""

from __future__ import annotations

__all__ = ["start_console"]


def __getattr__(name: str) -> object:
    # `import console` stays light; the server's dependencies load on first use
    if name == "start_console":
        from console.app import start_console

        return start_console
    raise AttributeError(name)
