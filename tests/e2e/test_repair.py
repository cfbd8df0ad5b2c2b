"""s3-repair end to end: the console scripts as subprocesses against moto servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]
Seed = Callable[[str, Mapping[str, bytes]], None]
MIB = 1024 * 1024

SOURCE = {f"data/k{n}": bytes([65 + n]) * (n * 100 + 1) for n in range(8)}


def checked(run_cli: Run, source: str, target: str) -> bytes:
    """The check records of target against a manifest of source."""
    listing = run_cli("s3-manifest", source, "--quiet")
    assert listing.returncode == 0, listing.stderr
    result = run_cli("s3-check", target, "--quiet", input=listing.stdout)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def repairs(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in records if r["type"] == "repair"}


def damage(s3_client: Any, bucket: str, prefix: str) -> None:
    """A replica of SOURCE with one object missing, one shortened and one altered."""
    for key, body in SOURCE.items():
        name = prefix + key.removeprefix("data/")
        if key == "data/k1":
            continue
        if key == "data/k2":
            body = body[:-1]
        if key == "data/k3":
            body = b"Z" + body[1:]
        s3_client.put_object(Bucket=bucket, Key=name, Body=body)


@pytest.fixture
def source_bucket(make_bucket: Callable[..., str], s3_client: Any) -> str:
    bucket = make_bucket()
    for key, body in SOURCE.items():
        s3_client.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="text/x-sample",
            Metadata={"origin": key},
        )
    return bucket


DAMAGED = ("data/k1", "data/k2", "data/k3")


def assert_same_as_source(s3_client: Any, source: str, target: str, prefix: str) -> None:
    """Every object is the source's; the repaired ones carry its type and metadata too."""
    for key, body in SOURCE.items():
        name = prefix + key.removeprefix("data/")
        copy = s3_client.get_object(Bucket=target, Key=name)
        assert copy["Body"].read() == body, name
        if key in DAMAGED:
            assert copy["ContentType"] == "text/x-sample", name
            assert copy["Metadata"] == {"origin": key}, name


def test_large_objects_are_copied_server_side_in_parts(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    slow_endpoint: Callable[[float], Any],
) -> None:
    source, target = make_bucket(), make_bucket()
    big = os.urandom(11 * MIB)
    s3_client.put_object(Bucket=source, Key="big", Body=big, Metadata={"origin": "big"})
    counter = slow_endpoint(0)
    result = run_cli(
        "s3-repair", f"s3://{target}/", "--from", f"s3://{source}/",
        "--multipart-threshold", str(6 * MIB), "--part-size", str(5 * MIB),
        input=checked(run_cli, f"s3://{source}/", f"s3://{target}/"),
        env={"AWS_ENDPOINT_URL": counter.url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert repairs(parse_ndjson(result.stdout))["big"]["action"] == "multipart_copy"
    assert len([p for p in counter.requests("PUT") if "partNumber" in p]) == 3
    assert not [p for p in counter.requests("GET") if p.endswith("/big")]  # no bytes pulled
    copy = s3_client.get_object(Bucket=target, Key="big")
    assert copy["Body"].read() == big and copy["Metadata"] == {"origin": "big"}


def test_an_upload_given_up_on_is_aborted(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    slow_endpoint: Callable[[float], Any],
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "big").write_bytes(os.urandom(11 * MIB))
    target = make_bucket()
    checks = checked(run_cli, str(source), f"s3://{target}/")
    proxy = slow_endpoint(0)
    proxy.faults.status = {("PUT", "partNumber=2"): 403}
    result = run_cli(
        "s3-repair", f"s3://{target}/", "--from", str(source), "--part-size", str(5 * MIB),
        input=checks, env={"AWS_ENDPOINT_URL": proxy.url},
    )  # fmt: skip
    assert result.returncode == 1
    record = repairs(parse_ndjson(result.stdout))["big"]
    assert record["status"] == "failed" and "AccessDenied" in record["error"]
    assert [p for p in proxy.requests("DELETE") if "uploadId" in p]  # AbortMultipartUpload
    assert s3_client.list_multipart_uploads(Bucket=target).get("Uploads", []) == []
    assert s3_client.list_objects_v2(Bucket=target).get("KeyCount") == 0


def test_a_server_that_wants_parts_in_order_gets_them_in_order(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    slow_endpoint: Callable[[float], Any],
    tmp_path: Path,
) -> None:
    """Like rclone serve s3 with big uploads: a completion whose parts overlapped is
    refused (InvalidPart); that upload is sent again in order, and so is the next."""
    source = tmp_path / "source"
    source.mkdir()
    bodies = {name: os.urandom(11 * MIB) for name in ("big1", "big2")}
    for name, body in bodies.items():
        (source / name).write_bytes(body)
    target = make_bucket()
    checks = checked(run_cli, str(source), f"s3://{target}/")
    proxy = slow_endpoint(0.05)  # parts sent at once overlap at the server
    proxy.faults.parts_in_order = True
    result = run_cli(
        "s3-repair", f"s3://{target}/", "--from", str(source), "--part-size", str(5 * MIB),
        "--concurrency", "1", input=checks, env={"AWS_ENDPOINT_URL": proxy.url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = repairs(parse_ndjson(result.stdout))
    assert {k: (r["status"], r["action"]) for k, r in records.items()} == {
        "big1": ("repaired", "multipart_upload"),
        "big2": ("repaired", "multipart_upload"),
    }
    assert proxy.faults.injected["InvalidPart"] == 1  # the first upload only
    assert b"one part at a time, in order" in result.stderr
    assert len([p for p in proxy.requests("DELETE") if "uploadId" in p]) == 1  # aborted
    for name, body in bodies.items():
        assert s3_client.get_object(Bucket=target, Key=name)["Body"].read() == body
    assert s3_client.list_multipart_uploads(Bucket=target).get("Uploads", []) == []


def test_restart_aborts_the_uploads_the_old_checkpoint_left_open(
    run_cli: Run, make_bucket: Callable[..., str], s3_client: Any, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "k").write_bytes(b"x")
    target = make_bucket()
    checks = checked(run_cli, str(source), f"s3://{target}/")
    left = s3_client.create_multipart_upload(Bucket=target, Key="big")["UploadId"]
    checkpoint = tmp_path / "repair.ck"
    state = {"upload_id": left, "part_size": 5 * MIB, "parts": {}}
    checkpoint.write_text(json.dumps({"cursor": {"uploads": {"big": state}}}))
    result = run_cli(
        "s3-repair", f"s3://{target}/", "--from", str(source), "--checkpoint", str(checkpoint),
        "--restart", input=checks,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"aborted 1 multipart upload(s) of the old checkpoint" in result.stderr
    assert s3_client.list_multipart_uploads(Bucket=target).get("Uploads", []) == []


def test_server_side_repair_within_one_endpoint(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    source_bucket: str,
    slow_endpoint: Callable[[float], Any],
) -> None:
    target = make_bucket()
    damage(s3_client, target, "backup/")
    checks = checked(run_cli, f"s3://{source_bucket}/data/", f"s3://{target}/backup/")
    counter = slow_endpoint(0)
    result = run_cli(
        "s3-repair",
        f"s3://{target}/backup/",
        "--from",
        f"s3://{source_bucket}/data/",
        input=checks,
        env={"AWS_ENDPOINT_URL": counter.url},
    )
    assert result.returncode == 0, result.stderr
    records = repairs(parse_ndjson(result.stdout))
    acted = {k: (r["status"], r["action"]) for k, r in records.items() if r["status"] != "skipped"}
    assert acted == {
        "backup/k1": ("repaired", "copy"),
        "backup/k2": ("repaired", "copy"),
        "backup/k3": ("repaired", "copy"),
    }
    assert records["backup/k1"]["source"] == {"bucket": source_bucket, "key": "data/k1"}
    assert records["backup/k1"]["bytes"] == 101 and records["backup/k1"]["attempts"] == 1
    assert records["backup/k0"]["status"] == "skipped"
    assert not [path for path in counter.requests("GET") if "/data/" in path]  # no bytes pulled
    # The input is in key order: one listing page of each side answers "is the target
    # still damaged?" and "is the source still the manifest's?" for every record after
    # the first (nothing to start a page after); CopyObject's own ETag verifies it after.
    assert [
        path for path in counter.requests("HEAD") if "/backup/" in path or "/data/" in path
    ] == []
    lists = [path for path in counter.requests("GET") if "list-type=2" in path]
    assert sorted(path.split("?")[0] for path in lists) == [f"/{source_bucket}", f"/{target}"]
    assert len(counter.requests("PUT")) == 3  # the three CopyObjects
    assert_same_as_source(s3_client, source_bucket, target, "backup/")
    again = run_cli(
        "s3-check",
        f"s3://{target}/backup/",
        input=run_cli("s3-manifest", f"s3://{source_bucket}/data/", "-q").stdout,
    )
    assert again.returncode == 0


def object_heads(counter: Any) -> list[str]:
    """The HeadObject requests a proxy saw (HeadBucket's paths have no key)."""
    return [path for path in counter.requests("HEAD") if path.strip("/").count("/")]


@dataclass
class Replica:
    """A damaged replica of SOURCE at the top of `target`, its check records, and a
    counting proxy in front of the moto server."""

    target: str
    source: str
    checks: bytes
    counter: Any
    run_cli: Run

    def repair(self, *options: str, checks: bytes | None = None) -> Any:
        return self.run_cli(
            "s3-repair", f"s3://{self.target}/", "--from", f"s3://{self.source}/data/",
            *options, input=self.checks if checks is None else checks,
            env={"AWS_ENDPOINT_URL": self.counter.url},
        )  # fmt: skip


@pytest.fixture
def replica(
    run_cli: Run,
    make_bucket: Callable[..., str],
    s3_client: Any,
    source_bucket: str,
    slow_endpoint: Callable[[float], Any],
) -> Replica:
    target = make_bucket()
    damage(s3_client, target, "")
    checks = checked(run_cli, f"s3://{source_bucket}/data/", f"s3://{target}/")
    return Replica(target, source_bucket, checks, slow_endpoint(0), run_cli)


def test_what_changed_since_the_check_is_seen_without_a_head_each(
    replica: Replica, parse_ndjson: Parse, s3_client: Any
) -> None:
    # After the check: someone repairs k2, and the source's k3 changes.
    s3_client.put_object(Bucket=replica.target, Key="k2", Body=SOURCE["data/k2"])
    s3_client.put_object(Bucket=replica.source, Key="data/k3", Body=b"changed")
    result = replica.repair()
    assert result.returncode == 1, result.stderr
    records = repairs(parse_ndjson(result.stdout))
    assert (records["k1"]["status"], records["k1"]["action"]) == ("repaired", "copy")
    assert (records["k2"]["status"], records["k2"]["action"]) == ("skipped", "none")
    assert records["k3"]["status"] == "failed" and "size" in records["k3"]["error"]
    assert object_heads(replica.counter) == []
    assert s3_client.get_object(Bucket=replica.target, Key="k3")["Body"].read() != b"changed"


def test_a_copy_sent_without_a_thread_fails_alone(
    replica: Replica, parse_ndjson: Parse, s3_client: Any
) -> None:
    """A copy the pages cleared is refused: its record fails, the others go on (retries
    of such copies: tests/chaos/test_faults.py)."""
    replica.counter.faults.status = {("PUT", f"/{replica.target}/k2"): (400, "InvalidRequest")}
    result = replica.repair()
    assert result.returncode == 1, result.stderr
    records = repairs(parse_ndjson(result.stdout))
    assert records["k2"]["status"] == "failed" and "InvalidRequest" in records["k2"]["error"]
    assert records["k1"]["status"] == records["k3"]["status"] == "repaired"
    assert records["k2"]["attempts"] == 1 and object_heads(replica.counter) == []
    for key in ("k1", "k3"):
        body = s3_client.get_object(Bucket=replica.target, Key=key)["Body"].read()
        assert body == SOURCE[f"data/{key}"]


def test_without_listing_rights_the_checks_take_heads(
    replica: Replica, parse_ndjson: Parse, s3_client: Any
) -> None:
    replica.counter.faults.status = {("GET", "list-type=2"): 403}  # ListBucket refused
    result = replica.repair()
    assert result.returncode == 0, result.stderr
    records = repairs(parse_ndjson(result.stdout))
    assert {k for k, r in records.items() if r["status"] == "repaired"} == {"k1", "k2", "k3"}
    assert len(object_heads(replica.counter)) == 6  # target and source of each
    assert_same_as_source(s3_client, replica.source, replica.target, "")


def test_input_out_of_key_order_is_checked_with_heads(
    replica: Replica, parse_ndjson: Parse, s3_client: Any
) -> None:
    lines = replica.checks.splitlines()
    # The damaged records backwards, one of them twice (a replayed input): no page helps.
    # One at a time, so the replayed record is checked after the first one's copy.
    damaged = [line for line in lines[1:-1] if b'"status":"ok"' not in line]
    shuffled = b"\n".join([lines[0], *reversed(damaged), damaged[0], lines[-1]]) + b"\n"
    result = replica.repair("--concurrency", "1", checks=shuffled)
    assert result.returncode == 0, result.stderr
    records = [r for r in parse_ndjson(result.stdout) if r["type"] == "repair"]
    assert [(r["key"], r["status"], r["action"]) for r in records] == [
        ("k3", "repaired", "copy"),
        ("k2", "repaired", "copy"),
        ("k1", "repaired", "copy"),
        ("k1", "skipped", "none"),  # the replay found it whole: not copied again
    ]
    assert len(replica.counter.requests("PUT")) == 3
    target, source = replica.target, replica.source
    assert sorted(object_heads(replica.counter)) == sorted(
        [f"/{target}/k{n}" for n in (1, 1, 2, 3)] + [f"/{source}/data/k{n}" for n in (1, 2, 3)]
    )
    assert_same_as_source(s3_client, source, target, "")


@pytest.fixture
def second_server() -> Iterator[str]:
    """Another moto server (same storage, other endpoint): copies must stream through us."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_streamed_repair_across_two_servers_with_a_multipart_object(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    source_bucket: str,
    second_server: str,
) -> None:
    big = os.urandom(11 * MIB)
    s3_client.put_object(
        Bucket=source_bucket,
        Key="data/big",
        Body=big,
        ContentType="text/x-sample",
        Metadata={"origin": "data/big"},
    )
    target = make_bucket()
    damage(s3_client, target, "")
    checks = checked(run_cli, f"s3://{source_bucket}/data/", f"s3://{target}/")
    result = run_cli(
        "s3-repair",
        f"s3://{target}/",
        "--from",
        f"s3://{source_bucket}/data/",
        "--from-endpoint-url",
        second_server,
        "--part-size",
        str(5 * MIB),
        input=checks,
    )
    assert result.returncode == 0, result.stderr
    records = repairs(parse_ndjson(result.stdout))
    assert records["big"]["action"] == "multipart_upload" and records["big"]["bytes"] == 11 * MIB
    assert records["k1"]["action"] == "upload"
    assert s3_client.head_object(Bucket=target, Key="big")["ETag"].strip('"').endswith("-3")
    assert s3_client.get_object(Bucket=target, Key="big")["Body"].read() == big
    assert s3_client.head_object(Bucket=target, Key="big")["Metadata"] == {"origin": "data/big"}
    assert_same_as_source(s3_client, source_bucket, target, "")


def test_local_to_s3_and_s3_to_local(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    source_bucket: str,
    tmp_path: Path,
) -> None:
    restore = tmp_path / "restore"
    restore.mkdir()
    (restore / "k0").write_bytes(b"stale")
    down = run_cli(
        "s3-repair",
        str(restore),
        "--from",
        f"s3://{source_bucket}/data/",
        input=checked(run_cli, f"s3://{source_bucket}/data/", str(restore)),
    )
    assert down.returncode == 0, down.stderr
    assert {r["action"] for r in repairs(parse_ndjson(down.stdout)).values()} == {"download"}
    for key, body in SOURCE.items():
        assert (restore / key.removeprefix("data/")).read_bytes() == body
    assert not [p.name for p in restore.iterdir() if "s3deep" in p.name]  # no temp files left
    target = make_bucket()
    up = run_cli(
        "s3-repair",
        f"s3://{target}/",
        "--from",
        str(restore),
        input=checked(run_cli, str(restore), f"s3://{target}/"),
    )
    assert up.returncode == 0, up.stderr
    assert len(repairs(parse_ndjson(up.stdout))) == len(SOURCE)
    for key, body in SOURCE.items():
        assert (
            s3_client.get_object(Bucket=target, Key=key.removeprefix("data/"))["Body"].read()
            == body
        )


def test_a_changed_source_is_not_copied_and_fails(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    source_bucket: str,
) -> None:
    target = make_bucket()
    checks = checked(run_cli, f"s3://{source_bucket}/data/", f"s3://{target}/")
    s3_client.put_object(Bucket=source_bucket, Key="data/k4", Body=b"changed since the manifest")
    s3_client.put_object(Bucket=source_bucket, Key="data/k5", Body=bytes([71]) * 501)
    result = run_cli(
        "s3-repair", f"s3://{target}/", "--from", f"s3://{source_bucket}/data/", input=checks
    )
    assert result.returncode == 1
    records = repairs(parse_ndjson(result.stdout))
    assert records["k4"]["status"] == "failed" and "size" in records["k4"]["error"]
    assert records["k5"]["status"] == "failed" and "ETag" in records["k5"]["error"]
    assert records["k0"]["status"] == "repaired"
    listed = s3_client.list_objects_v2(Bucket=target).get("Contents", [])
    assert sorted(item["Key"] for item in listed) == ["k0", "k1", "k2", "k3", "k6", "k7"]


def test_keys_that_would_escape_a_local_target_are_refused(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    tmp_path: Path,
) -> None:
    source = make_bucket()
    for key in ("../escape", "/abs", "ok/../../up", "fine"):
        s3_client.put_object(Bucket=source, Key=key, Body=b"payload")
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (target / "linked").symlink_to(tmp_path / "elsewhere")
    s3_client.put_object(Bucket=source, Key="linked/file", Body=b"payload")
    result = run_cli(
        "s3-repair",
        str(target),
        "--from",
        f"s3://{source}/",
        input=checked(run_cli, f"s3://{source}/", str(target)),
    )
    assert result.returncode == 1
    records = repairs(parse_ndjson(result.stdout))
    refused = sorted(k for k, r in records.items() if r["status"] == "failed")
    assert refused == ["../escape", "/abs", "linked/file", "ok/../../up"]
    assert all("refused" in records[k]["error"] for k in refused)
    assert records["fine"]["status"] == "repaired"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "target"]
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_dry_run_touches_nothing(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    source_bucket: str,
    slow_endpoint: Callable[[float], Any],
) -> None:
    target = make_bucket()
    checks = checked(run_cli, f"s3://{source_bucket}/data/", f"s3://{target}/")
    counter = slow_endpoint(0)
    result = run_cli(
        "s3-repair",
        f"s3://{target}/",
        "--from",
        f"s3://{source_bucket}/data/",
        "--dry-run",
        input=checks,
        env={"AWS_ENDPOINT_URL": counter.url},
    )
    assert result.returncode == 0, result.stderr
    records = repairs(parse_ndjson(result.stdout))
    assert {r["status"] for r in records.values()} == {"dry_run"}
    assert {r["action"] for r in records.values()} == {"copy"}
    assert counter.requests("PUT") == [] and counter.requests("POST") == []
    assert counter.requests("GET") == []  # not even a HEAD of an object: only HeadBucket
    assert s3_client.list_objects_v2(Bucket=target).get("KeyCount") == 0


def saved_upload(checkpoint: Path) -> dict[str, Any]:
    """The open upload of key `big` in a checkpoint file, if any yet."""
    try:
        cursor = json.loads(checkpoint.read_bytes())["cursor"]
    except (OSError, ValueError, KeyError):
        return {}
    return dict(cursor.get("uploads", {}).get("big", {}))


def test_large_object_killed_mid_copy_resumes_its_upload(
    run_cli: Run,
    start_cli: Callable[..., subprocess.Popen[bytes]],
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    slow_endpoint: Callable[[float], Any],
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    big = os.urandom(4 * 5 * MIB + 123)
    (source / "big").write_bytes(big)
    target = make_bucket()
    checks = tmp_path / "checks.ndjson"
    checks.write_bytes(checked(run_cli, str(source), f"s3://{target}/"))
    slow = slow_endpoint(0.6)
    args = [f"s3://{target}/", "--from", str(source), "-i", checks, "-o", tmp_path / "out.ndjson"]
    args += ["--checkpoint", tmp_path / "ck", "--part-size", str(5 * MIB)]
    args += ["--part-concurrency", "1"]
    process = start_cli(
        "s3-repair", *args, env={"AWS_ENDPOINT_URL": slow.url}, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while len(saved_upload(tmp_path / "ck").get("parts", {})) < 2:  # two parts committed
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = saved_upload(tmp_path / "ck")
    assert 2 <= len(saved["parts"]) < 5
    before = len(slow.requests())
    slow.delay_s = 0
    result = run_cli("s3-repair", *args, env={"AWS_ENDPOINT_URL": slow.url})
    assert result.returncode == 0, result.stderr
    rerun = slow.requests()[before:]
    sent_again = [p for p in rerun if "partNumber" in p and "uploadId" in p]
    assert 0 < len(sent_again) <= 5 - len(saved["parts"])
    assert [p for p in rerun if "uploadId" in p and "partNumber" not in p]  # ListParts, Complete
    assert f"uploadId={saved['upload_id']}" in sent_again[0]
    records = repairs(parse_ndjson((tmp_path / "out.ndjson").read_bytes()))
    assert records["big"]["status"] == "repaired"
    assert s3_client.get_object(Bucket=target, Key="big")["Body"].read() == big
    assert s3_client.list_multipart_uploads(Bucket=target).get("Uploads", []) == []
