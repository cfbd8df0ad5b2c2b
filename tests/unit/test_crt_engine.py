"""The request engine (lib/stores/crt) against moto, the fault proxy and scripted fake servers:
hostile keys round-trip, faults and throttling are retried, stalls time out, credentials
are read per request, copies that answer 200 with <Error> fail, redirects follow the
bucket's region, and a refused endpoint fails fast as the botocore path does."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.credentials
import botocore.exceptions
import botocore.session
import pytest
from fake_s3 import FakeS3, Reply, Seen
from s3proxy import FaultRates, ProxiedEndpoint

from lib.leaves.errors import FatalError
from lib.leaves.retry import Unreachable, error_code, stops_the_run
from lib.stores.crt import engine as engine_module
from lib.stores.crt import pool as pool_module
from lib.stores.crt.addressing import Address, Addresses, Source
from lib.stores.crt.calls import Limits, Upload
from lib.stores.crt.engine import Engine
from lib.stores.crt.pool import ConnectionPool
from lib.stores.s3 import S3Config, make_client
from lib.stores.transfer import Timeouts

HOSTILE_KEYS = [
    "plain.txt",
    "with space",
    " leading and trailing ",
    "a+b=c&d",
    "100% done",
    "%2F already encoded",
    "naïve café/日本語/データ.json",
    "emoji-📦.bin",
    "../up/../and/./around",
    "/leading/slash",
    "double//slash",
    "query?x=1#hash",
    "<tag>&amp;'\"",
    "tilde~star*paren()",
    "k" * 1024,
]


@pytest.fixture
def engine_for() -> Iterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def make(url: str, **options: Any) -> Engine:
        engines.append(Engine.for_config(S3Config(endpoint_url=url), **options))
        return engines[-1]

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def fake_s3() -> Iterator[Callable[..., FakeS3]]:
    servers: list[FakeS3] = []

    def start(script: Callable[[Seen, int], Reply], tls: tuple[str, str] | None = None) -> FakeS3:
        servers.append(FakeS3(script, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_hostile_keys_round_trip_put_head_get_copy(
    s3_server: str, bucket: str, s3_client: Any, engine_for: Callable[..., Engine]
) -> None:
    engine = engine_for(s3_server)
    for key in HOSTILE_KEYS:
        data = key.encode() * 3
        put = engine.put(bucket, key, data, content_type="text/plain", metadata={"owner": "x"})
        assert put["ETag"] == f'"{md5(data)}"'
    heads = {key: engine.head_async(bucket, key) for key in HOSTILE_KEYS}
    gets = {key: engine.get_async(bucket, key) for key in HOSTILE_KEYS}
    copies = {
        key: engine.copy_async(bucket, f"copy/{key}", Source(bucket, key)) for key in HOSTILE_KEYS
    }
    for key in HOSTILE_KEYS:
        data = key.encode() * 3
        head = heads[key].result()
        assert (head["ContentLength"], head["ETag"]) == (len(data), f'"{md5(data)}"'), key
        assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"owner": "x"})
        assert gets[key].result()["Body"].read() == data, key
        assert copies[key].result()["CopyObjectResult"]["ETag"] == f'"{md5(data)}"'
    listed = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    # Exactly these keys exist, as botocore lists them: nothing was normalized or re-encoded.
    assert sorted(item["Key"] for item in listed) == sorted(
        HOSTILE_KEYS + [f"copy/{key}" for key in HOSTILE_KEYS]
    )
    copied = s3_client.head_object(Bucket=bucket, Key=f"copy/{HOSTILE_KEYS[1]}")
    assert copied["Metadata"] == {"owner": "x"}  # MetadataDirective COPY


def test_head_answers_like_botocore_and_a_missing_key_is_a_404(
    s3_server: str, bucket: str, s3_client: Any, engine_for: Callable[..., Engine]
) -> None:
    s3_client.put_object(
        Bucket=bucket, Key="k", Body=b"hello", ChecksumAlgorithm="CRC32", StorageClass="STANDARD_IA"
    )
    ours = engine_for(s3_server).head(bucket, "k")
    theirs = s3_client.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    for name in ("ContentLength", "ETag", "LastModified", "StorageClass", "ChecksumCRC32"):
        assert ours[name] == theirs[name], name
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        engine_for(s3_server).head(bucket, "absent")
    assert error_code(missing.value) == "404"


def test_ranged_get_into_a_sink_and_parts(
    s3_server: str, bucket: str, s3_client: Any, engine_for: Callable[..., Engine]
) -> None:
    engine = engine_for(s3_server)
    data = bytes(range(256)) * 40_000  # 10 MB: two 5 MiB parts
    engine.put(bucket, "big", data)

    class Hasher:
        def __init__(self) -> None:
            self.digest = hashlib.md5()

        def write(self, chunk: bytes) -> None:
            self.digest.update(chunk)

        def reset(self) -> None:
            self.digest = hashlib.md5()

    sink = Hasher()
    answer = engine.get(bucket, "big", byte_range=(100, 5_000_099), sink=sink)
    assert answer["Body"].read() == b""  # all of it went to the sink
    assert sink.digest.hexdigest() == md5(data[100:5_000_100])

    upload = s3_client.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    half = 5 * 1024 * 1024
    target = Upload(bucket, "assembled", upload)
    first = engine.upload_part(target, 1, data[:half])
    second = engine.upload_part_copy(target, 2, Source(bucket, "big"), (half, len(data) - 1))
    parts = [
        {"PartNumber": 1, "ETag": first["ETag"]},
        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
    ]
    s3_client.complete_multipart_upload(
        Bucket=bucket, Key="assembled", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert s3_client.get_object(Bucket=bucket, Key="assembled")["Body"].read() == data
    layout = engine.head(bucket, "assembled", part_number=1)
    assert (layout["ContentLength"], layout["PartsCount"]) == (half, 2)


def test_faults_are_retried_until_every_request_succeeds(
    s3_server: str,
    bucket: str,
    put_objects: Callable[..., Any],
    slow_endpoint: Callable[[float], ProxiedEndpoint],
    engine_for: Callable[..., Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = {f"f/{n:03d}": f"body {n}".encode() for n in range(120)}
    put_objects(bucket, objects)
    proxy = slow_endpoint(0.0)
    proxy.faults.set_rates(
        FaultRates(slow_down=0.15, internal_error=0.05, reset=0.05, stall=0.03, stall_s=1.0, seed=7)
    )
    monkeypatch.setenv("S3DEEP_READ_TIMEOUT", "0.4")  # a stall is noticed after 0.4 s
    engine = engine_for(proxy.url, concurrency=8)
    heads = [engine.head_async(bucket, key) for key in objects]
    gets = [engine.get_async(bucket, key) for key in objects]
    assert [f.result()["ContentLength"] for f in heads] == [len(v) for v in objects.values()]
    assert [f.result()["Body"].read() for f in gets] == list(objects.values())
    injected = proxy.faults.injected
    assert min(injected[kind] for kind in ("SlowDown", "InternalError", "reset", "stall")) > 0
    assert engine.retries >= sum(injected.values())
    assert engine.window.throttled == injected["SlowDown"]


def test_spent_retries_stop_the_run_with_the_resume_hint(
    s3_server: str,
    bucket: str,
    slow_endpoint: Callable[[float], ProxiedEndpoint],
    engine_for: Callable[..., Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore's meaning: 3 tries in all
    proxy = slow_endpoint(0.0)
    proxy.faults.status[("HEAD", "/always-503")] = (503, "SlowDown")
    engine = engine_for(proxy.url)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        engine.head(bucket, "always-503")
    assert len(proxy.requests("HEAD")) == 3
    stop = stops_the_run(caught.value, "HeadObject", f"s3://{bucket}/always-503")
    assert isinstance(stop, FatalError) and "retries exhausted" in stop.message


def test_throttling_narrows_the_window_and_success_widens_it(
    fake_s3: Callable[..., FakeS3], bucket: str, engine_for: Callable[..., Engine]
) -> None:
    head = {"Content-Length": "3", "ETag": '"e"'}

    def script(seen: Seen, number: int) -> Reply:
        if number < 12:
            return Reply(503, {"Content-Length": "0"}, delay_s=0.02)
        return Reply(200, head, delay_s=0.05)

    server = fake_s3(script)
    engine = engine_for(server.url, concurrency=8)
    futures = [engine.head_async(bucket, f"k{n}") for n in range(40)]
    assert all(f.result()["ContentLength"] == 3 for f in futures)
    assert engine.window.throttled == 12
    assert server.most_in_flight <= 8
    assert engine.window.size == 8  # 40 successes widened it back to the limit


def test_a_stalled_answer_times_out_and_is_tried_again(
    fake_s3: Callable[..., FakeS3],
    bucket: str,
    engine_for: Callable[..., Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def script(seen: Seen, number: int) -> Reply:
        return Reply(200, {"Content-Length": "3"}, b"abc", delay_s=2.0 if number == 0 else 0)

    server = fake_s3(script)
    monkeypatch.setenv("S3DEEP_READ_TIMEOUT", "0.3")
    started = time.monotonic()
    assert engine_for(server.url).get(bucket, "k")["Body"].read() == b"abc"
    assert len(server.seen) == 2 and time.monotonic() - started < 1.5


def test_the_adaptive_timeout_ends_a_trickle_that_never_stalls(
    fake_s3: Callable[..., FakeS3], bucket: str, engine_for: Callable[..., Engine]
) -> None:
    body = b"x" * 40

    def script(seen: Seen, number: int) -> Reply:
        return Reply(200, {"Content-Length": "40"}, body, trickle_s=0.05 if number == 0 else 0)

    server = fake_s3(script)
    engine = engine_for(server.url, timeouts=Timeouts(base_s=0.5))
    assert engine.get(bucket, "k")["Body"].read() == body
    assert len(server.seen) == 2  # the trickle (2 s in all) was cut at 0.5 s


def test_a_body_cut_short_is_fetched_again_and_the_sink_starts_over(
    fake_s3: Callable[..., FakeS3], bucket: str, engine_for: Callable[..., Engine]
) -> None:
    body = bytes(range(200)) * 50

    def script(seen: Seen, number: int) -> Reply:
        length = {"Content-Length": str(len(body))}
        return Reply(200, length, body, cut_after=3000 if number == 0 else None)

    class Collect:
        def __init__(self) -> None:
            self.data, self.resets = bytearray(), 0

        def write(self, chunk: bytes) -> None:
            self.data += chunk

        def reset(self) -> None:
            self.data, self.resets = bytearray(), self.resets + 1

    server = fake_s3(script)
    sink = Collect()
    engine_for(server.url).get(bucket, "k", sink=sink)
    assert (bytes(sink.data), sink.resets, len(server.seen)) == (body, 1, 2)


def test_a_copy_answered_200_with_an_error_fails(
    fake_s3: Callable[..., FakeS3], bucket: str, engine_for: Callable[..., Engine]
) -> None:
    error = b'<?xml version="1.0"?>\n<Error><Code>AccessDenied</Code><Message>no</Message></Error>'
    internal = b"<Error><Code>InternalError</Code><Message>try again</Message></Error>"
    done = b"<CopyObjectResult><ETag>&quot;abc&quot;</ETag></CopyObjectResult>"

    def script(seen: Seen, number: int) -> Reply:
        if "denied" in seen.path:
            return Reply(200, {}, error)
        return Reply(200, {}, internal if number == 1 else done)

    server = fake_s3(script)
    engine = engine_for(server.url)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        engine.copy(bucket, "denied", Source(bucket, "src"))
    assert error_code(caught.value) == "AccessDenied"
    retried = engine.copy(bucket, "retried", Source(bucket, "source key"))
    assert retried["CopyObjectResult"]["ETag"] == '"abc"'
    assert len(server.seen) == 3  # denied once; InternalError in a 200, then done
    assert server.seen[1].headers["x-amz-copy-source"] == f"{bucket}/source%20key"


def test_a_redirect_to_the_bucket_region_is_followed_and_signed_for_it(
    fake_s3: Callable[..., FakeS3], bucket: str, engine_for: Callable[..., Engine]
) -> None:
    def script(seen: Seen, number: int) -> Reply:
        if "/eu-west-3/" not in seen.headers["authorization"]:
            return Reply(301, {"x-amz-bucket-region": "eu-west-3", "Content-Length": "0"})
        return Reply(200, {"Content-Length": "5", "ETag": '"e"'})

    server = fake_s3(script)
    engine = engine_for(server.url)
    assert engine.head(bucket, "k")["ContentLength"] == 5
    assert engine.head(bucket, "k2")["ContentLength"] == 5
    scopes = [
        re.search(r"Credential=[^/]+/\d+/([^/]+)/", s.headers["authorization"]) for s in server.seen
    ]
    assert [m.group(1) for m in scopes if m] == ["us-east-1", "eu-west-3", "eu-west-3"]


def test_credentials_are_read_at_every_signing_so_a_refreshed_token_is_used(
    fake_s3: Callable[..., FakeS3], bucket: str
) -> None:
    issued: list[str] = []

    def refresh() -> dict[str, str]:
        issued.append(f"token-{len(issued)}")
        # Within botocore's advisory window (15 min) the next read refreshes them.
        expiry = time.time() + (660 if len(issued) < 4 else 3600)
        return {
            "access_key": "AKIDEXAMPLE",
            "secret_key": "secret",
            "token": issued[-1],
            "expiry_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry)),
        }

    def script(seen: Seen, number: int) -> Reply:
        if seen.headers.get("x-amz-security-token") != issued[-1]:
            body = b"<Error><Code>ExpiredToken</Code><Message>old</Message></Error>"
            return Reply(400, {}, body)
        return Reply(200, {"Content-Length": "1", "ETag": '"e"'}, b"x")

    server = fake_s3(script)
    credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(
        refresh(), refresh, "test"
    )

    def client(region: str | None) -> Any:
        session = botocore.session.Session()
        session._credentials = credentials  # what a profile's refreshing source would be
        return session.create_client("s3", endpoint_url=server.url, region_name="us-east-1")

    engine = Engine(client)
    tokens = []
    for n in range(4):
        assert engine.get(bucket, f"k{n}")["Body"].read() == b"x"
        tokens.append(server.seen[-1].headers["x-amz-security-token"])
    assert len(set(tokens)) >= 3
    assert len(server.seen) == 4  # no request went out with a stale token


def test_the_first_refused_connection_fails_fast_as_the_botocore_path_does(
    refused_endpoint: str, engine_for: Callable[..., Engine]
) -> None:
    started = time.monotonic()
    with pytest.raises(Unreachable) as ours:
        engine_for(refused_endpoint).head("bucket", "key")
    assert time.monotonic() - started < 2
    with pytest.raises(Unreachable) as theirs:
        make_client(S3Config(endpoint_url=refused_endpoint)).head_object(Bucket="bucket", Key="k")
    assert (ours.value.message, ours.value.hint) == (theirs.value.message, theirs.value.hint)


def test_addressing_follows_botocore_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    def addresses(**config: Any) -> Addresses:
        return Addresses(lambda region: make_client(S3Config(**config)))

    aws = addresses(region="eu-west-1").get("my-bucket")
    assert (aws.host, aws.base_path, aws.region) == (
        "my-bucket.s3.eu-west-1.amazonaws.com",
        "/",
        "eu-west-1",
    )
    dotted = addresses(region="eu-west-1").get("my.dotted.bucket")  # no TLS name for it: path style
    assert (dotted.host, dotted.base_path) == ("s3.eu-west-1.amazonaws.com", "/my.dotted.bucket/")
    custom = addresses(endpoint_url="http://127.0.0.1:9000").get("b")
    assert (custom.host, custom.port, custom.host_header, custom.base_path) == (
        "127.0.0.1",
        9000,
        "127.0.0.1:9000",
        "/b/",
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://storage.example.com:8443")
    variable = addresses().get("b")
    assert (variable.scheme, variable.host, variable.port, variable.base_path) == (
        "https",
        "storage.example.com",
        8443,
        "/b/",
    )
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    fips = addresses(region="us-east-2").get("my-bucket")
    assert fips.host == "my-bucket.s3-fips.us-east-2.amazonaws.com"
    assert aws.path("a b/c+d%") == "/a%20b/c%2Bd%25"


def test_an_object_read_as_a_file_comes_in_order_from_parallel_ranges(
    s3_server: str, bucket: str, s3_client: Any, engine_for: Callable[..., Engine]
) -> None:
    data = bytes(range(251)) * 4000  # ~1 MB, a prime period: a range out of place shows
    s3_client.put_object(Bucket=bucket, Key="large", Body=data)
    s3_client.put_object(Bucket=bucket, Key="empty", Body=b"")
    engine = engine_for(s3_server)
    with engine.open(bucket, "large", part_size=100_000, ahead=3) as reader:
        chunks = iter(lambda: reader.read(65_536), b"")
        assert b"".join(chunks) == data
        assert reader.size == len(data)
    with engine.open(bucket, "empty") as reader:
        assert (reader.read(), reader.size) == (b"", 0)
    while engine.read_ahead.acquire(blocking=False):
        pass  # other readers hold the whole read-ahead budget: this one reads part by part
    with engine.open(bucket, "large", part_size=100_000, ahead=3) as reader:
        assert reader.read() == data


def test_whole_ranges_asked_for_come_whole_and_in_order(
    s3_server: str, bucket: str, s3_client: Any, engine_for: Callable[..., Engine]
) -> None:
    """Read mode asks for more than a range at a time and gets each range as it came
    (handed over without a copy); a range already partly read gives the rest of it."""
    data = bytes(range(251)) * 1000  # 251,000 bytes: ranges of 100,000, 100,000, 51,000
    s3_client.put_object(Bucket=bucket, Key="ranges", Body=data)
    with engine_for(s3_server).open(bucket, "ranges", part_size=100_000, ahead=2) as reader:
        pieces = [reader.read(10), *iter(lambda: reader.read(1 << 20), b"")]
    assert [len(piece) for piece in pieces] == [10, 99_990, 100_000, 51_000]
    assert all(isinstance(piece, bytes) for piece in pieces)
    assert b"".join(pieces) == data


def test_an_object_replaced_mid_read_fails_instead_of_mixing_contents(
    s3_server: str, bucket: str, s3_client: Any, engine_for: Callable[..., Engine]
) -> None:
    s3_client.put_object(Bucket=bucket, Key="changing", Body=b"a" * 300_000)
    reader = engine_for(s3_server).open(bucket, "changing", part_size=100_000, ahead=1)
    s3_client.put_object(Bucket=bucket, Key="changing", Body=b"b" * 300_000)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        reader.read()
    assert error_code(caught.value) == "PreconditionFailed"


def test_a_server_that_ignores_range_cannot_pass_for_a_part(
    fake_s3: Callable[..., FakeS3], bucket: str, engine_for: Callable[..., Engine]
) -> None:
    whole = b"0123456789" * 30

    def script(seen: Seen, number: int) -> Reply:
        if number == 0:  # the first range is honoured, later ones are not
            return Reply(
                206, {"Content-Range": f"bytes 0-99/{len(whole)}", "ETag": '"e"'}, whole[:100]
            )
        return Reply(200, {"ETag": '"e"'}, whole)

    reader = engine_for(fake_s3(script).url).open(bucket, "k", part_size=100)
    with pytest.raises(OSError, match="asked for 100 bytes"):
        reader.read()


def test_a_sink_that_takes_no_more_stops_the_download_without_a_retry(
    fake_s3: Callable[..., FakeS3], bucket: str, engine_for: Callable[..., Engine]
) -> None:
    """Read mode's one-GET sink holds a small object; an object that grew to 32 MiB
    since it was listed must not be downloaded whole (nor again, as if it were a fault)."""
    from lib.pipelines.check_objects import BodyBuffer
    from lib.stores.crt.engine import BodyRefused

    server = fake_s3(lambda seen, number: Reply(200, {"ETag": '"e"'}, b"x" * (32 << 20)))
    body = BodyBuffer(1 << 20)
    with pytest.raises(BodyRefused, match="larger than its reader takes") as refused:
        engine_for(server.url).get_async(bucket, "grown", sink=body).result(timeout=60)
    assert len(server.seen) == 1
    assert body.kept <= 1 << 20 and body.data() is None
    assert body.received < 8 << 20  # what arrived before the connection closed
    # what the engine read in all, after the sink said stop: the connection was closed,
    # not drained to the end of the 32 MiB body
    stopped = re.search(r"stopped after (\d+) bytes", str(refused.value))
    assert stopped is not None and int(stopped.group(1)) < 16 << 20, refused.value


# Keys a directory-backed server can hold (no `..`, `//` or segments over 255 bytes):
# rclone serve s3 checks every signature, which moto does not.
RCLONE_KEYS = [
    "with space",
    "a+b=c&d;e,f",
    "100% done",
    "%2F already encoded",
    "naïve café/日本語/データ.json",
    "emoji-📦.bin",
    "query?x=1#hash",
    "<tag>&'\"",
    "tilde~star*paren()[]{}!$@^`|",
    "/".join(["k" * 250] * 4),  # 1003 bytes
]


def test_hostile_keys_are_signed_as_a_verifying_server_expects(
    tmp_path: Any,
) -> None:
    from bench.harness.server import RcloneServer
    from bench.harness.settings import ACCESS_KEY, REGION, SECRET_KEY, venv_tool

    (tmp_path / "root" / "src").mkdir(parents=True)
    (tmp_path / "root" / "dst").mkdir()
    with RcloneServer(venv_tool("rclone"), tmp_path / "root", tmp_path / "rclone.log") as server:

        def client(region: str | None) -> Any:
            session = botocore.session.Session()
            session.set_credentials(ACCESS_KEY, SECRET_KEY)
            return session.create_client("s3", endpoint_url=server.endpoint, region_name=REGION)

        engine = Engine(client)
        try:
            for key in RCLONE_KEYS:
                data = key.encode()
                assert engine.put("src", key, data)["ETag"] == f'"{md5(data)}"', key
                assert engine.head("src", key)["ContentLength"] == len(data), key
                assert engine.get("src", key)["Body"].read() == data, key
                copied = engine.copy("dst", key, Source("src", key))["CopyObjectResult"]["ETag"]
                assert copied == f'"{md5(data)}"', key
        finally:
            engine.close()
    stored = sorted(
        str(p.relative_to(tmp_path / "root" / "dst"))
        for p in (tmp_path / "root" / "dst").rglob("*")
        if p.is_file()
    )
    assert stored == sorted(RCLONE_KEYS)


def test_a_call_may_bring_its_own_attempts_and_stall_timeout(
    fake_s3: Callable[..., FakeS3], bucket: str, engine_for: Callable[..., Engine]
) -> None:
    def script(seen: Seen, number: int) -> Reply:
        if "slow" in seen.path:
            return Reply(200, {"Content-Length": "1"}, b"x", delay_s=1.0)
        return Reply(500, {}, b"<Error><Code>InternalError</Code></Error>")

    server = fake_s3(script)
    engine = engine_for(server.url)
    with pytest.raises(botocore.exceptions.ClientError):
        engine.get(bucket, "failing", limits=Limits(attempts=1))
    assert len(server.seen) == 1  # the caller retries itself (lib/stores/transfer.py's Retrier)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"no data for 0\.2 s"):
        engine.get(bucket, "slow", limits=Limits(stall_s=0.2, attempts=1))
    assert time.monotonic() - started < 0.9


def test_https_with_a_private_certificate_authority(
    fake_s3: Callable[..., FakeS3],
    engine_for: Callable[..., Engine],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip

    def script(seen: Seen, number: int) -> Reply:
        return Reply(200, {"Content-Length": "4", "ETag": '"e"'}, b"safe")

    server = fake_s3(script, (str(cert), str(key)))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
    assert engine_for(server.url).get("bucket", "k")["Body"].read() == b"safe"
    # (without the bundle the certificate is not trusted: TLS negotiation fails)
    assert server.seen[0].headers["host"] == server.url.removeprefix("https://")


def test_a_keys_path_is_quoted_as_botocore_quotes_it_whatever_the_characters() -> None:
    """Address.path skips quote() for keys that need no encoding: every other key is
    quoted, and the result is quote's either way."""
    address = Address("http", "h", 80, "h", "/bucket/", "us-east-1", "s3", "http://h")
    for character in [chr(code) for code in range(256)] + ["é", "中", "\U0001f600"]:
        key = f"dir/{character}x"
        assert address.path(key) == "/bucket/" + quote(key, safe="/~"), repr(character)


def test_a_connection_that_cannot_be_made_fails_the_call_instead_of_hanging_it(
    engine_for: Callable[..., Engine], s3_server: str, bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Signing ends in a callback from awscrt's C, which would swallow an exception: a
    connection that fails as it is asked for ends the call with that error, and frees
    its slot in the pool for the next request."""
    engine = engine_for(s3_server)
    real_new = pool_module.http.HttpClientConnection.new
    failing = {"left": 1}

    def new(**options: Any) -> Any:
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("no socket left")
        return real_new(**options)

    monkeypatch.setattr(pool_module.http.HttpClientConnection, "new", new)
    with pytest.raises(RuntimeError, match="no socket left"):
        engine.head_async(bucket, "k").result(timeout=10)  # a hang: TimeoutError, a failure
    (pool,) = engine._pools.values()
    assert pool._open == 0
    with pytest.raises(botocore.exceptions.ClientError):  # the next one connects: a 404
        engine.head(bucket, "k")


def test_an_error_while_reading_an_answer_ends_the_call_instead_of_hanging_it(
    engine_for: Callable[..., Engine], s3_server: str, bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The answer is read in a callback of awscrt's completion Future, which only logs
    what its callbacks raise: an error there ends the call with it, once."""
    engine = engine_for(s3_server)
    real = engine_module.mark_answered
    failing = {"left": 1}

    def mark(endpoint: str) -> None:
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("unexpected")
        real(endpoint)

    monkeypatch.setattr(engine_module, "mark_answered", mark)
    with pytest.raises(RuntimeError, match="unexpected"):
        engine.head_async(bucket, "k").result(timeout=10)  # a hang: TimeoutError, a failure
    with pytest.raises(botocore.exceptions.ClientError):  # the next one is answered: a 404
        engine.head_async(bucket, "k").result(timeout=10)
    assert engine._active == 0


def test_a_waiting_request_hears_why_no_connection_came(
    s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool at its limit hands a released slot to the next waiter; a connection that
    fails as it is asked for reaches that waiter as its error, and frees the slot."""
    where = urlsplit(s3_server)
    pool = ConnectionPool(str(where.hostname), int(where.port or 80), tls=False, limit=1)
    heard: dict[str, Any] = {}
    first_ready = threading.Event()

    def first(connection: Any, error: BaseException | None) -> None:
        heard["first"] = connection
        first_ready.set()

    def second(connection: Any, error: BaseException | None) -> None:
        heard["second"] = (connection, error)

    assert pool.acquire(first) is None
    assert first_ready.wait(10) and heard["first"] is not None
    assert pool.acquire(second) is None  # at the limit: it waits
    monkeypatch.setattr(pool_module.http.HttpClientConnection, "new", lambda **_: 1 / 0)
    pool.release(heard["first"], reusable=False)
    connection, error = heard["second"]
    assert connection is None and isinstance(error, ZeroDivisionError)
    assert pool._open == 0
