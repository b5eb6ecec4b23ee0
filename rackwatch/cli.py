"""The `rackwatch` console script: one entry point, one subcommand per role (DESIGN.md)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from common.config import ConfigError, load_config
from rackwatch import __version__
from rackwatch.errors import EXIT_CONFIG, quiet_client_noise, run_command

__all__ = ["main"]

log = logging.getLogger("rackwatch")

# Subcommand groups contributed by the packages; each module has register(subparsers).
_PLUGINS = ("rackwatch.commands.broker", "rackwatch.commands.producers",
            "rackwatch.commands.streams", "rackwatch.commands.rules",
            "rackwatch.commands.incidents", "rackwatch.commands.store", "rackwatch.demo",
            "rackwatch.commands.score", "rackwatch.commands.config", "console.cli",
            "rackwatch.commands.forward", "rackwatch.commands.handling")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rackwatch",
        description="Streaming monitoring, alerting and fault diagnosis for AI datacenters.")
    p.add_argument("--version", action="version", version=f"rackwatch {__version__}")
    p.add_argument("-c", "--config", help="config file (TOML); default $RACKWATCH_CONFIG or "
                                          "$RACKWATCH_HOME/rackwatch.toml")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config key (repeatable), e.g. --set worker.ewma_tau_s=20")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _PLUGINS:  # an import error here is a bug: it must not hide a subcommand
        importlib.import_module(mod).register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, settings=args.set)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return EXIT_CONFIG
    if not args.verbose:
        quiet_client_noise()
    rc: int = run_command(lambda: args.func(args, cfg), cfg, args.verbose, args.command)
    return rc


if __name__ == "__main__":
    sys.exit(main())
