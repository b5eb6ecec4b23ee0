"""`rackwatch broker start|stop|status|fetch`: the local single-node KRaft Kafka."""

from __future__ import annotations

import argparse
import sys

from common.config import Config

__all__ = ["register"]


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _broker(args: argparse.Namespace, cfg: Config) -> int:
    from common.broker import BrokerError, LocalBroker, fetch_jars

    broker = LocalBroker(cfg.broker, cfg.home / "kafka")
    try:
        if args.action == "fetch":
            print(fetch_jars(cfg.broker, _progress))
        elif args.action == "start":
            if not cfg.uses_local_broker:
                print(f"RACKWATCH_KAFKA_BOOTSTRAP is set ({cfg.bootstrap}); "
                      "not starting a local broker", file=sys.stderr)
                return 1
            print(f"Kafka {cfg.broker.version} running on {broker.start(_progress)}")
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


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    b = sub.add_parser("broker", help="start / stop / status of the local KRaft Kafka broker")
    b.add_argument("action", choices=["start", "stop", "status", "fetch"])
    b.set_defaults(func=_broker)
