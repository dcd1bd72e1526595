"""Presigned upload URLs bound to the announced size: AWS Signature V4 (query string) over `content-length` as
well as `host`, so storage itself refuses a PUT of any other length (or a chunked one, which has none)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

# minio's `presigned_put_object` signs the host only: any body of any size would be accepted under its URL.
# SeaweedFS, MinIO and AWS S3 all check every header named in X-Amz-SignedHeaders.
SIGNED_HEADERS = "content-length;host"


def _quoted(value: str, safe: str = "-_.~") -> str:
    return quote(value, safe=safe)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class UploadSigner:
    """Signs PUT URLs for the address participants reach storage at (`host[:port]`, as minio's endpoint)."""

    endpoint: str
    secure: bool
    access_key: str
    secret_key: str
    region: str

    def put_url(self, bucket: str, key: str, size_bytes: int, ttl: timedelta, now: datetime | None = None) -> str:
        """A URL that stores exactly `size_bytes` bytes at `key` until `ttl` from `now`, and nothing else."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        stamp, day = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
        scope = f"{day}/{self.region}/s3/aws4_request"
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{self.access_key}/{scope}",
            "X-Amz-Date": stamp, "X-Amz-Expires": str(int(ttl.total_seconds())),
            "X-Amz-SignedHeaders": SIGNED_HEADERS,
        }
        canonical_query = "&".join(f"{_quoted(name)}={_quoted(value)}" for name, value in sorted(query.items()))
        path = f"/{bucket}/{_quoted(key, safe='/-_.~')}"
        canonical_request = "\n".join([
            "PUT", path, canonical_query, f"content-length:{size_bytes}", f"host:{self.endpoint}", "",
            SIGNED_HEADERS, "UNSIGNED-PAYLOAD"])
        string_to_sign = "\n".join([
            "AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
        signing_key = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            signing_key = _hmac(signing_key, part)
        signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.endpoint}{path}?{canonical_query}&X-Amz-Signature={signature}"
