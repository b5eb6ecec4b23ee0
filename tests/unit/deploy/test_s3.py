"""sinks.s3 and the S3 backup target: AWS's signing example, and a real S3 endpoint
(moto's server) for listing, manifests and deletion."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from sinks.backupset import build_manifest
from sinks.backuptarget import S3Target, TargetError, open_target
from sinks.s3 import S3Client, S3Error, sign_v4

EXAMPLE_KEY = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
WHEN = dt.datetime(2013, 5, 24, tzinfo=dt.UTC)
EMPTY = hashlib.sha256(b"").hexdigest()


class TestSignature:
    """Signature Version 4, checked against the examples in Amazon S3's API reference."""

    def test_get_object_example(self) -> None:
        headers = sign_v4(method="GET", host="examplebucket.s3.amazonaws.com",
                          path="/test.txt", query={}, headers={"Range": "bytes=0-9"},
                          payload_sha256=EMPTY, access_key=EXAMPLE_KEY[0],
                          secret_key=EXAMPLE_KEY[1], region="us-east-1", when=WHEN)
        assert headers["Authorization"].endswith(
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature="
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")

    def test_list_objects_example(self) -> None:
        headers = sign_v4(method="GET", host="examplebucket.s3.amazonaws.com", path="/",
                          query={"max-keys": "2", "prefix": "J"}, headers={},
                          payload_sha256=EMPTY, access_key=EXAMPLE_KEY[0],
                          secret_key=EXAMPLE_KEY[1], region="us-east-1", when=WHEN)
        assert headers["Authorization"].endswith(
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")


class TestTarget:
    """Opening a target says what is missing."""

    def test_s3_needs_an_endpoint_and_keys(self) -> None:
        with pytest.raises(TargetError, match="--s3-endpoint"):
            open_target("s3://b/p", env={})
        with pytest.raises(TargetError, match="AWS_ACCESS_KEY_ID"):
            open_target("s3://b/p", s3_endpoint="http://x", env={})

    def test_keys_may_come_from_files(self, tmp_path: object) -> None:
        from pathlib import Path

        key = Path(str(tmp_path)) / "key"
        key.write_text("from-file\n")
        target = open_target("s3://bucket/a/b", s3_endpoint="http://x",
                             env={"AWS_ACCESS_KEY_ID_FILE": str(key),
                                  "AWS_SECRET_ACCESS_KEY": "s"})
        assert isinstance(target, S3Target)
        assert target.client.access_key == "from-file" and target.prefix == "a/b/"
        assert "from-file" not in target.location
        assert target.destination("n") == ("S3('http://x/bucket/a/b/n/', 'from-file', 's')")


class TestAgainstAnS3Endpoint:
    """List, read, write and delete on a real S3 API (moto's server on localhost)."""

    def test_manifests_listing_and_deletion(self, s3_endpoint: str) -> None:
        client = S3Client(s3_endpoint, "rackwatch-s3-test", "k", "s")
        client.create_bucket()
        client.create_bucket()  # a second time is fine
        target = S3Target(client, "series/")
        for name, base in (("b1", None), ("b2", "b1")):
            client.put(f"series/{name}/data/part.bin", b"x" * 10)
            target.write_manifest(name, build_manifest(
                name=name, kind="full" if base is None else "incremental", base=base,
                database="rackwatch", created_at=f"2026-01-0{name[1]}T00:00:00Z",
                tables={"metrics": 1}, schema_versions=[1], chain=[name]))
        client.put("series/partial/data/part.bin", b"no manifest yet")
        assert [e.name for e in target.entries()] == ["b1", "b2"]
        assert target.exists("partial")
        target.delete("b1")
        assert [e.name for e in target.entries()] == ["b2"]
        assert not target.exists("b1")
        assert client.get("series/b1/rackwatch-backup.json") is None

    def test_listing_follows_pages(self, s3_endpoint: str) -> None:
        client = S3Client(s3_endpoint, "rackwatch-s3-pages", "k", "s")
        client.create_bucket()
        for i in range(1005):  # one page holds 1,000 keys
            client.put(f"p/{i:04d}", b"")
        keys, _ = client.list("p/")
        assert len(keys) == 1005

    def test_errors_carry_the_stores_words(self, s3_endpoint: str) -> None:
        client = S3Client(s3_endpoint, "no-such-bucket-here", "k", "s")
        with pytest.raises(S3Error, match="NoSuchBucket"):
            client.put("x", b"")
