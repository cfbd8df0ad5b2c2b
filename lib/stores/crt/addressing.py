"""Where a bucket's requests go, decided by botocore's rules once per bucket.

botocore's endpoint rules know every addressing case (virtual host or path style,
custom endpoints, AWS_ENDPOINT_URL(_S3), FIPS and dual-stack, the bucket's region).
Rather than repeat them, we let a botocore client prepare one HeadObject for a
placeholder key and stop it just before signing: the URL it built, minus the
placeholder, is the bucket's template, and the signing region is the one it chose.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

PLACEHOLDER = "s3deep-address-probe"
# What quote(key, safe="/~") leaves as it is: RFC 3986's unreserved characters and "/".
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~/-]*").fullmatch


@dataclass(frozen=True)
class Address:
    """One bucket's requests: connect to host:port, and a key's path is base + quoted key."""

    scheme: str
    host: str
    port: int
    host_header: str
    base_path: str
    region: str
    signing_name: str
    endpoint: str  # the client's endpoint URL: what "cannot connect to …" names

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    def path(self, key: str) -> str:
        """The request path of a key, percent-encoded as S3 signs it (botocore's quoting)."""
        if _UNRESERVED(key):  # most keys: nothing to encode (a regex is cheaper than quote)
            return self.base_path + key
        return self.base_path + quote(key, safe="/~")


@dataclass(frozen=True)
class Source:
    """The object a copy reads."""

    bucket: str
    key: str
    version_id: str | None = None

    def header(self) -> str:
        """Its x-amz-copy-source header, quoted as botocore quotes it."""
        source = quote(f"{self.bucket}/{self.key}", safe="/~")
        if self.version_id is not None:
            source += f"?versionId={quote(self.version_id, safe='~')}"
        return source


class _Prepared(Exception):
    """Stops the probe request once botocore has built it."""

    def __init__(self, url: str, region: str, signing_name: str) -> None:
        super().__init__(url)
        self.url, self.region, self.signing_name = url, region, signing_name


class Addresses:
    """The Address of each bucket (and region, after a redirect), made on first use.

    `make_client(region)` gives a botocore client for that region (None: the
    configured one); the probe runs on a client of our own, since it aborts the call:
    `configured`, if given, is one for the configured region that sends nothing else.
    """

    def __init__(self, make_client: Any, configured: Any = None) -> None:
        self._make_client = make_client
        self._clients: dict[str | None, Any] = {}
        if configured is not None:
            self._clients[None] = _probing(configured)
        self._known: dict[tuple[str, str | None], Address] = {}
        self._regions: dict[str, str] = {}  # buckets whose region a redirect named
        self._lock = threading.Lock()

    def moved(self, bucket: str, region: str) -> None:
        """The server said the bucket lives in `region`: its requests go there from now."""
        self._regions[bucket] = region

    def get(self, bucket: str, region: str | None = None) -> Address:
        region = region or self._regions.get(bucket)
        address = self._known.get((bucket, region))
        if address is None:
            with self._lock:
                address = self._known.get((bucket, region))
                if address is None:
                    address = self._resolve(bucket, region)
                    self._known[(bucket, region)] = address
        return address

    def _client(self, region: str | None) -> Any:
        client = self._clients.get(region)
        if client is None:
            client = _probing(self._make_client(region))
            self._clients[region] = client
        return client

    def _resolve(self, bucket: str, region: str | None) -> Address:
        client = self._client(region)
        try:
            client.head_object(Bucket=bucket, Key=PLACEHOLDER)
        except _Prepared as prepared:
            return _address(prepared, client.meta.endpoint_url)
        raise AssertionError("botocore sent the addressing probe")


def _probing(client: Any) -> Any:
    """The client, its HeadObject stopped once botocore has built it (the probe)."""
    client.meta.events.register_last("before-sign.s3.HeadObject", _stop_before_signing)
    return client


def _stop_before_signing(request: Any, region_name: str, signing_name: str, **_: Any) -> None:
    signing = request.context.get("signing", {})
    raise _Prepared(
        request.url,
        signing.get("region") or region_name,
        signing.get("signing_name") or signing_name,
    )


def _address(prepared: _Prepared, endpoint: str) -> Address:
    parts = urlsplit(prepared.url)
    path = parts.path
    if not path.endswith(PLACEHOLDER):
        raise AssertionError(f"unexpected request path {path!r} for the addressing probe")
    scheme = parts.scheme or "https"
    default_port = 443 if scheme == "https" else 80
    port = parts.port or default_port
    host = parts.hostname or ""
    return Address(
        scheme=scheme,
        host=host,
        port=port,
        host_header=parts.netloc.rpartition("@")[2],
        base_path=path[: -len(PLACEHOLDER)],
        region=prepared.region,
        signing_name=prepared.signing_name,
        endpoint=endpoint,
    )
