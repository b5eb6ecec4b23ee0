"""Where a series of backups lives: a folder, or a prefix in an S3-compatible bucket.

A target names each backup as a ClickHouse destination (`File(...)`, `Disk(...)`,
`S3(...)`) for BACKUP and RESTORE, and keeps the manifests and deletions that ClickHouse
does not do. Written for the places rackwatch runs:

- a folder with the embedded store: `File('<folder>/<name>')` (the embedded engine may
  write anywhere the process may);
- a folder with a ClickHouse server: the server's backup disk (`--disk backups`,
  deploy/clickhouse/config.d/backups.xml), mounted at the same folder where
  `rackwatch backup` runs so it can write manifests and delete old backups;
- `s3://bucket/prefix` with `--s3-endpoint URL` and the credentials in
  AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or their *_FILE twins): ClickHouse
  writes `S3(...)`, rackwatch lists, keeps manifests and deletes through sinks.s3.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import orjson

from sinks.backupset import MANIFEST, Entry, ManifestError, parse_manifest
from sinks.s3 import S3Client

__all__ = ["DirTarget", "S3Target", "Target", "TargetError", "open_target", "sql_string"]


class TargetError(ValueError):
    """A target that cannot be used as given (the message says what to change)."""


def sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Target(Protocol):
    @property
    def location(self) -> str: ...  # for people: no secrets

    def destination(self, name: str) -> str: ...
    def entries(self) -> list[Entry]: ...
    def manifest(self, name: str) -> dict[str, object]: ...
    def write_manifest(self, name: str, doc: dict[str, object]) -> None: ...
    def delete(self, name: str) -> None: ...
    def exists(self, name: str) -> bool: ...


def _entries(names: list[str], read: Target) -> list[Entry]:
    out = []
    for name in sorted(names):
        try:
            out.append(parse_manifest(read.manifest(name), name))
        except ManifestError:
            continue  # no manifest yet (a backup being written) or not ours: left alone
    return out


@dataclass(frozen=True)
class DirTarget:
    root: Path
    disk: str = ""  # a server's backup disk whose path is `root` here too

    @property
    def location(self) -> str:
        return str(self.root)

    def destination(self, name: str) -> str:
        if self.disk:
            return f"Disk({sql_string(self.disk)}, {sql_string(name)})"
        return f"File({sql_string(str(self.root / name))})"

    def entries(self) -> list[Entry]:
        if not self.root.is_dir():
            return []
        return _entries([p.name for p in self.root.iterdir() if p.is_dir()], self)

    def manifest(self, name: str) -> dict[str, object]:
        try:
            doc = orjson.loads((self.root / name / MANIFEST).read_bytes())
        except (OSError, orjson.JSONDecodeError) as e:
            raise ManifestError(f"{self.root / name} is not a rackwatch backup "
                                f"({MANIFEST}: {e})") from e
        if not isinstance(doc, dict):
            raise ManifestError(f"{self.root / name / MANIFEST} is not a manifest")
        return doc

    def write_manifest(self, name: str, doc: dict[str, object]) -> None:
        path = self.root / name / MANIFEST
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)  # a manifest is there whole or not at all

    def delete(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()


@dataclass(frozen=True)
class S3Target:
    client: S3Client
    prefix: str  # "" or "some/prefix/"

    @property
    def location(self) -> str:
        return f"s3://{self.client.bucket}/{self.prefix}"

    def destination(self, name: str) -> str:
        url = f"{self.client.endpoint.rstrip('/')}/{self.client.bucket}/{self.prefix}{name}/"
        return (f"S3({sql_string(url)}, {sql_string(self.client.access_key)}, "
                f"{sql_string(self.client.secret_key)})")

    def entries(self) -> list[Entry]:
        _, prefixes = self.client.list(self.prefix, delimiter="/")
        return _entries([p[len(self.prefix):].rstrip("/") for p in prefixes], self)

    def manifest(self, name: str) -> dict[str, object]:
        data = self.client.get(f"{self.prefix}{name}/{MANIFEST}")
        if data is None:
            raise ManifestError(f"{self.location}{name} is not a rackwatch backup "
                                f"(no {MANIFEST})")
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise ManifestError(f"{self.location}{name}/{MANIFEST}: {e}") from e
        if not isinstance(doc, dict):
            raise ManifestError(f"{self.location}{name}/{MANIFEST} is not a manifest")
        return doc

    def write_manifest(self, name: str, doc: dict[str, object]) -> None:
        self.client.put(f"{self.prefix}{name}/{MANIFEST}",
                        orjson.dumps(doc, option=orjson.OPT_INDENT_2))

    def delete(self, name: str) -> None:
        # the manifest first: a half-deleted backup is then no longer taken for one
        self.client.delete(f"{self.prefix}{name}/{MANIFEST}")
        keys, _ = self.client.list(f"{self.prefix}{name}/")
        for key in keys:
            self.client.delete(key)

    def exists(self, name: str) -> bool:
        keys, _ = self.client.list(f"{self.prefix}{name}/")
        return bool(keys)


def _secret(env: dict[str, str], name: str) -> str:
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().splitlines()[0].strip()
        except (OSError, IndexError) as e:
            raise TargetError(f"{name}_FILE={path}: {e}") from e
    return env.get(name, "")


def open_target(location: str, *, disk: str = "", s3_endpoint: str = "",
                s3_region: str = "", env: dict[str, str] | None = None) -> Target:
    """The target `location` names: a folder, or s3://bucket/prefix (with s3_endpoint)."""
    if location.startswith("s3://"):
        env = dict(os.environ) if env is None else env
        url = urlparse(location)
        if not url.netloc or not s3_endpoint:
            raise TargetError("an S3 target needs a bucket (s3://BUCKET/PREFIX) and "
                              "--s3-endpoint URL (e.g. https://s3.eu-west-1.amazonaws.com)")
        key, secret = _secret(env, "AWS_ACCESS_KEY_ID"), _secret(env, "AWS_SECRET_ACCESS_KEY")
        if not key or not secret:
            raise TargetError("an S3 target needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                              "(or AWS_ACCESS_KEY_ID_FILE / AWS_SECRET_ACCESS_KEY_FILE)")
        prefix = url.path.strip("/")
        client = S3Client(s3_endpoint, url.netloc, key, secret,
                          s3_region or env.get("AWS_REGION") or "us-east-1")
        return S3Target(client, f"{prefix}/" if prefix else "")
    if disk and not Path(location).is_absolute():
        raise TargetError("with --disk, give the absolute path where the server's backup "
                          "disk is mounted here")
    return DirTarget(Path(location).resolve(), disk)
