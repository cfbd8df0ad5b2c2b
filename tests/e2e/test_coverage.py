"""Never delete what should stay: s3-check calls `extra` only what its input covers.

Each test pipes (through files or real shell pipes) s3-manifest into s3-check against
a replica holding the source's objects plus a few real extras, and asserts that every
`extra` is a real extra: the source's objects outside a filtered, sharded, key-listed,
resumed or holed manifest are never named.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from inventory_report import CURRENT_SCHEMA, build_report, entries_from_listing, write_report

Run = Callable[..., subprocess.CompletedProcess[bytes]]

SOURCE = {
    "data/a.tar": b"a",
    "data/b.tar": b"bb",
    "data/db.sqlite": b"db",
    "data/notes.txt": b"notes",
    "data/sub/c.tar": b"c",
    "data/sub/d.txt": b"d",
}
REAL_EXTRAS = {"backup/x.tar": b"x", "backup/y.txt": b"y", "backup/sub/z.tar": b"z"}


@pytest.fixture
def buckets(
    make_bucket: Callable[..., str], seed_objects: Callable[[str, Mapping[str, bytes]], None]
) -> tuple[str, str]:
    """A source under data/ and its replica under backup/ with REAL_EXTRAS added."""
    source, replica = make_bucket(), make_bucket()
    seed_objects(source, SOURCE)
    copies = {"backup/" + key.removeprefix("data/"): body for key, body in SOURCE.items()}
    seed_objects(replica, {**copies, **REAL_EXTRAS})
    return source, replica


def extras(run_cli: Run, replica: str, manifest: bytes, *options: str) -> tuple[set[str], str]:
    """The keys s3-check calls extra in backup/ for this manifest, and its stderr."""
    result = run_cli("s3-check", f"s3://{replica}/backup/", "--status", "extra", *options,
                     input=manifest)  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return {r["key"] for r in records if r["type"] == "check"}, result.stderr.decode()


def listed(run_cli: Run, *args: str, input: bytes | None = None) -> bytes:
    result = run_cli("s3-manifest", *args, "--quiet", input=input)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_include_limits_extras_to_matching_keys(run_cli: Run, buckets: tuple[str, str]) -> None:
    source, replica = buckets
    manifest = listed(run_cli, f"s3://{source}/data/", "--include", "*.tar")
    header = json.loads(manifest.splitlines()[0])
    assert header["coverage"] == {"include": ["*.tar"]}
    found, stderr = extras(run_cli, replica, manifest)
    assert found == {"backup/x.tar", "backup/sub/z.tar"}
    assert "input covers only --include '*.tar': extras outside it are not reported" in stderr


def test_exclude_keeps_excluded_keys_from_being_extra(
    run_cli: Run, buckets: tuple[str, str]
) -> None:
    source, replica = buckets
    manifest = listed(run_cli, f"s3://{source}/data/", "--exclude", "*.txt")
    found, stderr = extras(run_cli, replica, manifest)
    assert found == {"backup/x.tar", "backup/sub/z.tar"}
    assert "--exclude '*.txt'" in stderr


def test_shards_each_find_only_their_own_extras(run_cli: Run, buckets: tuple[str, str]) -> None:
    source, replica = buckets
    union: set[str] = set()
    for k in range(3):
        manifest = listed(run_cli, f"s3://{source}/data/", "--shard", f"{k}/3")
        coverage = json.loads(manifest.splitlines()[0])["coverage"]
        assert coverage["shard"] == f"{k}/3"
        found, _ = extras(run_cli, replica, manifest)
        assert found <= set(REAL_EXTRAS), (k, coverage)
        assert not found & union
        union |= found
    assert union == set(REAL_EXTRAS)


def test_a_key_list_finds_no_extras(run_cli: Run, buckets: tuple[str, str]) -> None:
    source, replica = buckets
    keys = b"data/a.tar\ndata/notes.txt\n"
    manifest = listed(run_cli, f"s3://{source}/data/", "--keys", "-", input=keys)
    assert json.loads(manifest.splitlines()[0])["coverage"] == {"keys": True}
    found, stderr = extras(run_cli, replica, manifest)
    assert found == set()
    assert "the input is a key list" in stderr


def test_a_published_filtered_read_is_limited_too(
    run_cli: Run, buckets: tuple[str, str], tmp_path: Path
) -> None:
    source, replica = buckets
    location = f"s3://{source}/data/"
    published = tmp_path / "pub.ndjson.gz"
    whole = tmp_path / "whole.ndjson"
    listed(run_cli, location, "-o", str(whole), "--publish", str(published))
    manifest = listed(run_cli, location, "--from-published", str(published), "--include", "*.tar")
    assert json.loads(manifest.splitlines()[0])["coverage"] == {"include": ["*.tar"]}
    found, _ = extras(run_cli, replica, manifest)
    assert found == {"backup/x.tar", "backup/sub/z.tar"}


def test_an_inventory_of_a_prefix_with_a_filter_maps_its_coverage(
    run_cli: Run, buckets: tuple[str, str], s3_client: Any, tmp_path: Path
) -> None:
    """LOCATION selects data/ of the report's bucket; s3-check maps data/ to backup/, the
    coverage with it. Another prefix of the bucket must not widen the coverage."""
    source, replica = buckets
    entries = entries_from_listing(s3_client, source, versions=False)
    report = build_report(source, [entries], schema=CURRENT_SCHEMA)
    manifest_json = write_report(report, tmp_path / "report")
    manifest = listed(run_cli, f"s3://{source}/data/sub/", "--inventory", str(manifest_json),
                      "--include", "*.tar")  # fmt: skip
    header = json.loads(manifest.splitlines()[0])
    assert header["source"] == f"s3://{source}/data/sub/"
    assert header["coverage"] == {"include": ["*.tar"]}
    result = run_cli("s3-check", f"s3://{replica}/backup/sub/", "--status", "extra",
                     input=manifest)  # fmt: skip
    assert result.returncode == 1, result.stderr
    found = {json.loads(line)["key"] for line in result.stdout.splitlines()[1:-1]}
    assert found == {"backup/sub/z.tar"}


def hand_written(source: str, errors: dict[str, str | None]) -> bytes:
    """A complete manifest of SOURCE in which the listing failed at each key of `errors`
    (a key, a "directory" ending in "/"): the objects there are left out and an error
    record (with the given key, or none) stands where they would be."""
    lines: list[dict[str, Any]] = [
        {"type": "header", "stage": "s3-manifest", "source": f"s3://{source}/data/"}
    ]
    failed = sorted(errors)
    for key in sorted({*SOURCE, *failed}):
        if key in errors:
            error = {"type": "error", "stage": "s3-manifest", "message": "cannot list"}
            lines.append(error if errors[key] is None else {**error, "key": errors[key]})
        elif not any(key.startswith(where) for where in failed):
            lines.append({"type": "object", "bucket": source, "key": key, "size": len(SOURCE[key])})
    lines.append({"type": "summary", "stage": "s3-manifest", "complete": True})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_error_records_with_a_key_are_holes(run_cli: Run, buckets: tuple[str, str]) -> None:
    source, replica = buckets
    holes = {"data/notes.txt": "data/notes.txt", "data/sub/": "data/sub/"}
    found, _ = extras(run_cli, replica, hand_written(source, holes))
    assert found == {"backup/x.tar", "backup/y.txt"}


def test_an_error_record_without_a_key_stops_extras(run_cli: Run, buckets: tuple[str, str]) -> None:
    source, replica = buckets
    found, stderr = extras(run_cli, replica, hand_written(source, {"data/notes.txt": None}))
    assert found == set()
    assert "error record without a key" in stderr and "no extras are reported" in stderr


def test_a_rerun_of_an_interrupted_pipe_writes_the_whole_stream(
    run_cli: Run,
    script_path: Callable[[str], Path],
    cli_env: dict[str, str],
    populated_bucket: tuple[str, dict[str, bytes]],
    tmp_path: Path,
) -> None:
    """`s3-manifest --checkpoint ck | head -c N`, then the same s3-manifest again: the rerun
    must not be a fragment that s3-check reads as a whole listing."""
    bucket, objects = populated_bucket
    checkpoint = tmp_path / "m.ck"
    command = [str(script_path("s3-manifest")), f"s3://{bucket}", "--page-size", "50",
               "--checkpoint", str(checkpoint), "--quiet"]  # fmt: skip
    cut = subprocess.run(
        f"{' '.join(command)} | head -c 300000 > /dev/null",
        shell=True,
        env=cli_env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert cut.returncode == 0, cut.stderr
    saved = json.loads(checkpoint.read_bytes())
    assert 0 < saved["records_out"] < len(objects) and not saved["complete"], saved
    rerun = subprocess.run(command, env=cli_env, capture_output=True, timeout=60, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert b"writing it whole again from the start" in rerun.stderr
    records = [json.loads(line) for line in rerun.stdout.splitlines()]
    assert [r["key"] for r in records if r["type"] == "object"] == sorted(objects)
    assert records[-1]["counts"] == {"objects": len(objects)} and records[-1]["resumed"] == 1
    check = run_cli("s3-check", "--status", "extra", input=rerun.stdout)
    assert check.returncode == 0, check.stderr
    assert check.stdout.count(b'"type":"check"') == 0
    # Its checkpoint now complete, the same command writes the whole stream once more.
    again = subprocess.run(command, env=cli_env, capture_output=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count(b'"type":"object"') == len(objects)


def test_a_check_whose_upstream_died_resumes_when_the_pipe_is_rerun(
    run_cli: Run, buckets: tuple[str, str], tmp_path: Path
) -> None:
    """s3-check fed a manifest cut short (its s3-manifest killed) ends incomplete but keeps
    its checkpoint open: fed the whole manifest again from a pipe, it continues and writes
    what an uninterrupted run writes."""
    source, replica = buckets
    manifest = listed(run_cli, f"s3://{source}/data/")
    lines = manifest.splitlines(keepends=True)
    out, checkpoint = tmp_path / "chk.ndjson", tmp_path / "chk.ck"
    check = ("s3-check", f"s3://{replica}/backup/", "-o", out, "--checkpoint", checkpoint)
    cut = run_cli(*check, input=b"".join(lines[:3]))
    assert cut.returncode == 1, cut.stderr
    assert not json.loads(checkpoint.read_bytes())["complete"]
    assert b"did not end with a complete summary" in cut.stderr
    assert b'"extra"' not in out.read_bytes()  # no record, no count: nothing past b.tar
    rerun = run_cli(*check, input=manifest)
    assert rerun.returncode == 1, rerun.stderr
    whole = tmp_path / "whole.ndjson"
    assert run_cli(*check[:2], "-o", whole, input=manifest).returncode == 1

    def records(path: Path) -> list[dict[str, Any]]:
        timing = ("started", "elapsed_s", "resumed")
        return [
            {k: v for k, v in json.loads(line).items() if k not in timing}
            for line in path.read_bytes().splitlines()
        ]

    assert records(out)[1:] == records(whole)[1:]
    found = {r["key"] for r in records(out) if r.get("status") == "extra"}
    assert found == set(REAL_EXTRAS)


@pytest.mark.parametrize("stage", ["s3-check", "s3-repair", "s3-delete"])
def test_an_input_cut_short_makes_the_run_incomplete_until_it_is_whole(
    run_cli: Run, tmp_path: Path, stage: str
) -> None:
    """An input that ends without its summary (its writer was killed) is not all of the
    run: the stage ends `complete: false`, exit 1, and keeps its checkpoint open, so that
    the same command on the whole input finishes the run instead of "nothing to do"."""
    source, target = tmp_path / "src", tmp_path / "dst"
    for root in (source, target):
        root.mkdir()
    for name in ("a", "b", "c"):
        (source / name).write_bytes(name.encode())
    manifest = listed(run_cli, str(source), "--md5")
    if stage == "s3-check":
        args = [str(target), "--mode", "head"]
        whole = manifest
    else:
        checked = run_cli("s3-check", str(target), "--quiet", input=manifest)
        assert checked.returncode == 1, checked.stderr  # all three missing
        whole = checked.stdout
        args = [str(target), "--from", str(source)] if stage == "s3-repair" else [str(target)]
        args += ["--status", "missing"]
    lines = whole.splitlines(keepends=True)
    cut, summary = lines[:-1], lines[-1]
    assert json.loads(summary)["type"] == "summary"
    given, output, checkpoint = tmp_path / "in.ndjson", tmp_path / "out.ndjson", tmp_path / "ck"
    given.write_bytes(b"".join(cut[:-1]))  # the last record and the summary never came
    common = [*args, "-i", given, "-o", output, "--checkpoint", checkpoint]

    first = run_cli(stage, *common)
    assert first.returncode == 1, first.stderr
    assert b"the input ended with no summary" in first.stderr
    records = [json.loads(line) for line in output.read_bytes().splitlines()]
    assert records[-1]["type"] == "summary" and records[-1]["complete"] is False
    assert len(records) == 2 + 2  # header, two of the three records, summary

    given.write_bytes(whole)  # the writer's rerun: the same records, then the rest
    second = run_cli(stage, *common)
    assert b"nothing to do" not in second.stderr
    records = [json.loads(line) for line in output.read_bytes().splitlines()]
    assert records[-1]["complete"] is True
    assert [r["key"] for r in records[1:-1]] == ["a", "b", "c"]
