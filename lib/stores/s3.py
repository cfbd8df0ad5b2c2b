"""S3 through boto3: clients and a fast streaming listing (errors: lib/leaves/retry.py).

boto3 keeps doing what it is good at (credentials, signing, endpoints, retries
in botocore's standard mode). For the list operations we keep it from parsing:
botocore turns every 1000-key page into dicts with datetime objects, about
130 ms of CPU per page. A `before-parse` hook hands us the raw XML instead, from
which ElementTree extracts the handful of fields a record needs.
"""

from __future__ import annotations

import gzip
import html
import itertools
import operator
import os
import queue
import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from lib.engine import interrupts
from lib.leaves.errors import FatalError, UsageError
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.records import ObjectRecord
from lib.leaves.retry import Unreachable, request_failed

RAW_BODY = "S3deepRawBody"
LIST_OPERATIONS = ("ListObjectsV2", "ListObjectVersions")
PREFETCH_PAGES = 4
READ_TIMEOUT_VARIABLE = "S3DEEP_READ_TIMEOUT"


def read_timeout_s(default: float) -> float:
    """The socket read timeout: S3DEEP_READ_TIMEOUT seconds if set (and valid), else default."""
    try:
        value = float(os.environ.get(READ_TIMEOUT_VARIABLE, ""))
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class S3Config:
    endpoint_url: str | None = None
    profile: str | None = None
    region: str | None = None
    max_connections: int = 16
    max_attempts: int = 10


# One session per profile and region: a session loads the S3 model once (~0.2 s of CPU),
# and later clients from it (other timeouts, other endpoints) cost a few milliseconds.
_SESSIONS: dict[tuple[str | None, str | None], Any] = {}
_SESSIONS_LOCK = threading.Lock()


def make_client(
    config: S3Config, *, read_timeout: float | None = None, max_attempts: int | None = None
) -> Any:
    import botocore.config
    import botocore.exceptions
    import botocore.session

    attempts = max_attempts or config.max_attempts
    if max_attempts is None:
        attempts = _env_int("AWS_MAX_ATTEMPTS", attempts)  # the AWS CLI's variable wins
    client_config = botocore.config.Config(
        retries={"mode": "standard", "max_attempts": attempts},
        max_pool_connections=config.max_connections,
        connect_timeout=10,
        read_timeout=read_timeout if read_timeout is not None else read_timeout_s(60),
        user_agent_extra="s3deep/0.1",
        # s3-check computes every checksum itself, in one pass with the ETag; botocore
        # validating GETs too would cost a second pass and turn a mismatch into an error.
        response_checksum_validation="when_required",
    )
    with _SESSIONS_LOCK:
        session = _SESSIONS.get((config.profile, config.region))
        if session is None:
            try:
                # botocore's session, not boto3's: the same credentials and settings,
                # without importing boto3's resources and s3transfer (~0.1 s of CPU per process).
                session = botocore.session.Session(profile=config.profile)
                session.get_scoped_config()  # an unknown profile fails here, not mid-run
                session.register_component("data_loader", _data_loader(session))
                if config.region:
                    session.set_config_variable("region", config.region)
            except botocore.exceptions.ProfileNotFound as exc:
                raise UsageError(str(exc)) from None
            _SESSIONS[(config.profile, config.region)] = session
        client = session.create_client("s3", endpoint_url=config.endpoint_url, config=client_config)
        bare = without_userinfo(client.meta.endpoint_url)
        if bare != client.meta.endpoint_url:
            # From --endpoint-url, AWS_ENDPOINT_URL(_S3) or the config file alike. botocore
            # sends no user:password (its Host header is host:port) but keeps them in the
            # endpoint URL that its error messages and our checkpoints show.
            client = session.create_client("s3", endpoint_url=bare, config=client_config)
    events = client.meta.events
    events.register_first("needs-retry.s3", _fail_fast_until_answered(client.meta.endpoint_url))
    for operation in LIST_OPERATIONS:
        events.register(f"before-parse.s3.{operation}", _keep_raw_body)
    _check_200_errors_cheaply_on_listings(events)
    return client


# botocore's model files, loaded once per process (per AWS_DATA_PATH) and shared by every
# session: a run with clients of two profiles or regions parses them once.
_LOADERS: dict[str | None, Any] = {}


def _data_loader(session: Any) -> Any:
    """botocore's loader of its model files, on the same search path (AWS_DATA_PATH
    included), but reading them with ModelFiles."""
    import botocore.loaders

    data_path = session.get_config_variable("data_path")
    loader = _LOADERS.get(data_path)
    if loader is None:
        loader = botocore.loaders.create_loader(data_path)
        loader.file_loader = ModelFiles()
        loader.list_available_services = _known_services(loader)
        _LOADERS[data_path] = loader
    return loader


def _known_services(loader: Any) -> Callable[[str], list[str]]:
    """The loader's list of services, for S3 without listing them all.

    botocore's loader checks a service's name against every service that has a model
    of the type asked for, before loading S3's service model and endpoint rules: a
    listing of each of ~450 directories and a stat per file, about 10 ms of CPU per
    model type at every start. s3deep only makes S3 clients: when S3 has models of
    that type on the search path (a listing of S3's directories only), that answers;
    anything else asks botocore's full listing."""
    import botocore.exceptions

    every_service = loader.list_available_services

    def known(type_name: str) -> list[str]:
        try:
            loader.list_api_versions("s3", type_name)  # cached: the next step asks it too
        except botocore.exceptions.DataNotFoundError:
            return list(every_service(type_name))
        return ["s3"]

    return known


class ModelFiles:
    """What botocore's loader asks of its file loader (botocore.loaders.JSONFileLoader):
    whether a model file exists, and its data. The same files (`.json`, else `.json.gz`)
    and the same data, decoded by msgspec: json.loads into OrderedDicts cost ~60 ms of
    CPU at every start (endpoints.json, S3's model and endpoint rules), msgspec a third."""

    OPENERS: tuple[tuple[str, Callable[..., Any]], ...] = ((".json", open), (".json.gz", gzip.open))

    def exists(self, file_path: str) -> bool:
        # botocore's models are gzipped: that name first, one stat per model, not two
        return os.path.isfile(file_path + ".json.gz") or os.path.isfile(file_path + ".json")

    def load_file(self, file_path: str) -> Any:
        import msgspec

        for suffix, opener in self.OPENERS:
            try:  # opened at once: a stat first would ask the file system twice
                with opener(file_path + suffix, "rb") as file:
                    return msgspec.json.decode(file.read())
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
        return None


def without_userinfo(url: str) -> str:
    """The endpoint URL without `user:password@`: S3 requests are signed with the AWS
    credentials, and botocore ignores a user and password in the URL; dropped, they
    cannot leak through its messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


# Endpoints that answered once in this process. Until one has, a refused connection or
# an unknown host name is a wrong --endpoint-url, not a hiccup: no ~25 s of retries.
# After, it is a server restarting or a network blip, and the retries stay.
_ANSWERED_ENDPOINTS: set[str] = set()


def _fail_fast_until_answered(endpoint: str) -> Callable[..., None]:
    import botocore.exceptions

    def check(response: Any, caught_exception: Exception | None = None, **_: Any) -> None:
        if response is not None:
            _ANSWERED_ENDPOINTS.add(endpoint)
        elif endpoint not in _ANSWERED_ENDPOINTS and isinstance(
            caught_exception, botocore.exceptions.EndpointConnectionError
        ):
            raise unreachable(endpoint, caught_exception)

    return check


def unreachable(endpoint: str, exc: Exception) -> Unreachable:
    """The error for an endpoint that refused the first connection or has no address."""
    cause = getattr(exc, "kwargs", {}).get("error")
    chain = [cause, getattr(cause, "__context__", None), getattr(cause, "__cause__", None)]
    if any(isinstance(item, ConnectionRefusedError) for item in chain):
        why = "connection refused"
    elif any(isinstance(item, socket.gaierror) for item in chain) or "resolve" in str(cause):
        why = "the host name does not resolve"
    else:
        why = str(cause or exc)
    return unreachable_because(endpoint, why)


def unreachable_because(endpoint: str, why: str) -> Unreachable:
    return Unreachable(
        f"cannot connect to {without_userinfo(endpoint)}: {why}",
        hint="check --endpoint-url, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and that the server "
        "is running",
    )


def answered(endpoint: str) -> bool:
    """Whether the endpoint has answered a request in this process (see below)."""
    return endpoint in _ANSWERED_ENDPOINTS


def mark_answered(endpoint: str) -> None:
    _ANSWERED_ENDPOINTS.add(endpoint)


def _check_200_errors_cheaply_on_listings(events: Any) -> None:
    """botocore parses every successful S3 response into a tree just to see whether it
    is an error in disguise (S3 may answer 200 with an <Error> body), which costs as much
    CPU as reading the listing itself. A listing that ends with its own closing tag is
    neither an error nor cut off, so only the others get botocore's check."""
    from botocore import handlers

    check = getattr(handlers, "_handle_200_error", None)
    if check is None:
        return  # another botocore: leave its handlers alone

    def check_unless_whole_listing(
        operation_model: Any, response_dict: dict[str, Any], **kwargs: Any
    ) -> None:
        if operation_model.name in LIST_OPERATIONS and response_dict.get("status_code") == 200:
            tail = (response_dict.get("body") or b"")[-64:].rstrip()
            if tail.endswith((b"</ListBucketResult>", b"</ListVersionsResult>")):
                return
        check(operation_model=operation_model, response_dict=response_dict, **kwargs)

    events.unregister("before-parse.s3.*", check)
    events.register_first("before-parse.s3.*", check_unless_whole_listing)


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def _keep_raw_body(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """Hands a successful listing's XML to us and gives botocore nothing to parse."""
    if response_dict.get("status_code") == 200:
        customized_response_dict[RAW_BODY] = response_dict["body"]
        response_dict["body"] = b""


# --- listing -------------------------------------------------------------------------

_TRUNCATED = re.compile(rb"<IsTruncated>\s*true\s*</IsTruncated>")
_URL_ENCODED = re.compile(rb"<EncodingType>\s*url\s*</EncodingType>")
_NEXT_TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")
_NEXT_KEY_MARKER = re.compile(rb"<NextKeyMarker>([^<]*)</NextKeyMarker>")
_NEXT_VERSION_MARKER = re.compile(rb"<NextVersionIdMarker>([^<]*)</NextVersionIdMarker>")
_KEY = re.compile(rb"<Key>([^<]*)</Key>")


def _text(match: re.Match[bytes] | None, url_encoded: bool = False) -> str | None:
    if match is None:
        return None
    value = html.unescape(match.group(1).decode("utf-8"))
    return unquote_plus(value) if url_encoded else value


@dataclass
class ListRequest:
    bucket: str
    prefix: str
    versions: bool = False
    page_size: int = 1000
    start_after: str | None = None
    version_marker: str | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self.bucket, "MaxKeys": self.page_size}
        if self.prefix:
            params["Prefix"] = self.prefix
        if self.versions:
            if self.start_after is not None:
                params["KeyMarker"] = self.start_after
                if self.version_marker is not None:
                    params["VersionIdMarker"] = self.version_marker
        elif self.start_after is not None:
            params["StartAfter"] = self.start_after
        return params

    @property
    def operation(self) -> str:
        return "ListObjectVersions" if self.versions else "ListObjectsV2"


def next_params(request: ListRequest, params: dict[str, Any], body: bytes) -> dict[str, Any] | None:
    """The parameters of the page after `body`, read cheaply with regexes; None at the end."""
    if not _TRUNCATED.search(body):
        return None
    url_encoded = bool(_URL_ENCODED.search(body))
    following = {k: v for k, v in params.items() if k not in _MARKERS}
    if request.versions:
        key_marker = _text(_NEXT_KEY_MARKER.search(body), url_encoded)
        if key_marker is None:
            raise FatalError(f"{request.operation}: truncated page without NextKeyMarker")
        following["KeyMarker"] = key_marker
        version_marker = _text(_NEXT_VERSION_MARKER.search(body))
        if version_marker is not None:
            following["VersionIdMarker"] = version_marker
        return following
    token = _text(_NEXT_TOKEN.search(body))
    if token:
        following["ContinuationToken"] = token
        return following
    # Without a token, go on after the highest key of the page (if its keys are out of
    # order, the page's check stops the listing anyway).
    keys = [_text(match, url_encoded) or "" for match in _KEY.finditer(body)]
    if not keys:
        raise FatalError(f"{request.operation}: truncated page without a continuation token")
    following["StartAfter"] = max(keys)
    return following


def listing_fault(request: ListRequest, what: str) -> FatalError:
    """The exit-3 error for a listing the server got wrong."""
    return FatalError(
        f"{request.operation} s3://{request.bucket}/{request.prefix}: {what}; "
        "the server's listing is faulty, so the stage stopped",
        hint="report it to the server's operator; rerunning lists the same again",
    )


class ListingGuard:
    """What one listing stream checks of a server, so that a faulty one stops the stage
    (exit 3) instead of looping forever or feeding keys out of order downstream: keys
    increase within and across pages, and no continuation (token or key and version
    markers) is handed out twice.

    Every continuation since the last page with keys is remembered (a cycle of empty
    pages repeats one), and the last TOKENS_KEPT of the others (a cycle over pages with
    keys is also caught by the key order, however long).
    """

    TOKENS_KEPT = 1000

    def __init__(self, request: ListRequest, after: str | None) -> None:
        self.request = request
        self.last_key = after
        self._seen: dict[tuple[str | None, ...], None] = {}

    def fault(self, what: str) -> FatalError:
        return listing_fault(self.request, what)

    def follow(self, params: dict[str, Any], body: bytes) -> dict[str, Any] | None:
        """The next page's parameters (None at the end), refusing a repeated continuation."""
        following = next_params(self.request, params, body)
        if following is None:
            return None
        marker = tuple(following.get(name) for name in _MARKERS)
        if marker in self._seen:
            name = "continuation token" if "ContinuationToken" in following else "key marker"
            shown = following.get("ContinuationToken") or following.get("KeyMarker")
            raise self.fault(f"it repeated the {name} {shown!r} (a listing loop)")
        if b"<Key>" in body and len(self._seen) >= self.TOKENS_KEPT:
            del self._seen[next(iter(self._seen))]
        self._seen[marker] = None
        return following

    def check(self, records: list[ObjectRecord]) -> None:
        """Raises unless the page's keys increase from the last key seen (for versions, do
        not decrease: one key's versions may continue on the next page)."""
        if not records:
            return
        first, last = records[0].key, records[-1].key
        previous = self.last_key
        if previous is not None and (
            first < previous or (first == previous and not self.request.versions)
        ):
            raise self.fault(f"a page went backwards: it starts at {first!r} after {previous!r}")
        if not self.request.versions and len(records) > 1:
            keys = [record.key for record in records]
            if not all(map(operator.lt, keys, itertools.islice(keys, 1, None))):
                low, high = next((a, b) for a, b in itertools.pairwise(keys) if not a < b)
                raise self.fault(f"keys out of order within a page: {high!r} after {low!r}")
        self.last_key = last


_MARKERS = ("ContinuationToken", "StartAfter", "KeyMarker", "VersionIdMarker")


class _End:
    pass


class PagePrefetcher:
    """Fetches list pages in a background thread, a few pages ahead of the reader."""

    def __init__(self, client: Any, request: ListRequest) -> None:
        self._client = client
        self._request = request
        self._call: Callable[..., Any] = getattr(
            client, "list_object_versions" if request.versions else "list_objects_v2"
        )
        self._queue: queue.Queue[bytes | BaseException | _End] = queue.Queue(PREFETCH_PAGES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="s3-list", daemon=True)
        self.requests = 0

    def fetch(self, params: dict[str, Any]) -> bytes:
        where = f"s3://{self._request.bucket}/{self._request.prefix}"
        try:
            response = self._call(**params)
        except Exception as exc:
            raise request_failed(exc, self._request.operation, where) from None
        finally:
            self.requests += 1
        body: bytes = response[RAW_BODY]
        return body

    def _run(self) -> None:
        params: dict[str, Any] | None = self._request.params()
        guard = ListingGuard(self._request, None)
        try:
            while params is not None and not self._stop.is_set():
                body = self.fetch(params)
                params = guard.follow(params, body)
                self._put(body)
            self._put(_End())
        except BaseException as exc:
            self._put(exc)

    def _put(self, item: bytes | BaseException | _End) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=interrupts.POLL_S)
                return
            except queue.Full:
                continue

    def pages(self) -> Iterator[bytes | Flush]:
        """Raw pages in order; FLUSH whenever the next page is not there yet."""
        self._thread.start()
        try:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    yield FLUSH
                    item = interrupts.wait_get(self._queue)
                if isinstance(item, _End):
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()


def normalize_timestamp(text: str) -> str:
    """`2026-11-22T04:00:29.86Z` (or without fraction, or +00:00) as `...29.860Z`."""
    base, _, fraction = text.removesuffix("Z").removesuffix("+00:00").partition(".")
    return f"{base[:19]}.{(fraction + '000')[:3]}Z"


def parse_page(body: bytes, request: ListRequest) -> list[ObjectRecord]:
    """Extracts object (or version and delete-marker) records from one raw XML page."""
    if not request.versions:
        records = _parse_objects_fast(body, request.bucket)
        if records is not None:
            return records
        return _parse_tree(body, request)
    return newest_first(_parse_tree(body, request))


def newest_first(entries: list[ObjectRecord]) -> list[ObjectRecord]:
    """A page of versions and delete markers in key order, each key's newest first.

    Within a key the server's order of its versions is kept (S3 lists them newest
    first), and so is that of its delete markers; the two are merged by LastModified,
    newest first; on an equal time (servers may round it to the second) the entry
    marked IsLatest comes first, else the server's order is kept. Some servers (moto)
    list a page's delete markers after all its versions; S3 interleaves them already.
    """
    entries = sorted(entries, key=_key_of)  # stable: each key keeps the server's order
    if not any(entry.delete_marker for entry in entries):
        return entries
    ordered: list[ObjectRecord] = []
    for _, group in itertools.groupby(enumerate(entries), key=lambda item: item[1].key):
        versions: list[tuple[int, ObjectRecord]] = []
        markers: list[tuple[int, ObjectRecord]] = []
        for item in group:
            (markers if item[1].delete_marker else versions).append(item)
        ordered.extend(entry for _, entry in _merge_newest_first(versions, markers))
    return ordered


def _key_of(record: ObjectRecord) -> str:
    return record.key


Placed = tuple[int, ObjectRecord]  # an entry and its place in the page


def _merge_newest_first(one: list[Placed], other: list[Placed]) -> list[Placed]:
    """Two lists, each newest first, as one; on equal times the earlier in the page first."""
    merged: list[Placed] = []
    i = j = 0
    while i < len(one) and j < len(other):
        (place, entry), (other_place, other_entry) = one[i], other[j]
        newer = (other_entry.last_modified or "", other_entry.is_latest, -other_place) > (
            entry.last_modified or "",
            entry.is_latest,
            -place,
        )
        if newer:
            merged.append(other[j])
            j += 1
        else:
            merged.append(one[i])
            i += 1
    return merged + one[i:] + other[j:]


# One pass over the page per field; a field's n-th match belongs to the n-th <Contents>.
_CONTENTS = re.compile(r"<Contents>")
_FIELDS = tuple(
    re.compile(f"<{name}>([^<]*)</{name}>")
    for name in ("Key", "Size", "ETag", "LastModified", "StorageClass")
)
_UTF8_DECLARED = re.compile(rb"encoding\s*=\s*[\"']utf-?8[\"']", re.IGNORECASE)
_CONTENTS_BLOCK = re.compile(r"<Contents>(.*?)</Contents>", re.DOTALL)
_CHECKSUM = re.compile(r"<ChecksumAlgorithm>([^<]*)</ChecksumAlgorithm>")
_ENTITY = re.compile(r"&(?:#([0-9]+)|#x([0-9a-fA-F]+)|(lt|gt|amp|quot|apos));|&")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


class _NotPlain(Exception):
    """The page needs a real XML parser (or is malformed): ElementTree decides."""


def _unescape_xml(text: str) -> str:
    """XML character and predefined entity references, exactly as an XML parser reads them."""

    def one(match: re.Match[str]) -> str:
        decimal, hexadecimal, named = match.groups()
        if named:
            return _NAMED[named]
        if decimal is None and hexadecimal is None:
            raise _NotPlain  # a bare `&`: not well-formed
        code = int(decimal) if decimal is not None else int(hexadecimal, 16)
        if not (
            code in (0x9, 0xA, 0xD)
            or 0x20 <= code <= 0xD7FF
            or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF
        ):
            raise _NotPlain  # not an XML character
        return chr(code)

    return _ENTITY.sub(one, text)


def _parse_objects_fast(body: bytes, bucket: str) -> list[ObjectRecord] | None:
    """A ListObjectsV2 page of the usual shape, read with a few regex passes (about ten times
    cheaper than building a tree); None for anything else: a namespace prefix, CDATA,
    carriage returns, attributes, a field missing from some entries, a cut-off body.
    """
    end = body.rstrip()[-19:]
    if end != b"</ListBucketResult>" or b"<ListBucketResult" not in body[:512]:
        return None
    if b"<![CDATA[" in body or b"\r" in body:
        return None  # an XML parser normalizes these: leave them to one
    declaration = body[: body.find(b"?>")] if body.startswith(b"<?xml") else b""
    if b"encoding" in declaration and not _UTF8_DECLARED.search(declaration):
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    count = len(_CONTENTS.findall(text))
    keys, sizes, etags, modified, classes = (p.findall(text) for p in _FIELDS)
    if not count or not len(keys) == len(sizes) == len(etags) == len(modified) == count:
        return None
    storage: list[str] | list[None] = classes if classes else [None] * count
    checksums: list[str | None] = [None] * count
    if "<ChecksumAlgorithm>" in text:
        checksums = [_first_checksum(block) for block in _CONTENTS_BLOCK.findall(text)]
    if len(storage) != count or len(checksums) != count:
        return None
    url_encoded = _URL_ENCODED.search(body) is not None
    records: list[ObjectRecord] = []
    append = records.append
    try:
        for key, size, etag, stamp, storage_class, checksum in zip(
            keys, sizes, etags, modified, storage, checksums, strict=True
        ):
            if "&" in key:
                key = _unescape_xml(key)
            if "&" in etag:
                etag = _unescape_xml(etag)
            if "&" in stamp:
                stamp = _unescape_xml(stamp)
            if storage_class is not None and "&" in storage_class:
                storage_class = _unescape_xml(storage_class)
            append(
                ObjectRecord(
                    bucket=bucket,
                    key=unquote_plus(key) if url_encoded and ("%" in key or "+" in key) else key,
                    size=int(size),
                    # An empty element has no text: None, as the tree parser reads it.
                    etag=etag.strip('"') if etag else None,
                    last_modified=stamp
                    if len(stamp) == 24
                    else (normalize_timestamp(stamp) if stamp else None),
                    storage_class=storage_class or None,
                    checksum_algorithm=checksum,
                )
            )
    except (_NotPlain, ValueError):
        return None
    return records


def _first_checksum(block: str) -> str | None:
    """The first non-empty ChecksumAlgorithm of one entry, as the tree parser takes it."""
    for value in _CHECKSUM.findall(block):
        if value:
            return _unescape_xml(value) if "&" in value else value
    return None


def _parse_tree(body: bytes, request: ListRequest) -> list[ObjectRecord]:
    """Any page, versions included, through ElementTree: the general, slower way."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise FatalError(
            f"{request.operation} s3://{request.bucket}: unreadable XML from the server ({exc})"
        ) from None
    url_encoded = _URL_ENCODED.search(body) is not None
    tag = root.tag
    ns = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
    bucket = request.bucket
    records: list[ObjectRecord] = []
    append = records.append
    key_tag, size_tag, etag_tag, modified_tag = (
        ns + "Key",
        ns + "Size",
        ns + "ETag",
        ns + "LastModified",
    )
    class_tag, checksum_tag, version_tag, latest_tag = (
        ns + "StorageClass",
        ns + "ChecksumAlgorithm",
        ns + "VersionId",
        ns + "IsLatest",
    )
    entry_tags = {ns + "Contents": False, ns + "Version": False, ns + "DeleteMarker": True}
    versions = request.versions
    for entry in root:
        is_marker = entry_tags.get(entry.tag)
        if is_marker is None:
            continue
        key = size = etag = modified = storage = checksum = version = None
        latest = True
        for field in entry:
            name = field.tag
            if name == key_tag:
                key = field.text or ""
            elif name == size_tag:
                size = field.text
            elif name == etag_tag:
                etag = field.text
            elif name == modified_tag:
                modified = field.text
            elif name == class_tag:
                storage = field.text
            elif name == checksum_tag:
                checksum = checksum or field.text
            elif name == version_tag:
                version = field.text
            elif name == latest_tag:
                latest = field.text == "true"
        if key is None:
            continue
        if size is None and not is_marker:
            raise listing_fault(request, f"the entry for {key!r} has no <Size>")
        append(
            ObjectRecord(
                bucket=bucket,
                key=unquote_plus(key) if url_encoded else key,
                size=int(size) if size is not None else None,
                etag=etag.strip('"') if etag is not None else None,
                last_modified=modified
                if modified is None or len(modified) == 24
                else (normalize_timestamp(modified)),
                storage_class=storage,
                version_id=version if versions else None,
                is_latest=latest,
                delete_marker=is_marker,
                checksum_algorithm=checksum,
            )
        )
    return records
