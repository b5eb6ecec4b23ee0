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
    from sinks.run import run_sink
    from sinks.store import EmbeddedEngineMissing, require_embedded_engine

    try:
        require_embedded_engine(cfg.clickhouse_dsn)
    except EmbeddedEngineMissing as e:
        print(f"sink: {e}", file=sys.stderr)
        return 2

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
    from sinks.backup import BackupError, backup, backup_with_status
    from sinks.backuptarget import TargetError, open_target
    from sinks.remote import RemoteError
    from sinks.store import EmbeddedEngineMissing

    if (args.dest is None) == (args.into is None):
        print("backup: give either DEST (a one-off full backup) or --into TARGET (a "
              "scheduled series)", file=sys.stderr)
        return 2
    status = Path(args.status_file) if args.status_file else None
    try:
        if args.dest is not None:
            info = backup(cfg, args.dest)
            total = sum(info.tables.values())
            print(f"backup written to {info.location} ({total} rows in "
                  f"{len(info.tables)} tables)")
            return 0
        target = open_target(args.into, disk=args.disk, s3_endpoint=args.s3_endpoint,
                             s3_region=args.s3_region)
        result = backup_with_status(cfg, target, keep=args.keep, full_every=args.full_every,
                                    status_path=status)
    except (BackupError, TargetError, RemoteError, EmbeddedEngineMissing) as e:
        print(f"backup failed: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # ClickHouse's or the S3 store's own words (in the status too)
        print(f"backup failed: {mask_dsn(str(e))}", file=sys.stderr)
        return 1
    on = f" on {result.base}" if result.base else ""
    print(f"backup {result.name} ({result.kind}{on}, {sum(result.tables.values())} rows) "
          f"in {result.location}; {len(result.kept)} kept, {len(result.deleted)} deleted")
    return 0


def _restore(args: argparse.Namespace, cfg: Config) -> int:
    from sinks.backup import BackupError, restore, restore_config
    from sinks.store import EmbeddedEngineMissing

    try:
        if not args.config_only:
            info = restore(cfg, args.src, force=args.force, disk=args.disk,
                           s3_endpoint=args.s3_endpoint)
            total = sum(info.tables.values())
            print(f"restored {total} rows in {len(info.tables)} tables from {info.location}")
        if args.with_config or args.config_only:
            done = restore_config(cfg, args.src, force=args.force, disk=args.disk,
                                  s3_endpoint=args.s3_endpoint)
            print(f"restored the configuration to {done.config_file}"
                  + "".join(f", {f}" for f in done.files))
            if done.secrets_left_out:
                print("secrets are not kept in backups; set again: "
                      + ", ".join(done.secrets_left_out), file=sys.stderr)
    except (BackupError, EmbeddedEngineMissing) as e:
        print(f"restore failed: {e}", file=sys.stderr)
        return 1
    return 0


def _target_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--disk", default="", metavar="NAME",
                   help="ClickHouse server: the folder is the server's backup disk NAME, "
                        "mounted at the same path here (deploy/clickhouse/config.d/backups.xml)")
    p.add_argument("--s3-endpoint", default="", metavar="URL",
                   help="s3://BUCKET/PREFIX targets: the S3-compatible endpoint; credentials "
                        "from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or their _FILE twins)")


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

    b = sub.add_parser("backup", help="back up the store (ClickHouse BACKUP): once, or into "
                                      "a series (incremental, retention, status file)")
    b.add_argument("dest", nargs="?", help="one-off full backup: a new folder (embedded store) "
                   "or a ClickHouse destination such as \"Disk('backups', 'name')\" (server)")
    b.add_argument("--into", metavar="TARGET", help="add a backup to the series in TARGET: a "
                   "folder, or s3://BUCKET/PREFIX (with --s3-endpoint)")
    b.add_argument("--keep", type=int, default=7, metavar="N", help="--into: keep the newest N "
                   "backups and those they are built on (default 7)")
    b.add_argument("--full-every", type=int, default=7, metavar="N", help="--into: a full "
                   "backup once the chain since the last one is N long; 1: always full "
                   "(default 7)")
    b.add_argument("--s3-region", default="", metavar="REGION",
                   help="s3:// targets: the region to sign for (default $AWS_REGION or "
                        "us-east-1)")
    b.add_argument("--status-file", metavar="PATH", help="--into: where the outcome is "
                   "recorded for the backup metrics (default $RACKWATCH_HOME/backup/status.json)")
    _target_flags(b)
    b.set_defaults(func=_backup)

    r = sub.add_parser("restore", help="replace the store's data with a backup")
    r.add_argument("src", help="a backup written by `rackwatch backup`: a folder, "
                               "s3://BUCKET/PREFIX/NAME, or a ClickHouse destination (server)")
    r.add_argument("--force", action="store_true",
                   help="replace the database even if it holds data (and, with --with-config, "
                        "the home's rackwatch.toml and config/ files)")
    r.add_argument("--with-config", action="store_true",
                   help="also put back the configuration saved with the backup: "
                        "$RACKWATCH_HOME/rackwatch.toml and the rule and routing files it "
                        "names (under $RACKWATCH_HOME/config/); secrets are not saved")
    r.add_argument("--config-only", action="store_true",
                   help="put back the configuration only, not the store")
    _target_flags(r)
    r.set_defaults(func=_restore)
