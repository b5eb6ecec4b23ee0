"""The few S3 calls a backup series needs beside ClickHouse: list, get, put, delete.

ClickHouse writes and reads the backups themselves (`BACKUP ... TO S3(...)`); rackwatch
only keeps each backup's manifest next to it and deletes what retention drops, which
ClickHouse cannot do. Any S3-compatible store works (AWS, MinIO, Ceph, GCS's XML API):
path-style URLs (`ENDPOINT/BUCKET/KEY`), AWS Signature Version 4, standard library only
(the signing is pure and tested against AWS's published example).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlparse

__all__ = ["S3Client", "S3Error", "sign_v4"]

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class S3Error(RuntimeError):
    """The store answered with an error (its code and message), or could not be reached."""


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign_v4(*, method: str, host: str, path: str, query: Mapping[str, str],
            headers: Mapping[str, str], payload_sha256: str, access_key: str,
            secret_key: str, region: str, when: dt.datetime,
            service: str = "s3") -> dict[str, str]:
    """The headers that sign a request (Authorization, x-amz-date, x-amz-content-sha256).
    `path` is already URI-encoded; `headers` are the other headers to sign."""
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    signed.update({"host": host, "x-amz-date": amz_date})
    if service == "s3":
        signed["x-amz-content-sha256"] = payload_sha256
    names = sorted(signed)
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                               for k, v in sorted(query.items()))
    canonical = "\n".join([method, path, canonical_query,
                           "".join(f"{n}:{signed[n]}\n" for n in names), ";".join(names),
                           payload_sha256])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service),
                "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {"Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={signature}",
           "x-amz-date": amz_date}
    if service == "s3":
        out["x-amz-content-sha256"] = payload_sha256
    return out


@dataclass(frozen=True)
class S3Client:
    """One bucket on one endpoint (`https://minio:9000`, `https://s3.eu-west-1.amazonaws.com`)."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    timeout_s: float = 60.0

    def _request(self, method: str, key: str, *, query: Mapping[str, str] | None = None,
                 body: bytes = b"") -> tuple[int, bytes]:
        url = urlparse(self.endpoint)
        base = url.path.rstrip("/")
        path = quote(f"{base}/{self.bucket}/{key}" if key else f"{base}/{self.bucket}",
                     safe="/-_.~")
        query = dict(query or {})
        headers = sign_v4(method=method, host=url.netloc, path=path, query=query, headers={},
                          payload_sha256=hashlib.sha256(body).hexdigest(),
                          access_key=self.access_key, secret_key=self.secret_key,
                          region=self.region, when=dt.datetime.now(dt.UTC))
        conn_cls = (http.client.HTTPSConnection if url.scheme == "https"
                    else http.client.HTTPConnection)
        conn = conn_cls(url.netloc, timeout=self.timeout_s)
        target = path + ("?" + urlencode(sorted(query.items()), quote_via=quote)
                         if query else "")
        try:
            conn.request(method, target, body=body or None,
                         headers={**headers, "Content-Length": str(len(body))})
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            raise S3Error(f"{method} {self.endpoint}/{self.bucket}/{key}: {e}") from e
        finally:
            conn.close()
        return resp.status, data

    def _check(self, status: int, data: bytes, what: str, ok: tuple[int, ...] = (200,)) -> None:
        if status in ok:
            return
        try:
            root = ET.fromstring(data)
            detail = f"{root.findtext('Code')}: {root.findtext('Message')}"
        except ET.ParseError:
            detail = data[:200].decode("utf-8", "replace")
        raise S3Error(f"{what}: HTTP {status} {detail}")

    def create_bucket(self) -> None:
        """Make the bucket (a fresh MinIO, a test); one that exists already is fine."""
        status, data = self._request("PUT", "")
        if status == 409 and b"BucketAlreadyOwnedByYou" in data:
            return
        self._check(status, data, f"create bucket {self.bucket}")

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        status, data = self._request("GET", key)
        if status == 404:
            return None
        self._check(status, data, f"get {key}")
        return data

    def put(self, key: str, body: bytes) -> None:
        status, data = self._request("PUT", key, body=body)
        self._check(status, data, f"put {key}")

    def delete(self, key: str) -> None:
        status, data = self._request("DELETE", key)
        self._check(status, data, f"delete {key}", ok=(200, 204, 404))

    def list(self, prefix: str, delimiter: str = "") -> tuple[list[str], list[str]]:
        """(keys, common prefixes) under `prefix`, every page."""
        keys: list[str] = []
        prefixes: list[str] = []
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if delimiter:
                query["delimiter"] = delimiter
            if token:
                query["continuation-token"] = token
            status, data = self._request("GET", "", query=query)
            self._check(status, data, f"list {prefix}")
            root = ET.fromstring(data)
            keys += [k.text or "" for k in root.iter(f"{_NS}Key")]
            prefixes += [cp.findtext(f"{_NS}Prefix") or ""
                         for cp in root.iter(f"{_NS}CommonPrefixes")]
            token = root.findtext(f"{_NS}NextContinuationToken") or ""
            if root.findtext(f"{_NS}IsTruncated") != "true" or not token:
                return keys, prefixes
