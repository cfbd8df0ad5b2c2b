"""The S3 store's per-object requests sent through the engine, with botocore's answers.

`EngineRequests` has the methods, arguments and answers of the botocore-backed
`ObjectRequests` (lib/stores/s3requests.py) the S3 store calls (HEAD, GET as a stream, a
ranged GET read whole, PUT, CopyObject, UploadPart, UploadPartCopy), so the store
needs no other change.
The `client` each method receives still decides the bounds of the request: its read
timeout is the stall timeout, and its attempts are the engine's attempts (a
Retrier's clients allow few, since the Retrier retries with longer timeouts itself).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from lib.engine.window import then
from lib.stores.crt.addressing import Source
from lib.stores.crt.answers import object_response
from lib.stores.crt.calls import Limits, Upload
from lib.stores.crt.operations import head_call
from lib.stores.s3 import S3Config
from lib.stores.s3requests import ObjectRequests, Sink, unquoted
from lib.stores.transfer import TransferError

if TYPE_CHECKING:  # the engine (and awscrt) load when the first request needs them
    from lib.stores.crt.engine import Engine

BULK_THREADS = 8
BULK_BYTES = 1024 * 1024  # a ranged GET above this goes through botocore
ENGINE_VARIABLE = "S3DEEP_ENGINE"  # "botocore": per-object requests through botocore
_OBJECT_PARAMS = {"Bucket", "Key", "ContentType", "Metadata", "StorageClass"}
_HEAD_PARAMS = {"ChecksumMode", "PartNumber"}


def _source(copy_source: dict[str, str]) -> Source:
    """botocore's CopySource dict as the engine's Source."""
    return Source(copy_source["Bucket"], copy_source["Key"], copy_source.get("VersionId"))


def _upload(part: dict[str, Any]) -> Upload:
    _unknown(part, {"Bucket", "Key", "UploadId", "PartNumber"})
    return Upload(part["Bucket"], part["Key"], part["UploadId"])


def _unknown(params: dict[str, Any], known: set[str]) -> None:
    extra = set(params) - known
    if extra:  # a parameter the engine would silently drop: fail loudly instead
        raise ValueError(f"the request engine does not send {sorted(extra)}")


class EngineRequests(ObjectRequests):
    """The per-object requests through an engine, made on first use by `make_engine`."""

    def __init__(self, make_engine: Callable[[], Engine]) -> None:
        self._make_engine = make_engine
        self._engine: Engine | None = None
        self._limits: dict[int, Limits] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None  # bulk reads
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        engine = self._engine
        if engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._make_engine()
                engine = self._engine
        return engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def limits(self, client: Any) -> Limits:
        """The bounds a botocore client would have given its requests."""
        limits = self._limits.get(id(client))
        if limits is None:
            config = client.meta.config
            limits = Limits(
                stall_s=float(config.read_timeout),
                attempts=int(config.retries.get("total_max_attempts") or 1),
            )
            self._limits[id(client)] = limits
        return limits

    asynchronous = True

    def head_async(
        self,
        client: Any,
        bucket: str,
        key: str,
        version_id: str | None = None,
        *,
        read: Callable[[dict[str, Any] | None], Any] | None = None,
        failed: Callable[[Exception], Any] | None = None,
        raw: bool = False,
        **extra: Any,
    ) -> concurrent.futures.Future[Any]:
        """The HEAD's answer, None for no such object; with `read`, what read makes of
        that, on the engine's thread (one future, not a chain of them); with `failed`,
        what it makes of the error of a HEAD that failed (or of read's). With `raw`, read
        gets the response headers (lower-case names) instead of botocore's dict."""
        _unknown(extra, _HEAD_PARAMS)
        engine = self.engine
        call = head_call(
            bucket, key, version_id, extra.get("PartNumber"), extra.get("ChecksumMode") == "ENABLED"
        )
        if read is None:
            call.if_missing = _none
        else:
            if raw:
                call.read = lambda answer: read(answer.headers)
            else:
                call.read = lambda answer: read(object_response(answer))
            call.if_missing = lambda: read(None)
        call.if_failed = failed
        return engine.submit(call, self.limits(client))

    def get_async(
        self,
        client: Any,
        bucket: str,
        key: str,
        version_id: str | None,
        sink: Sink,
        *,
        read: Callable[[dict[str, str] | None], Any] | None = None,
        failed: Callable[[Exception], Any] | None = None,
    ) -> concurrent.futures.Future[Any]:
        """The whole object into `sink`: botocore's response dict (None: no such object);
        with `read`, what read makes of the response headers (lower-case names; None: no
        such object), and with `failed`, of the error; on the engine's thread."""
        if read is None:
            return self.engine.get_async(
                bucket, key, version_id=version_id, sink=sink, checksum_mode=True,
                limits=self.limits(client), if_missing=_none,
            )  # fmt: skip
        return self.engine.get_async(
            bucket, key, version_id=version_id, sink=sink, checksum_mode=True,
            limits=self.limits(client), if_missing=lambda: read(None),
            read=lambda answer: read(answer.headers), if_failed=failed,
        )  # fmt: skip

    def head(
        self, client: Any, bucket: str, key: str, version_id: str | None = None, **extra: Any
    ) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.head_async(
            client, bucket, key, version_id, **extra
        ).result()
        return found

    def get(self, client: Any, bucket: str, key: str, version_id: str | None = None) -> IO[bytes]:
        """The object as a file: the first range through the engine, the rest of a large
        object through `client` (lib/stores/crt/reader.py says why), in parallel and in order."""

        def bulk(start: int, end: int, etag: str | None) -> bytes:
            params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes={start}-{end}"}
            if etag is not None:
                params["IfMatch"] = etag
            if version_id is not None:
                params["VersionId"] = version_id
            body = client.get_object(**params)["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
            return data

        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(BULK_THREADS, "s3-bulk-read")
        reader = self.engine.open(bucket, key, version_id=version_id, bulk=bulk, pool=self._pool)
        return reader  # type: ignore[return-value]

    def get_range(self, client: Any, bucket: str, key: str, start: int, length: int) -> bytes:
        if length > BULK_BYTES:  # bulk bytes read cheaper through botocore (reader.py)
            return super().get_range(client, bucket, key, start, length)
        answer = self.engine.get(
            bucket, key, byte_range=(start, start + length - 1), limits=self.limits(client)
        )
        data: bytes = answer["Body"].read()
        if len(data) != length:
            raise TransferError(f"{key}: read {len(data)} bytes of {length}")
        return data

    def put(self, client: Any, params: dict[str, Any], data: bytes) -> str | None:
        _unknown(params, _OBJECT_PARAMS)
        answer = self.engine.put(
            params["Bucket"],
            params["Key"],
            data,
            content_type=params.get("ContentType"),
            metadata=params.get("Metadata"),
            storage_class=params.get("StorageClass"),
            limits=self.limits(client),
        )
        return unquoted(answer.get("ETag"))

    def copy(self, client: Any, params: dict[str, Any]) -> str | None:
        return self.copy_async(client, params).result()

    def copy_async(
        self, client: Any, params: dict[str, Any]
    ) -> concurrent.futures.Future[str | None]:
        _unknown(params, _OBJECT_PARAMS | {"CopySource", "MetadataDirective"})
        answer = self.engine.copy_async(
            params["Bucket"],
            params["Key"],
            _source(params["CopySource"]),
            metadata_directive=params.get("MetadataDirective", "COPY"),
            content_type=params.get("ContentType"),
            metadata=params.get("Metadata"),
            storage_class=params.get("StorageClass"),
            limits=self.limits(client),
        )
        return then(answer, lambda copied: unquoted(copied.get("CopyObjectResult", {}).get("ETag")))

    def upload_part(self, client: Any, part: dict[str, Any], data: bytes) -> str:
        answer = self.engine.upload_part(
            _upload(part), part["PartNumber"], data, limits=self.limits(client)
        )
        return str(answer["ETag"]).strip('"')

    def upload_part_copy(
        self, client: Any, part: dict[str, Any], source: dict[str, str], span: tuple[int, int]
    ) -> str:
        start, end = span
        answer = self.engine.upload_part_copy(
            _upload(part), part["PartNumber"], _source(source), (start, end - 1),
            limits=self.limits(client),
        )  # fmt: skip
        return str(answer["CopyPartResult"]["ETag"]).strip('"')


def engine_requests(config: S3Config, concurrency: int) -> EngineRequests | None:
    """The per-object requests of a run: through the engine (made when first needed),
    or None for botocore's own path when S3DEEP_ENGINE=botocore asks for it."""
    if os.environ.get(ENGINE_VARIABLE, "").strip().lower() == "botocore":
        return None

    def make_engine() -> Engine:
        from lib.stores.crt.engine import Engine

        return Engine.for_config(config, concurrency=concurrency)

    return EngineRequests(make_engine)


def _none() -> None:
    return None
