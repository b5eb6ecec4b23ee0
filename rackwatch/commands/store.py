"""Subcommands of the store: `sink`, `query`, `backup`, `restore`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import orjson

from common.config import Config, mask_dsn

__all__ = ["register"]


def _sink(args: argparse.Namespace, cfg: Config) -> int:
    from common.topics import ensure_topics
    from sinks.service import run_sink

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await ensure_topics(cfg)
        stats = await run_sink(cfg, stop=stop)
        print(mask_dsn(orjson.dumps(stats.snapshot()).decode()), file=sys.stderr)
        return 0

    return asyncio.run(main())


def _query(args: argparse.Namespace, cfg: Config) -> int:
    from sinks.errors import StoreUnreachable
    from sinks.query import render_table, run_query

    sql = args.sql if args.sql != "-" else sys.stdin.read()
    try:
        payload = run_query(cfg, sql, args.format)
    except StoreUnreachable:
        raise
    except Exception as e:  # the message is ClickHouse's own, which is what users need
        print(f"query failed: {mask_dsn(str(e))}", file=sys.stderr)
        return 1
    if args.format == "table":
        text = render_table(payload).encode() + b"\n"
    else:
        text = payload
    if args.output:
        Path(args.output).write_bytes(text)
    elif args.format == "parquet" and sys.stdout.isatty():
        print("refusing to write Parquet to a terminal; use -o FILE", file=sys.stderr)
        return 2
    else:
        sys.stdout.buffer.write(text)
        sys.stdout.buffer.flush()
    return 0


def _backup(args: argparse.Namespace, cfg: Config) -> int:
    from sinks.backup import BackupError, backup

    try:
        info = backup(cfg, args.dest)
    except BackupError as e:
        print(f"backup failed: {e}", file=sys.stderr)
        return 1
    total = sum(info.tables.values())
    print(f"backup written to {info.location} ({total} rows in {len(info.tables)} tables)")
    return 0


def _restore(args: argparse.Namespace, cfg: Config) -> int:
    from sinks.backup import BackupError, restore

    try:
        info = restore(cfg, args.src, force=args.force)
    except BackupError as e:
        print(f"restore failed: {e}", file=sys.stderr)
        return 1
    total = sum(info.tables.values())
    print(f"restored {total} rows in {len(info.tables)} tables from {info.location}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("sink", help="store the processed topics in ClickHouse (batched, "
                                    "idempotent); serves read-only queries when embedded")
    s.set_defaults(func=_sink)

    q = sub.add_parser("query", help="run SQL against the store (read-only)")
    q.add_argument("sql", help="the query; '-' reads it from stdin")
    q.add_argument("--format", choices=["table", "csv", "jsonl", "parquet"], default="table",
                   help="output format (default: an aligned table)")
    q.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    q.set_defaults(func=_query)

    b = sub.add_parser("backup", help="back up the store (ClickHouse BACKUP)")
    b.add_argument("dest", help="a new folder (embedded store) or a ClickHouse backup "
                                "destination such as \"Disk('backups', 'name')\" (server)")
    b.set_defaults(func=_backup)

    r = sub.add_parser("restore", help="replace the store's data with a backup")
    r.add_argument("src", help="a folder written by `rackwatch backup` (or a destination)")
    r.add_argument("--force", action="store_true",
                   help="replace the database even if it holds data")
    r.set_defaults(func=_restore)
