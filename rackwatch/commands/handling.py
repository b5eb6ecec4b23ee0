"""`rackwatch ack | silence | resolve | reopen | assign`: handling alerts, on the record.

Each command writes one `rackwatch.action/v1` message to the actions topic (key: the
alert's fingerprint), which every worker applies to the alerts it holds and the sink
stores in `alert_actions` (docs/operations.md, "Handling alerts"). An action always
carries a name: `--by NAME`, else `[identity] user` from the configuration; with
neither the command refuses (exit 2) -- there is no anonymous write path.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import orjson

from common.config import Config

__all__ = ["build_action", "register"]

EXIT_REFUSED = 2


def _identity(args: argparse.Namespace, cfg: Config) -> str:
    by = (args.by or cfg.identity.user or "").strip()
    if not by:
        raise ValueError("who is acting? give --by NAME or set [identity] user in the "
                         "configuration (actions are never anonymous)")
    return by


def _time_ms(text: str, now_ms: int) -> int:
    """An RFC 3339 time, or a duration from now ("2h", "30m")."""
    from streams.core.timefmt import rfc3339_to_ms
    from streams.rules.values import parse_duration_ms

    try:
        return now_ms + parse_duration_ms(text)
    except ValueError:
        pass
    try:
        return rfc3339_to_ms(text)
    except ValueError:
        raise ValueError(f"expected a time (2026-12-04T18:00:00Z) or a duration from now "
                         f"(2h, 30m), got {text!r}") from None


def _fingerprint(text: str) -> str:
    fp = text.strip().lower()
    if len(fp) != 16 or any(c not in "0123456789abcdef" for c in fp):
        raise ValueError(f"an alert fingerprint is 16 hex digits, got {text!r}")
    return fp


def build_action(args: argparse.Namespace, cfg: Config, now_ms: int) -> dict[str, Any]:
    """The action a command line asks for (ValueError: why it cannot be done)."""
    from streams.handling.actions import make_action
    from streams.handling.routing import PRIORITIES
    from streams.rules.matchers import parse_matchers

    by = _identity(args, cfg)
    at = _time_ms(args.at, now_ms) if args.at else now_ms
    kind = args.handling
    if kind == "silenced":
        matchers = [str(m) for text in args.matchers for m in parse_matchers(text)]
        until = _time_ms(args.until, at)
        return make_action("silenced", None, by, at, args.note or "", matchers=matchers,
                           until=_rfc3339(until))
    fp = _fingerprint(args.fingerprint)
    if kind == "resolved" and not (args.note or "").strip():
        raise ValueError("resolve needs --note: what was done about it")
    extra: dict[str, Any] = {}
    if kind == "assigned":
        if args.priority and args.priority not in PRIORITIES:
            raise ValueError(f"--priority: one of {', '.join(PRIORITIES)}")
        extra = {"assignee": args.to, "priority": args.priority}
    return make_action(kind, fp, by, at, args.note or "", **extra)


def _rfc3339(ms: int) -> str:
    from streams.core.timefmt import ms_to_rfc3339

    return ms_to_rfc3339(ms)


async def _send(cfg: Config, action: dict[str, Any]) -> None:
    from common.kafka import producer
    from common.topics import ensure_topics
    from schemas.ids import ACTION, message_headers

    await ensure_topics(cfg, ("actions",))
    key = action["fingerprint"] or f"silence:{action['action_id']}"
    p = producer(cfg, acks="all", enable_idempotence=True)
    await p.start()
    try:
        await p.send_and_wait(cfg.topic("actions"), orjson.dumps(action), key=key.encode(),
                              headers=message_headers(ACTION))
    finally:
        await p.stop()


def _run(args: argparse.Namespace, cfg: Config) -> int:
    try:
        action = build_action(args, cfg, int(time.time() * 1000))
    except ValueError as e:
        print(f"rackwatch {args.command}: {e}", file=sys.stderr)
        return EXIT_REFUSED
    line = orjson.dumps(action)
    if args.output:
        if args.output == "-":
            sys.stdout.buffer.write(line + b"\n")
        else:
            with open(args.output, "ab") as f:
                f.write(line + b"\n")
        return 0
    asyncio.run(_send(cfg, action))
    what = action["fingerprint"] or " ".join(action["matchers"])
    print(f"{action['action']} {what} by {action['by']} ({action['action_id']})")
    return 0


def _common(p: argparse.ArgumentParser, kind: str) -> None:
    p.add_argument("--by", help="who is acting (default: [identity] user)")
    p.add_argument("--note", default="", help="what was seen or done")
    p.add_argument("--at", help="when it was done (RFC 3339; default: now)")
    p.add_argument("-o", "--output", help="write the action as a JSON line to this file "
                   "(- for stdout) instead of sending it (replay input, reviews)")
    p.set_defaults(func=_run, handling=kind)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, kind, text in (("ack", "acknowledged", "acknowledge an alert: someone has it"),
                             ("resolve", "resolved", "close an alert by hand, with a note"),
                             ("reopen", "reopened", "reopen an acknowledged or resolved alert"),
                             ("assign", "assigned", "give an alert to another owner")):
        p = sub.add_parser(name, help=text, description=text + " (docs/operations.md)")
        p.add_argument("fingerprint", help="the alert's fingerprint (16 hex digits)")
        if name == "assign":
            p.add_argument("--to", required=True, help="the new owner (team or person)")
            p.add_argument("--priority", help="a new priority (P1..P5)")
        _common(p, kind)
    s = sub.add_parser("silence", help="silence alerts matching label matchers until a time",
                       description="Silenced alerts are still evaluated and stored, not "
                                   "forwarded, and not escalated (docs/operations.md). "
                                   "--until in the past lifts a silence with the same "
                                   "matchers.")
    s.add_argument("matchers", nargs="+",
                   help='label matchers, e.g. rack="r07" alertname=~"Gpu.*"')
    s.add_argument("--until", required=True, help="RFC 3339 time or a duration (2h)")
    _common(s, "silenced")
