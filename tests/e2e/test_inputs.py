"""Input files on a shared machine: secrets in URLs, unreadable input, the input as the
output, an edited input on resume, FIFOs, and keys that S3 cannot hold (issue 14)."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., Any]
Seed = Callable[[str, Mapping[str, bytes]], None]


def object_lines(bucket: str, keys: list[str], *, complete: bool = True) -> bytes:
    header = {"type": "header", "stage": "s3-manifest", "source": f"s3://{bucket}/"}
    lines = [json.dumps(header)]
    lines += [json.dumps({"type": "object", "bucket": bucket, "key": key}) for key in keys]
    summary = {"type": "summary", "stage": "s3-manifest", "complete": complete}
    lines.append(json.dumps(summary))
    return "\n".join(lines).encode() + b"\n"


def parse(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


def in_bucket(s3: Any, bucket: str) -> set[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return {
        o["Key"] for page in paginator.paginate(Bucket=bucket) for o in page.get("Contents", [])
    }


Seeded = Callable[[int | list[str]], tuple[str, list[str]]]


@pytest.fixture
def seeded(make_bucket: Callable[..., str], seed_objects: Seed) -> Seeded:
    """`seeded(n)` or `seeded(keys)`: a new bucket holding small objects, n of them or
    these; (its name, their keys)."""

    def seed(count: int | list[str]) -> tuple[str, list[str]]:
        bucket = make_bucket()
        keys = [f"k/{n:05d}" for n in range(count)] if isinstance(count, int) else count
        seed_objects(bucket, {key: b"x" for key in keys})
        return bucket, keys

    return seed


# --- point 3: a user and password in a URL ---------------------------------------------

URL_SECRET = "url-secret-N0T-T0-LEAK"


def with_userinfo(url: str) -> str:
    return url.replace("http://", f"http://akid:{URL_SECRET}@")


def test_a_password_in_a_url_is_never_shown_or_stored(
    run_cli: Run, s3_server: str, refused_endpoint: str, seeded: Seeded, tmp_path: Path
) -> None:
    bucket, _ = seeded(2)
    endpoint = with_userinfo(s3_server)
    listed, checked = tmp_path / "list.ndjson", tmp_path / "check.ndjson"
    runs = [
        # The endpoint's user and password are dropped: the requests are signed anyway.
        run_cli("s3-manifest", f"s3://{bucket}/", "--endpoint-url", endpoint, "-o", listed,
                "--checkpoint", tmp_path / "m.ck"),
        run_cli("s3-check", f"s3://{bucket}/", "-i", listed, "-o", checked, "--mode", "head",
                "--checkpoint", tmp_path / "c.ck", env={"AWS_ENDPOINT_URL": endpoint}),
        run_cli("s3-delete", f"s3://{bucket}/", "-i", listed, "--dry-run", "--debug",
                "--checkpoint", tmp_path / "d.ck", env={"AWS_ENDPOINT_URL_S3": endpoint}),
    ]  # fmt: skip
    # A header written by another tool with a password in its source: kept as upstream.
    given = tmp_path / "given"
    given.mkdir()
    upstream = given / "upstream.ndjson"
    header, rest = listed.read_bytes().split(b"\n", 1)
    source = json.dumps({**json.loads(header), "source": f"{endpoint}/{bucket}/"})
    upstream.write_bytes(source.encode() + b"\n" + rest)
    runs.append(run_cli("s3-delete", f"s3://{bucket}/", "-i", upstream, "--dry-run", "-o",
                        tmp_path / "dry.ndjson"))  # fmt: skip
    assert [run.returncode for run in runs] == [0, 0, 0, 0], [run.stderr for run in runs]
    assert b"***@127.0.0.1" in (tmp_path / "dry.ndjson").read_bytes()
    refused = with_userinfo(refused_endpoint)
    failures = [
        run_cli("s3-manifest", f"s3://{bucket}/", "--endpoint-url", refused, "--debug",
                "--checkpoint", tmp_path / "r.ck", env={"AWS_MAX_ATTEMPTS": "1"}),
        run_cli("s3-check", f"s3://{bucket}/", "-i", f"{refused}/list.ndjson", "--debug"),
        run_cli("s3-delete", f"s3://{bucket}/", "-i", f"{refused}/list.ndjson.gz"),
    ]  # fmt: skip
    assert all(run.returncode in (2, 3) for run in failures), [run.stderr for run in failures]
    assert all(b"***@127.0.0.1" in run.stderr for run in failures[1:]), failures[1].stderr
    for run in runs + failures:
        assert URL_SECRET.encode() not in run.stdout + run.stderr, run.stderr
    for path in tmp_path.iterdir():
        assert path == given or URL_SECRET.encode() not in path.read_bytes(), path


# --- point 4: input that cannot be read ------------------------------------------------


def error_line(stderr: bytes, *needles: str) -> int:
    """The `line N` of the one error line, which must name every needle."""
    text = stderr.decode()
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if ": error: " in line]
    assert len(errors) == 1 and all(needle in errors[0] for needle in needles), text
    match = re.search(r"line (\d+)", errors[0])
    assert match, errors[0]
    return int(match.group(1))


def stop_at_a_cut_gzip_then_resume(
    run_cli: Run, stage: str, args: list[Any], data: bytes, tmp_path: Path, kind: str
) -> tuple[int, list[str], list[dict[str, Any]]]:
    """Runs `stage` on `data` gzipped and cut short, expecting exit 2 naming the input and
    the line reached, then on the whole file. Returns that line, the keys of the `kind`
    records of the first run's output, and the records of the resumed run's output."""
    whole = gzip.compress(data)
    source, out = tmp_path / "in.ndjson.gz", tmp_path / "out.ndjson"
    source.write_bytes(whole[: len(whole) * 4 // 5])
    command = [*args, "-i", source, "-o", out, "--checkpoint", tmp_path / "run.ck"]
    first = run_cli(stage, *command)
    assert first.returncode == 2, first.stderr
    reached = error_line(first.stderr, f"cannot read input {source}")
    done = [r["key"] for r in parse(out.read_bytes()) if r["type"] == kind]
    assert len(done) == reached - 2  # every record before the line it could not read
    source.write_bytes(whole)
    again = run_cli(stage, *command)
    assert again.returncode == 0, again.stderr
    records = parse(out.read_bytes())
    assert records[-1]["complete"] and records[-1]["resumed"] == 1
    return reached, done, records


def test_s3_delete_records_every_deletion_before_a_truncated_gzip_input(
    run_cli: Run,
    seeded: Seeded,
    s3_client: Any,
    tmp_path: Path,
) -> None:
    bucket, keys = seeded(1000)
    left: list[set[str]] = []

    def run_and_look(stage: str, *command: Any) -> Any:
        left.append(in_bucket(s3_client, bucket))  # before each run
        return run_cli(stage, *command)

    args = [f"s3://{bucket}/k/", "--batch-size", "100"]
    _, deleted, records = stop_at_a_cut_gzip_then_resume(
        run_and_look, "s3-delete", args, object_lines(bucket, keys), tmp_path, "delete"
    )
    assert deleted and left == [set(keys), set(keys) - set(deleted)]
    assert [r["key"] for r in records if r["type"] == "delete"] == keys
    assert not in_bucket(s3_client, bucket)


@pytest.mark.parametrize("mode", ["head", "read", "list"])
def test_s3_check_records_what_it_read_before_a_truncated_gzip_input(
    mode: str,
    run_cli: Run,
    seeded: Seeded,
    tmp_path: Path,
) -> None:
    bucket, keys = seeded(200)
    args = [f"s3://{bucket}/", "--mode", mode]
    _, checked, records = stop_at_a_cut_gzip_then_resume(
        run_cli, "s3-check", args, object_lines(bucket, keys), tmp_path, "check"
    )
    assert checked == keys[: len(checked)]
    assert [r["key"] for r in records if r["type"] == "check"] == keys


def test_s3_repair_records_what_it_copied_before_a_truncated_gzip_input(
    run_cli: Run,
    make_bucket: Callable[..., str],
    seeded: Seeded,
    s3_client: Any,
    tmp_path: Path,
) -> None:
    source_bucket, keys = seeded(120)
    target = make_bucket()
    header = {"type": "header", "stage": "s3-check", "source": f"s3://{target}/"}
    lines = [json.dumps(header)] + [
        json.dumps({"type": "check", "bucket": target, "key": key, "status": "missing",
                    "expected": {"type": "object", "bucket": source_bucket, "key": key,
                                 "size": 1}})
        for key in keys
    ]  # fmt: skip
    lines.append(json.dumps({"type": "summary", "stage": "s3-check", "complete": True}))
    copied: list[set[str]] = []

    def run_and_look(stage: str, *command: Any) -> Any:
        copied.append(in_bucket(s3_client, target))  # before each run
        return run_cli(stage, *command)

    args = [f"s3://{target}/", "--from", f"s3://{source_bucket}/"]
    data = "\n".join(lines).encode() + b"\n"
    _, repaired, records = stop_at_a_cut_gzip_then_resume(
        run_and_look, "s3-repair", args, data, tmp_path, "repair"
    )
    assert repaired == keys[: len(repaired)] and copied == [set(), set(repaired)]
    assert [r["key"] for r in records if r["type"] == "repair"] == keys
    assert in_bucket(s3_client, target) == set(keys)


@pytest.mark.parametrize(
    ("name", "content"), [("plain.ndjson.gz", b"not gzip\n"), ("list.ndjson.zst", b"not zstd\n")]
)
def test_an_input_that_cannot_be_decompressed_is_bad_input(
    name: str, content: bytes, run_cli: Run, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    result = run_cli("s3-delete", f"s3://{bucket}/", "-i", source)
    assert result.returncode == 2, result.stderr
    text = result.stderr.decode()
    assert "Traceback" not in text and str(source) in text, text


# --- point 5: the input as the output --------------------------------------------------


@pytest.mark.parametrize("link", ["same name", "symlink", "hard link"])
def test_the_input_file_is_refused_as_the_output(
    link: str,
    run_cli: Run,
    seeded: Seeded,
    tmp_path: Path,
) -> None:
    bucket, keys = seeded(300)
    source = tmp_path / "same.ndjson"
    data = object_lines(bucket, keys)
    source.write_bytes(data)
    output = tmp_path / "other-name.ndjson"
    if link == "same name":
        output = source
    elif link == "symlink":
        output.symlink_to(source)
    else:
        os.link(source, output)
    results = [
        run_cli("s3-check", f"s3://{bucket}/", "-i", source, "-o", output),
        run_cli("s3-manifest", f"s3://{bucket}/", "--keys", source, "-o", output),
    ]
    for result in results:
        assert result.returncode == 2, result.stderr
        assert "is the input file" in result.stderr.decode()
    assert source.read_bytes() == data


# --- point 6: an input edited between runs --------------------------------------------


def test_an_edited_input_is_refused_on_resume_and_an_appended_one_accepted(
    run_cli: Run, seeded: Seeded, s3_client: Any, tmp_path: Path
) -> None:
    bucket, _ = seeded(["a1", "a2", "b1", "b2", "b3", "c1"])
    good = object_lines(bucket, ["a1", "a2"], complete=False).splitlines(keepends=True)[:-1]
    source = tmp_path / "in.ndjson"
    source.write_bytes(b"".join(good) + b"not json\n")
    out, ck = tmp_path / "out.ndjson", tmp_path / "run.ck"
    command = [f"s3://{bucket}/", "-i", source, "-o", out, "--checkpoint", ck]
    assert run_cli("s3-delete", *command).returncode == 2
    assert in_bucket(s3_client, bucket) == {"b1", "b2", "b3", "c1"}
    source.write_bytes(object_lines(bucket, ["b1", "b2", "b3"]))  # replaced, same header
    edited = run_cli("s3-delete", *command)
    assert edited.returncode == 2, edited.stderr
    assert "differs from the input" in edited.stderr.decode() and b"--restart" in edited.stderr
    assert in_bucket(s3_client, bucket) == {"b1", "b2", "b3", "c1"}
    source.write_bytes(object_lines(bucket, ["a1", "a2", "c1"]))  # mended and grown
    again = run_cli("s3-delete", *command)
    assert again.returncode == 0, again.stderr
    records = parse(out.read_bytes())
    assert [r["key"] for r in records if r["type"] == "delete"] == ["a1", "a2", "c1"]
    assert in_bucket(s3_client, bucket) == {"b1", "b2", "b3"}


# --- point 7: FIFOs and process substitution -------------------------------------------


@pytest.mark.parametrize("pipe", ["fifo", "process substitution"])
def test_a_fifo_or_process_substitution_input_resumes_by_replay(
    pipe: str,
    cli_env: dict[str, str],
    script_path: Callable[[str], Path],
    seeded: Seeded,
    s3_client: Any,
    tmp_path: Path,
) -> None:
    bucket, keys = seeded(["a1", "a2", "a3"])
    good = object_lines(bucket, keys)
    fifo, listed = tmp_path / "in.fifo", tmp_path / "list.ndjson"
    os.mkfifo(fifo)
    out, ck = tmp_path / "out.ndjson", tmp_path / "run.ck"
    command = [script_path("s3-delete"), f"s3://{bucket}/", "-o", out, "--checkpoint", ck]

    def run(data: bytes) -> subprocess.CompletedProcess[bytes]:
        listed.write_bytes(data)
        if pipe == "fifo":
            writer = subprocess.Popen(["cp", listed, fifo])
            result = subprocess.run([*command, "-i", fifo], capture_output=True, env=cli_env,
                                    timeout=60, check=False)  # fmt: skip
            writer.wait(timeout=10)
            return result
        shell = f'exec "$@" -i <(cat {listed})'
        return subprocess.run(["bash", "-c", shell, "bash", *command], capture_output=True,
                              env=cli_env, timeout=60, check=False)  # fmt: skip

    first = run(good.replace(b'"a3"}', b'"a3"'))  # line 4 is not JSON
    assert first.returncode == 2 and b"line 4" in first.stderr, first.stderr
    again = run(good)
    assert again.returncode == 0, again.stderr
    records = parse(out.read_bytes())
    assert [r["key"] for r in records if r["type"] == "delete"] == keys
    assert records[-1]["resumed"] == 1 and not in_bucket(s3_client, bucket)


# --- point 9: keys S3 cannot hold, repeated fields, impossible sizes --------------------

BAD_RECORDS = {
    "an empty key": '{"type":"object","bucket":"%s","key":""}',
    "a NUL in the key": '{"type":"object","bucket":"%s","key":"a\\u0000b"}',
    "a 1028-byte key": '{"type":"object","bucket":"%s","key":"' + "\U0001f600" * 257 + '"}',
    "a repeated field": '{"type":"object","bucket":"%s","key":"x/1","key":"x/2"}',
    "a negative size": '{"type":"object","bucket":"%s","key":"x/3","size":-1}',
    "a size above 5 TiB": '{"type":"object","bucket":"%s","key":"x/4","size":5497558138881}',
}


def test_keys_and_sizes_s3_cannot_hold_are_bad_input(
    run_cli: Run, seeded: Seeded, s3_client: Any, tmp_path: Path
) -> None:
    longest = "\U0001f600" * 256  # 1024 bytes: the longest key S3 holds
    good = ["g1", longest, "g2"]
    bucket, _ = seeded([*good, "x/1", "x/2", "x/3", "x/4"])
    header = json.dumps({"type": "header", "stage": "s3-manifest", "source": f"s3://{bucket}/"})
    lines = [header, json.dumps({"type": "object", "bucket": bucket, "key": "g1"})]
    lines += [template % bucket for template in BAD_RECORDS.values()]
    lines += [json.dumps({"type": "object", "bucket": bucket, "key": key}) for key in good[1:]]
    lines.append(json.dumps({"type": "summary", "stage": "s3-manifest", "complete": True}))
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(lines) + "\n")
    strict = run_cli("s3-delete", f"s3://{bucket}/", "-i", source)
    assert strict.returncode == 2, strict.stderr
    assert b"line 3: Expected `str` of length >= 1 - at `$.key`" in strict.stderr
    skipping = run_cli("s3-delete", f"s3://{bucket}/", "-i", source, "--skip-bad-lines")
    assert skipping.returncode == 1, skipping.stderr
    records = parse(skipping.stdout)
    errors = [r for r in records if r["type"] == "error"]
    assert [e["line"] for e in errors] == list(range(3, 3 + len(BAD_RECORDS))), errors
    assert [r["key"] for r in records if r["type"] == "delete"] == good
    assert all(r["status"] == "deleted" for r in records if r["type"] == "delete")
    assert records[-1]["complete"] and in_bucket(s3_client, bucket) == {f"x/{n}" for n in "1234"}
