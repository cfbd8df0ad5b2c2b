"""The per-object requests of s3-check (head and read modes) and s3-repair go through
the request engine (lib/stores/crt): the console scripts against moto behind the proxy, which
records each request's User-Agent. Hostile keys, every kind of damage and the repairs
come out exactly as on botocore's path (S3DEEP_ENGINE=botocore)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from s3proxy import ProxiedEndpoint

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]

HOSTILE = {
    "data/with space": b"1",
    "data/a+b=c&d;e": b"22",
    "data/100% done": b"333",
    "data/%2F encoded": b"4444",
    "data/naïve café/日本語.json": b"55555",
    "data/../up/./around": b"666666",
    "data//double": b"7777777",
    "data/<tag>&'\"": b"88888888",
    "data/" + "k" * 1000: b"999999999",
}
DAMAGE = {  # replica key -> what the check should call it
    "backup/with space": "missing",
    "backup/a+b=c&d;e": "size_mismatch",
    "backup/100% done": "etag_mismatch",
}


def engine_requests_seen(proxy: ProxiedEndpoint, method: str) -> tuple[int, int]:
    """(requests by the engine, requests by botocore) of one method the proxy saw."""
    agents = proxy.agents(method)
    # botocore's User-Agent names awscrt too (md/awscrt#…); the engine's starts with s3deep/
    engine = sum(agent.startswith("s3deep/") for agent in agents)
    return engine, len(agents) - engine


@pytest.fixture
def world(
    make_bucket: Callable[..., str], seed_objects: Callable[[str, Mapping[str, bytes]], None]
) -> tuple[str, str]:
    source, target = make_bucket(), make_bucket()
    seed_objects(source, HOSTILE)
    replica = {"backup/" + key.removeprefix("data/"): body for key, body in HOSTILE.items()}
    del replica["backup/with space"]
    replica["backup/a+b=c&d;e"] += b"!"
    replica["backup/100% done"] = b"XXX"
    seed_objects(target, replica)
    return source, target


@pytest.fixture
def listing(world: tuple[str, str], run_cli: Run) -> bytes:
    """The source's manifest."""
    result = run_cli("s3-manifest", f"s3://{world[0]}/data/", "--quiet")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("mode", ["head", "read"])
def test_check_modes_send_their_requests_through_the_engine(
    mode: str, world: tuple[str, str], listing: bytes, run_cli: Run, parse_ndjson: Parse,
    slow_endpoint: Callable[[float], ProxiedEndpoint],
) -> None:  # fmt: skip
    target = world[1]
    outputs = {}
    for path in ("engine", "botocore"):
        proxy = slow_endpoint(0.0)
        env = {"AWS_ENDPOINT_URL": proxy.url}
        if path == "botocore":
            env["S3DEEP_ENGINE"] = "botocore"
        result = run_cli(
            "s3-check", f"s3://{target}/backup/", "--mode", mode, "--quiet",
            input=listing, env=env,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        records = [r for r in parse_ndjson(result.stdout) if r["type"] == "check"]
        statuses = {r["key"]: r["status"] for r in records if r["status"] != "ok"}
        assert statuses == DAMAGE
        assert len(records) == len(HOSTILE)
        heads, gets = engine_requests_seen(proxy, "HEAD"), engine_requests_seen(proxy, "GET")
        if path == "botocore":  # one HEAD per record; the 6 whose metadata matched are read
            assert (heads, gets) == ((0, 10), (0, 6) if mode == "read" else (0, 0))
        elif mode == "head":
            assert (heads, gets) == ((9, 1), (0, 0))  # botocore's: the HeadBucket
        else:  # one GET per small object, whose headers stand for the HEAD
            assert (heads, gets) == ((0, 1), (9, 0))
        outputs[path] = [{k: v for k, v in r.items() if k != "actual"} for r in records]
    assert outputs["engine"] == outputs["botocore"]


def test_repair_copies_hostile_keys_through_the_engine(
    world: tuple[str, str], listing: bytes, run_cli: Run, parse_ndjson: Parse, s3_client: Any,
    slow_endpoint: Callable[[float], ProxiedEndpoint],
) -> None:  # fmt: skip
    source, target = world
    checked = run_cli("s3-check", f"s3://{target}/backup/", "--quiet", input=listing)
    proxy = slow_endpoint(0.0)
    result = run_cli(
        "s3-repair", f"s3://{target}/backup/", "--from", f"s3://{source}/data/", "--quiet",
        input=checked.stdout, env={"AWS_ENDPOINT_URL": proxy.url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [r for r in parse_ndjson(result.stdout) if r["type"] == "repair"]
    repaired = {r["key"]: r["status"] for r in records if r["status"] != "skipped"}
    assert repaired == dict.fromkeys(DAMAGE, "repaired")
    copies, botocore_copies = engine_requests_seen(proxy, "PUT")
    assert (copies, botocore_copies) == (3, 0)  # three CopyObject, none by botocore
    for key, body in HOSTILE.items():
        name = "backup/" + key.removeprefix("data/")
        assert s3_client.get_object(Bucket=target, Key=name)["Body"].read() == body, name
    again = run_cli("s3-check", f"s3://{target}/backup/", "--quiet", input=listing)
    assert again.returncode == 0, again.stdout


def read_check(
    run_cli: Run, parse_ndjson: Parse, proxy: ProxiedEndpoint, listing: bytes, *target: str
) -> dict[str, dict[str, Any]]:
    """The check records by key of `s3-check [TARGET] --mode read` through `proxy`, which
    finds damage (exit 1)."""
    result = run_cli(
        "s3-check", *target, "--mode", "read", "--quiet", input=listing,
        env={"AWS_ENDPOINT_URL": proxy.url},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    return {r["key"]: r for r in parse_ndjson(result.stdout) if r["type"] == "check"}


def test_read_mode_judges_a_small_object_by_one_get(
    make_bucket: Callable[..., str], s3_client: Any, run_cli: Run, parse_ndjson: Parse,
    slow_endpoint: Callable[[float], ProxiedEndpoint],
) -> None:  # fmt: skip
    """A small expected object is read with one GET whose headers stand for the HEAD: its
    stored checksum is verified from them, a one-part multipart ETag is recomputed in the
    layout a HEAD partNumber=1 gives, and an object grown past the one-GET limit since it
    was listed is a size_mismatch (its download stopped at the limit, then its HEAD)."""
    bucket = make_bucket()
    body = b"small object " * 200
    s3_client.put_object(Bucket=bucket, Key="plain", Body=body, ChecksumAlgorithm="CRC32")
    s3_client.put_object(Bucket=bucket, Key="grown", Body=body)
    upload = s3_client.create_multipart_upload(Bucket=bucket, Key="single")["UploadId"]
    part = s3_client.upload_part(
        Bucket=bucket, Key="single", UploadId=upload, PartNumber=1, Body=body
    )
    s3_client.complete_multipart_upload(
        Bucket=bucket, Key="single", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )  # fmt: skip
    listing = run_cli("s3-manifest", f"s3://{bucket}/", "--quiet")
    assert listing.returncode == 0, listing.stderr
    s3_client.put_object(Bucket=bucket, Key="grown", Body=b"g" * (2 * 1024 * 1024 + 1))
    proxy = slow_endpoint(0.0)
    records = read_check(run_cli, parse_ndjson, proxy, listing.stdout)
    assert {key: r["status"] for key, r in records.items()} == {
        "grown": "size_mismatch", "plain": "ok", "single": "ok",
    }  # fmt: skip
    assert records["plain"]["detail"].endswith("verified etag, CRC32")
    assert records["single"]["actual"]["etag"].endswith("-1")
    assert records["single"]["detail"].endswith("verified etag")
    assert records["grown"]["actual"]["size"] == 2 * 1024 * 1024 + 1
    # one GET per object (grown's stopped at the limit, not retried), and two HEADs: the
    # part layout of "single", and grown judged as without the GET
    assert engine_requests_seen(proxy, "GET") == (3, 0)
    assert engine_requests_seen(proxy, "HEAD") == (2, 0)


def test_read_mode_judges_small_objects_against_local_files_by_one_get(
    make_bucket: Callable[..., str], s3_client: Any, run_cli: Run, parse_ndjson: Parse,
    slow_endpoint: Callable[[float], ProxiedEndpoint], tmp_path: Any,
) -> None:  # fmt: skip
    """Expected records of a local directory (no ETag: the file is hashed, on a thread)
    against a bucket, one GET per object: an equal copy is ok, a same-size one that
    differs is an etag_mismatch, a missing one is missing."""
    files = {"same.txt": b"s" * 3000, "changed.txt": b"c" * 3000, "gone.txt": b"g" * 10}
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
    bucket = make_bucket()
    s3_client.put_object(Bucket=bucket, Key="same.txt", Body=files["same.txt"])
    s3_client.put_object(Bucket=bucket, Key="changed.txt", Body=b"C" * 3000)
    listing = run_cli("s3-manifest", str(tmp_path), "--quiet")
    assert listing.returncode == 0, listing.stderr
    proxy = slow_endpoint(0.0)
    records = read_check(run_cli, parse_ndjson, proxy, listing.stdout, f"s3://{bucket}/")
    assert {key: r["status"] for key, r in records.items()} == {
        "changed.txt": "etag_mismatch", "gone.txt": "missing", "same.txt": "ok",
    }  # fmt: skip
    assert engine_requests_seen(proxy, "GET") == (3, 0)
    assert engine_requests_seen(proxy, "HEAD") == (0, 1)  # botocore's HeadBucket
