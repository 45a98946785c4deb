"""A minimal AWS Signature V4 client for S3 (stdlib only): enough to create a bucket and PUT an object."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class S3Credentials:
    endpoint: str  # http://127.0.0.1:8333
    region: str
    access_key: str
    secret_key: str


def request(creds: S3Credentials, method: str, path: str, body: bytes = b"", timeout: float = 5.0) -> tuple[int, bytes]:
    """Send one signed path-style request (`/bucket` or `/bucket/key`); returns (status, body)."""
    url = urllib.parse.urlsplit(creds.endpoint)
    host = url.netloc
    now = dt.datetime.now(dt.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_path = urllib.parse.quote(path, safe="/-_.~")
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, canonical_path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, payload_hash]
    )
    scope = f"{day}/{creds.region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{creds.secret_key}".encode()
    for part in (day, creds.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    connection_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(host, timeout=timeout)
    try:
        connection.request(method, canonical_path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def ensure_bucket(creds: S3Credentials, bucket: str) -> None:
    """Create `bucket` unless it already exists (and is ours); raise on anything else."""
    status, body = request(creds, "PUT", f"/{bucket}")
    if status == 200 or (status == 409 and b"BucketAlreadyOwnedByYou" in body):
        return
    raise RuntimeError(f"creating bucket {bucket!r} failed: HTTP {status} {body[:300]!r}")


def put_works(creds: S3Credentials, bucket: str) -> bool:
    """True when a real PUT of a small object into `bucket` succeeds (the only honest readiness check)."""
    try:
        status, _ = request(creds, "PUT", f"/{bucket}/.infra-ready", b"ok")
    except OSError:
        return False
    return status == 200
