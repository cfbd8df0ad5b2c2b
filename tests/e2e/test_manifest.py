"""s3-manifest end to end: the installed console script against a moto server over HTTP.

Each test runs the real `s3-manifest` in a subprocess, as a user or a cron job would,
and checks its records, its exit code and its stderr against DESIGN.md.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STAGE = "s3-manifest"
HEADER_FIELDS = {"type", "stage", "version", "source", "started", "upstream", "coverage"}
OBJECT_FIELDS = {
    "type",
    "bucket",
    "key",
    "size",
    "etag",
    "last_modified",
    "storage_class",
    "version_id",
    "is_latest",
    "delete_marker",
    "checksum_algorithm",
}
ERROR_FIELDS = {"type", "stage", "line", "message", "input", "key"}
SUMMARY_FIELDS = {"type", "stage", "complete", "counts", "bytes", "elapsed_s", "resumed"}
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
# Fields of the header and summary that legitimately differ between two runs.
RUN_FIELDS = {"header": {"started"}, "summary": {"elapsed_s", "resumed"}}

# Keys that break naive URL, XML, shell or path handling. A key with "\n" is left out:
# moto's server answers 404 to a PUT of such a key (the local-directory test covers it).
HARD_KEYS = [
    "plain",
    "with space",
    " leading and trailing space ",
    "plus+sign",
    "percent%sign",
    "percent-twenty%20literal",
    "%2F-looks-encoded",
    "amp&ersand",
    "less<than",
    "greater>than",
    "<tag>&amp;</tag>",
    'double"quote',
    "single'quote",
    "back\\slash",
    "question?mark=1&b=2#frag",
    "tilde~star*bang!",
    "ümlaut/ü",
    "emoji/😀",
    "bmp-end/\uffff",
    "/leading-slash",
    "//double-leading-slash",
    "double//inner",
    "..",
    "../x",
    "a/./b",
    "a/../b",
    "tab\tinside",
    "cr\rinside",
    "trailing-slash/",
    "é" * 511 + "k1",  # 1024 bytes of UTF-8
]
assert len(HARD_KEYS[-1].encode()) == 1024


def key_order(keys: Any) -> list[str]:
    """S3's listing order: UTF-8 byte order."""
    return sorted(keys, key=lambda key: key.encode("utf-8"))


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class Listing:
    """One s3-manifest output, checked for its framing: header, records, summary."""

    header: dict[str, Any]
    body: list[dict[str, Any]]  # object and error records, in output order
    summary: dict[str, Any]

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [record for record in self.body if record["type"] == "object"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [record for record in self.body if record["type"] == "error"]

    @property
    def keys(self) -> list[str]:
        return [record["key"] for record in self.objects]


def framed(records: list[dict[str, Any]]) -> Listing:
    assert len(records) >= 2, f"expected at least a header and a summary, got {records}"
    header, *body, summary = records
    assert header["type"] == "header", header
    assert set(header) == HEADER_FIELDS, header
    assert header["stage"] == STAGE
    assert header["version"] == 1
    assert header["upstream"] is None
    assert RFC3339_UTC.fullmatch(header["started"]), header
    assert summary["type"] == "summary", summary
    assert set(summary) == SUMMARY_FIELDS, summary
    assert summary["stage"] == STAGE
    for record in body:
        if record["type"] == "error":
            assert set(record) == ERROR_FIELDS, record
            continue
        assert record["type"] == "object", record
        assert set(record) == OBJECT_FIELDS, record
        assert RFC3339_UTC.fullmatch(record["last_modified"]), record
    return Listing(header, body, summary)


def without_run_fields(record: dict[str, Any]) -> dict[str, Any]:
    dropped = RUN_FIELDS.get(record["type"], set())
    return {name: value for name, value in record.items() if name not in dropped}


def assert_clean_stderr(stderr: bytes) -> None:
    text = stderr.decode("utf-8", "replace")
    for noise in ("Traceback", "BrokenPipe", "Exception ignored", "unexpected"):
        assert noise not in text, f"{noise!r} on stderr:\n{text}"


def assert_same_output(resumed: bytes, reference: bytes, parse: Callable[..., Any]) -> None:
    """The checkpoint promise: byte-identical but for started, elapsed_s and resumed."""
    resumed_lines, reference_lines = resumed.splitlines(), reference.splitlines()
    assert len(resumed_lines) == len(reference_lines)
    # Object lines as bytes, so that even the JSON formatting must be the same.
    assert resumed_lines[1:-1] == reference_lines[1:-1]
    resumed_records, reference_records = parse(resumed), parse(reference)
    for ends in (0, -1):
        assert without_run_fields(resumed_records[ends]) == without_run_fields(
            reference_records[ends]
        )


@pytest.fixture
def manifest(
    run_cli: Callable[..., subprocess.CompletedProcess[bytes]],
    parse_ndjson: Callable[[bytes], list[dict[str, Any]]],
) -> Callable[..., Listing]:
    """Runs s3-manifest to stdout, checks exit code and stderr, returns the parsed output."""

    def run(*args: str | os.PathLike[str], exit_code: int = 0, **options: Any) -> Listing:
        result = run_cli(STAGE, *args, **options)
        stderr = result.stderr.decode("utf-8", "replace")
        assert result.returncode == exit_code, stderr
        assert_clean_stderr(result.stderr)
        listing = framed(parse_ndjson(result.stdout))
        if exit_code in (0, 1):
            last_line = stderr.splitlines()[-1] if stderr else ""
            assert re.match(rf"{STAGE}: {len(listing.body)} listed in ", last_line), stderr
        return listing

    return run


# --- buckets shared by the tests of this module ---------------------------------------


@pytest.fixture(scope="module")
def hard_bucket(
    make_bucket: Callable[..., str], put_objects: Callable[..., dict[str, str]]
) -> tuple[str, dict[str, bytes]]:
    """A bucket holding HARD_KEYS, each with a body of its own size."""
    name = make_bucket()
    objects = {key: b"h" * number for number, key in enumerate(HARD_KEYS)}
    put_objects(name, objects)
    return name, objects


@pytest.fixture(scope="module")
def hard_listing(
    hard_bucket: tuple[str, dict[str, bytes]],
    run_cli: Callable[..., subprocess.CompletedProcess[bytes]],
) -> subprocess.CompletedProcess[bytes]:
    """s3-manifest of hard_bucket with default options, the reference for other runs."""
    return run_cli(STAGE, f"s3://{hard_bucket[0]}")


TREE = {
    "data/a.txt": b"a",
    "data/b.csv": b"bb",
    "data/sub/c.txt": b"ccc",
    "data/sub/skip/d.txt": b"dddd",
    "data.txt": b"eeeee",
    "datab/e.txt": b"ffffff",
    "other/f.txt": b"ggggggg",
}


@pytest.fixture(scope="module")
def tree_bucket(make_bucket: Callable[..., str], put_objects: Callable[..., Any]) -> str:
    name = make_bucket()
    put_objects(name, TREE)
    return name


# --- listing S3 -----------------------------------------------------------------------


def test_hard_keys_round_trip_exactly(
    hard_bucket: tuple[str, dict[str, bytes]],
    hard_listing: subprocess.CompletedProcess[bytes],
    parse_ndjson: Callable[[bytes], list[dict[str, Any]]],
) -> None:
    name, objects = hard_bucket
    assert hard_listing.returncode == 0, hard_listing.stderr
    assert_clean_stderr(hard_listing.stderr)
    listing = framed(parse_ndjson(hard_listing.stdout))

    assert listing.keys == key_order(objects)
    assert listing.header["source"] == f"s3://{name}/"
    for record in listing.objects:
        body = objects[record["key"]]
        assert record["bucket"] == name
        assert record["size"] == len(body), record["key"]
        assert record["etag"] == md5_hex(body), record["key"]
        assert record["storage_class"] == "STANDARD"
        assert record["version_id"] is None
        assert record["is_latest"] is True
        assert record["delete_marker"] is False
    assert listing.summary["complete"] is True
    assert listing.summary["counts"] == {"objects": len(objects)}
    assert listing.summary["bytes"] == sum(map(len, objects.values()))
    assert listing.summary["resumed"] == 0
    # One record per line, even for keys with tabs and CRs.
    assert hard_listing.stdout.count(b"\n") == len(objects) + 2


def test_small_pages_give_the_same_output(
    hard_bucket: tuple[str, dict[str, bytes]],
    hard_listing: subprocess.CompletedProcess[bytes],
    run_cli: Callable[..., subprocess.CompletedProcess[bytes]],
    parse_ndjson: Callable[[bytes], list[dict[str, Any]]],
    slow_endpoint: Callable[[float], Any],
) -> None:
    name, objects = hard_bucket
    counter = slow_endpoint(0)  # no delay: only counts the list requests
    paged = run_cli(
        STAGE, f"s3://{name}", "--page-size", "2", env={"AWS_ENDPOINT_URL": counter.url}
    )

    assert paged.returncode == hard_listing.returncode == 0, paged.stderr
    list_requests = [path for path in counter.requests("GET") if "list-type=2" in path]
    assert len(list_requests) == math.ceil(len(objects) / 2)
    assert_same_output(paged.stdout, hard_listing.stdout, parse_ndjson)


def test_versions_and_delete_markers(
    make_bucket: Callable[..., str],
    s3_client: Any,
    manifest: Callable[..., Listing],
) -> None:
    name = make_bucket()
    s3_client.put_object(Bucket=name, Key="pre", Body=b"0")  # before versioning: "null"
    s3_client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    history: dict[str, list[tuple[str, int | None]]] = {"pre": [("null", 1)]}

    def put(key: str, size: int) -> None:
        version = s3_client.put_object(Bucket=name, Key=key, Body=b"v" * size)["VersionId"]
        history.setdefault(key, []).append((version, size))
        time.sleep(0.01)  # moto orders versions by their millisecond timestamps

    def delete(key: str) -> None:
        response = s3_client.delete_object(Bucket=name, Key=key)
        assert response["DeleteMarker"] is True
        history[key].append((response["VersionId"], None))
        time.sleep(0.01)

    time.sleep(0.01)
    put("a", 2)
    put("a", 3)
    delete("a")
    put("a", 4)
    put("b", 5)
    delete("b")
    put("pre", 6)
    put("c", 7)
    # Per key, newest first; only the newest is the latest.
    expected = [
        (key, version, age == 0, size is None, size)
        for key in key_order(history)
        for age, (version, size) in enumerate(reversed(history[key]))
    ]

    def summary_of(listing: Listing) -> list[tuple[Any, ...]]:
        return [
            (r["key"], r["version_id"], r["is_latest"], r["delete_marker"], r["size"])
            for r in listing.objects
        ]

    # One entry per page: moto's order across pages is S3's (key, then newest first).
    paged = manifest(f"s3://{name}", "--versions", "--page-size", "1")
    assert summary_of(paged) == expected
    for record in paged.objects:
        if record["delete_marker"]:
            assert (record["size"], record["etag"], record["storage_class"]) == (None,) * 3
    assert paged.summary["complete"] is True
    assert paged.summary["counts"] == {"delete_markers": 2, "objects": 7}
    assert paged.summary["bytes"] == 1 + 2 + 3 + 4 + 5 + 6 + 7

    # Within one page moto writes every <Version> before every <DeleteMarker> (S3
    # interleaves them), so at the default page size only the content is comparable.
    whole = manifest(f"s3://{name}", "--versions")
    assert sorted(summary_of(whole), key=str) == sorted(expected, key=str)

    # Without --versions: the latest version of each live key, and no version ids.
    latest = manifest(f"s3://{name}")
    assert [(r["key"], r["size"], r["version_id"]) for r in latest.objects] == [
        ("a", 4, None),
        ("c", 7, None),
        ("pre", 6, None),
    ]


DATA = ["data/a.txt", "data/b.csv", "data/sub/c.txt", "data/sub/skip/d.txt"]


@pytest.mark.parametrize(
    ("path", "options", "expected"),
    [
        ("/data/", [], DATA),
        ("/data", [], ["data.txt", *DATA, "datab/e.txt"]),
        # Globs match the key below the prefix; as in the AWS CLI, * also matches /.
        ("/data/", ["--include", "*.txt"], [DATA[0], DATA[2], DATA[3]]),
        ("/data/", ["--include", "*.txt", "--exclude", "sub/skip/*"], [DATA[0], DATA[2]]),
        ("/data/", ["--exclude", "*.csv", "--exclude", "sub/*"], [DATA[0]]),
        ("/data/", ["--include", "b*", "--include", "sub/c*"], [DATA[1], DATA[2]]),
        ("", ["--include", "*/f.txt"], ["other/f.txt"]),
    ],
)
def test_prefix_and_globs_select_keys(
    tree_bucket: str,
    manifest: Callable[..., Listing],
    path: str,
    options: list[str],
    expected: list[str],
) -> None:
    listing = manifest(f"s3://{tree_bucket}{path}", *options)

    assert listing.keys == expected
    assert listing.header["source"] == f"s3://{tree_bucket}/{path.removeprefix('/')}"
    assert listing.summary["complete"] is True
    assert listing.summary["counts"] == ({"objects": len(expected)} if expected else {})
    assert listing.summary["bytes"] == sum(len(TREE[key]) for key in expected)


def test_empty_bucket_gives_header_and_complete_summary(
    bucket: str, manifest: Callable[..., Listing]
) -> None:
    listing = manifest(f"s3://{bucket}")

    assert listing.body == []
    assert listing.header["source"] == f"s3://{bucket}/"
    assert listing.summary["complete"] is True
    assert sum(listing.summary["counts"].values()) == 0
    assert listing.summary["bytes"] == 0


def test_no_such_bucket_is_one_clear_error(
    run_cli: Callable[..., subprocess.CompletedProcess[bytes]],
    parse_ndjson: Callable[[bytes], list[dict[str, Any]]],
) -> None:
    missing = "s3deep-no-such-bucket"
    result = run_cli(STAGE, f"s3://{missing}/some/prefix/")

    assert result.returncode == 3
    stderr = result.stderr.decode()
    assert_clean_stderr(result.stderr)
    errors = [line for line in stderr.splitlines() if line.startswith(f"{STAGE}: error:")]
    assert len(errors) == 1, stderr
    assert missing in errors[0]
    assert "NoSuchBucket" in errors[0]
    assert all(line.startswith(f"{STAGE}: ") for line in stderr.splitlines()), stderr
    records = parse_ndjson(result.stdout)
    assert [record["type"] for record in records] in (["header", "summary"], [])
    if records:
        assert records[-1]["complete"] is False


def test_fatal_error_before_any_record_leaves_nothing_and_the_rerun_completes(
    s3_client: Any,
    put_objects: Callable[..., Any],
    run_cli: Callable[..., subprocess.CompletedProcess[bytes]],
    parse_ndjson: Callable[[bytes], list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    name = f"s3deep-late-{os.getpid()}-{random.randrange(1 << 30)}"
    out, checkpoint = tmp_path / "out.ndjson", tmp_path / "out.ck"
    command = (STAGE, f"s3://{name}", "-o", out, "--checkpoint", checkpoint, "--page-size", "3")

    failed = run_cli(*command)
    assert failed.returncode == 3, failed.stderr
    assert_clean_stderr(failed.stderr)
    assert not checkpoint.exists() and not out.exists()

    s3_client.create_bucket(Bucket=name)
    put_objects(name, {f"k{n}": b"z" * n for n in range(10)})
    rerun = run_cli(*command)
    reference = run_cli(STAGE, f"s3://{name}")

    assert rerun.returncode == reference.returncode == 0, rerun.stderr
    assert_same_output(out.read_bytes(), reference.stdout, parse_ndjson)
    summary = parse_ndjson(out.read_bytes())[-1]
    assert (summary["complete"], summary["resumed"]) == (True, 0)


# --- local directories ----------------------------------------------------------------

LOCAL_FILES = {
    "a-b": b"1",
    "a/x": b"22",
    "a0": b"333",
    "a/b/c/deep.txt": b"deep",
    "Z-upper": b"",
    "new\nline": b"newline",
    "tab\there": b"tab",
    "cr\rhere": b"cr",
    "with space/and+plus%20": b"sp",
    "ü.txt": b"umlaut",
    "\uffff": b"bmp-end",
    "😀/x": b"emoji",
}


def test_local_directory_lists_relative_keys_in_byte_order(
    tmp_path: Path, manifest: Callable[..., Listing]
) -> None:
    root = tmp_path / "tree"
    for key, body in LOCAL_FILES.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    (root / "empty-dir").mkdir()
    (root / "link-to-file").symlink_to(root / "a0")  # symlinks are skipped
    (root / "link-to-dir").symlink_to(root / "a", target_is_directory=True)

    with_md5 = manifest(root, "--md5")
    by_url = manifest(f"file://{root}")

    assert with_md5.keys == key_order(LOCAL_FILES)
    assert with_md5.header["source"] == os.path.abspath(root)
    for record in with_md5.objects:
        body = LOCAL_FILES[record["key"]]
        assert record["bucket"] == os.path.abspath(root)
        assert record["size"] == len(body)
        assert record["etag"] == md5_hex(body)
        assert record["version_id"] is None
    assert with_md5.summary["complete"] is True
    assert with_md5.summary["counts"] == {"objects": len(LOCAL_FILES)}
    assert with_md5.summary["bytes"] == sum(map(len, LOCAL_FILES.values()))
    # Without --md5 there is no ETag to give; everything else is the same.
    assert [record["etag"] for record in by_url.objects] == [None] * len(LOCAL_FILES)
    assert [{**record, "etag": None} for record in with_md5.objects] == by_url.objects


def test_local_file_name_that_is_not_utf8_is_an_error_record(
    tmp_path: Path, manifest: Callable[..., Listing]
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "good.txt").write_bytes(b"good")
    with open(os.path.join(os.fsencode(root), b"bad-\xff.bin"), "wb") as handle:
        handle.write(b"bad")

    # A per-object failure is a record and exit 1, not a crash (DESIGN.md, STYLE.md 4).
    listing = manifest(root, exit_code=1)
    # In byte order b"bad-\xff.bin" comes before b"good.txt".
    assert [record["type"] for record in listing.body] == ["error", "object"]
    assert listing.keys == ["good.txt"]
    (error,) = listing.errors
    assert error["stage"] == STAGE
    assert "UTF-8" in error["message"]
    assert "bad-" in error["input"]
    assert error["key"] == "bad-\\xff.bin"  # the hole, its undecodable byte escaped
    assert listing.summary["complete"] is False  # a hole: the listing is not all of it
    assert listing.summary["counts"] == {"errors": 1, "objects": 1}


# --- checkpoints ----------------------------------------------------------------------


def test_checkpoint_for_other_arguments_is_refused(
    tree_bucket: str,
    run_cli: Callable[..., subprocess.CompletedProcess[bytes]],
    parse_ndjson: Callable[[bytes], list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    out, checkpoint = tmp_path / "out.ndjson", tmp_path / "out.ck"
    files = ("-o", out, "--checkpoint", checkpoint)
    assert run_cli(STAGE, f"s3://{tree_bucket}/data/", *files).returncode == 0
    before = out.read_bytes(), checkpoint.read_bytes()

    for other in ([f"s3://{tree_bucket}/data/", "--exclude", "*.csv"], [f"s3://{tree_bucket}"]):
        refused = run_cli(STAGE, *other, *files)
        assert refused.returncode == 2, refused.stderr
        assert_clean_stderr(refused.stderr)
        errors = [line for line in refused.stderr.decode().splitlines() if ": error:" in line]
        assert len(errors) == 1, refused.stderr
        assert str(checkpoint) in errors[0]
        assert b"--restart" in refused.stderr
        assert (out.read_bytes(), checkpoint.read_bytes()) == before

    restarted = run_cli(STAGE, f"s3://{tree_bucket}", *files, "--restart")
    assert restarted.returncode == 0, restarted.stderr
    listing = framed(parse_ndjson(out.read_bytes()))
    assert listing.keys == key_order(TREE)
    assert (listing.summary["complete"], listing.summary["resumed"]) == (True, 0)


# --- streams --------------------------------------------------------------------------


def test_head_ends_the_listing_quickly(
    populated_bucket: tuple[str, dict[str, bytes]],
    slow_endpoint: Callable[[float], Any],
    script_path: Callable[[str], Path],
    cli_env: dict[str, str],
    parse_ndjson: Callable[[bytes], list[dict[str, Any]]],
) -> None:
    name, objects = populated_bucket
    slow = slow_endpoint(0.1)
    page_size = 10
    # Pages are fetched one after another, so a full listing takes at least this long.
    full_listing_s = math.ceil(len(objects) / page_size) * slow.delay_s
    script = (
        'set +o pipefail; "$S3_MANIFEST" "s3://$BUCKET" --page-size 10 | head -1; '
        'echo "pipestatus ${PIPESTATUS[*]}" >&2'
    )
    env = {
        **cli_env,
        "AWS_ENDPOINT_URL": slow.url,
        "S3_MANIFEST": str(script_path(STAGE)),
        "BUCKET": name,
    }
    started = time.monotonic()
    shell = subprocess.Popen(
        ["bash", "-c", script],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = shell.communicate(timeout=full_listing_s * 2)
    except subprocess.TimeoutExpired:
        os.killpg(shell.pid, signal.SIGKILL)  # the group this test started
        shell.communicate()
        pytest.fail("s3-manifest | head -1 did not end")
    elapsed = time.monotonic() - started

    assert shell.returncode == 0
    records = parse_ndjson(stdout)
    assert [record["type"] for record in records] == ["header"]
    assert records[0]["source"] == f"s3://{name}/"
    assert elapsed < full_listing_s / 2, (
        f"took {elapsed:.1f}s; a full listing takes {full_listing_s}s"
    )
    list_requests = [path for path in slow.requests("GET") if "list-type=2" in path]
    assert len(list_requests) <= 8, f"{len(list_requests)} list requests after head left"
    assert_clean_stderr(stderr)
    # The status a shell reports for a writer ended by SIGPIPE, and head's own.
    assert stderr.decode().splitlines()[-1] == "pipestatus 141 0", stderr.decode()


def test_gzip_output_decompresses_to_the_same_records(
    hard_bucket: tuple[str, dict[str, bytes]],
    hard_listing: subprocess.CompletedProcess[bytes],
    run_cli: Callable[..., subprocess.CompletedProcess[bytes]],
    parse_ndjson: Callable[[bytes], list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    name, _ = hard_bucket
    out = tmp_path / "listing.ndjson.gz"
    compressed = run_cli(
        STAGE, f"s3://{name}", "-o", out, "--checkpoint", tmp_path / "ck", "--page-size", "2"
    )

    assert compressed.returncode == hard_listing.returncode == 0, compressed.stderr
    assert compressed.stdout == b""
    data = out.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    assert_same_output(gzip.decompress(data), hard_listing.stdout, parse_ndjson)


def test_gzip_output_of_a_failed_run_is_readable(
    run_cli: Callable[..., subprocess.CompletedProcess[bytes]],
    parse_ndjson: Callable[[bytes], list[dict[str, Any]]],
    put_objects: Callable[..., Any],
    slow_endpoint: Callable[[float], Any],
    bucket: str,
    tmp_path: Path,
) -> None:
    put_objects(bucket, {f"k{n}": b"z" for n in range(5)})
    proxy = slow_endpoint(0)
    proxy.faults.status[("GET", "continuation-token")] = 403  # the second page is refused
    out = tmp_path / "listing.ndjson.gz"
    result = run_cli(
        STAGE, f"s3://{bucket}", "-o", out, "--page-size", "3", "--endpoint-url", proxy.url
    )

    assert result.returncode == 3, result.stderr
    # A reader must see the summary that says the listing is incomplete, not a gzip error.
    records = parse_ndjson(gzip.decompress(out.read_bytes()))
    assert [record["type"] for record in records] == ["header"] + ["object"] * 3 + ["summary"]
    assert records[-1]["complete"] is False
