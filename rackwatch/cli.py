"""The `rackwatch` console script: one entry point, one subcommand per role (DESIGN.md)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rackwatch import __version__
from rackwatch.config import Config, ConfigError, load_config

__all__ = ["main"]

log = logging.getLogger("rackwatch")

# Subcommand groups contributed by the packages; each module has register(subparsers).
_PLUGINS = ("producers.cli", "streams.cli", "streams.rules.cli", "streams.incidents.cli",
            "sinks.cli", "rackwatch.demo", "rackwatch.score_cli", "console.cli")


def _broker(args: argparse.Namespace, cfg: Config) -> int:
    from rackwatch.broker import BrokerError, LocalBroker, fetch_jars

    broker = LocalBroker(cfg.broker, cfg.home / "kafka")
    try:
        if args.action == "fetch":
            print(fetch_jars(cfg.broker))
        elif args.action == "start":
            if not cfg.uses_local_broker:
                print(f"RACKWATCH_KAFKA_BOOTSTRAP is set ({cfg.bootstrap}); "
                      "not starting a local broker", file=sys.stderr)
                return 1
            print(f"Kafka {cfg.broker.version} running on {broker.start()}")
        elif args.action == "stop":
            print("stopped" if broker.stop() else "not running")
        else:
            st = broker.status()
            state = f"running (pid {st.pid})" if st.running else "stopped"
            print(f"{state}  bootstrap={st.bootstrap}  data={st.data_dir}")
            return 0 if st.running else 3
    except BrokerError as e:
        print(f"broker: {e}", file=sys.stderr)
        return 1
    return 0


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
    b = sub.add_parser("broker", help="start / stop / status of the local KRaft Kafka broker")
    b.add_argument("action", choices=["start", "stop", "status", "fetch"])
    b.set_defaults(func=_broker)
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
        return 2
    rc: int = args.func(args, cfg)
    return rc


if __name__ == "__main__":
    sys.exit(main())
