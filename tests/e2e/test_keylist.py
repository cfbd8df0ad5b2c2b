"""s3-manifest --keys end to end: a plain key list through s3-check, s3-delete and s3-repair."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]

PRESENT = {"p/b b": b"bb", "p/a+1": b"a", "p/é": b"eee", "p/z%20": b"zz"}
KEY_LIST = "p/z%20\r\np/a+1\n\np/gone\np/é\np/b b\np/a+1\n".encode()  # unsorted, CRLF, twice


def pipe(
    script_path: Callable[[str], Path], env: Mapping[str, str], *commands: list[str]
) -> list[subprocess.CompletedProcess[bytes]]:
    """Runs commands as a shell pipeline would; the first reads KEY_LIST on stdin."""
    processes: list[subprocess.Popen[bytes]] = []
    for number, command in enumerate(commands):
        stdin = subprocess.PIPE if number == 0 else processes[-1].stdout
        processes.append(
            subprocess.Popen(
                [str(script_path(command[0])), *command[1:]],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env),
            )
        )
        if number:
            assert processes[-2].stdout is not None
            processes[-2].stdout.close()
    first = processes[0]
    assert first.stdin is not None
    first.stdin.write(KEY_LIST)
    first.stdin.close()
    results = []
    for process, command in zip(processes, commands, strict=True):
        out = process.stdout.read() if process is processes[-1] and process.stdout else b""
        err = process.stderr.read() if process.stderr else b""
        results.append(subprocess.CompletedProcess(command, process.wait(timeout=60), out, err))
    return results


def test_key_list_is_sorted_once_each_with_null_metadata(run_cli: Run, parse_ndjson: Parse) -> None:
    result = run_cli("s3-manifest", "s3://any-bucket/p/", "--keys", "-", input=KEY_LIST)
    assert result.returncode == 0, result.stderr
    header, *objects, summary = parse_ndjson(result.stdout)
    assert header["source"] == "s3://any-bucket/p/"
    assert [r["key"] for r in objects] == sorted({*PRESENT, "p/gone"}, key=str.encode)
    assert {(r["size"], r["etag"], r["last_modified"]) for r in objects} == {(None, None, None)}
    assert summary["complete"] is True and summary["counts"] == {"objects": 5}


def test_bad_lines_are_exit_2_with_their_number(run_cli: Run) -> None:
    bad_utf8 = run_cli("s3-manifest", "s3://b/", "--keys", "-", input=b"a\n\xffb\n")
    assert bad_utf8.returncode == 2
    assert bad_utf8.stderr.startswith(b"s3-manifest: error: line 2: not UTF-8")
    outside = run_cli("s3-manifest", "s3://b/p/", "--keys", "-", input=b"p/a\nq/b\n")
    assert outside.returncode == 2
    assert b"line 2: key 'q/b' is not under the prefix 'p/'" in outside.stderr


def test_keys_piped_to_check_then_delete(
    make_bucket: Callable[..., str],
    seed_objects: Callable[[str, Mapping[str, bytes]], None],
    s3_client: Any,
    script_path: Callable[[str], Path],
    cli_env: Mapping[str, str],
    parse_ndjson: Parse,
) -> None:
    bucket = make_bucket()
    seed_objects(bucket, {**PRESENT, "p/kept": b"k", "other": b"o"})
    keys = ["s3-manifest", f"s3://{bucket}/p/", "--keys", "-", "-q"]
    for mode in ("list", "head", "read"):
        made, checked = pipe(script_path, cli_env, keys, ["s3-check", "--mode", mode, "-q"])
        assert made.returncode == 0, made.stderr
        assert checked.returncode == 1, checked.stderr  # p/gone is missing
        statuses = {r["key"]: r["status"] for r in parse_ndjson(checked.stdout) if "status" in r}
        # A key list speaks for its keys only: p/kept is never extra (its header says so).
        assert statuses == {key: "ok" for key in PRESENT} | {"p/gone": "missing"}, mode

    made, deleted = pipe(script_path, cli_env, keys, ["s3-delete", f"s3://{bucket}/p/", "-q"])
    assert made.returncode == 0 and deleted.returncode == 0, deleted.stderr
    results = {r["key"]: r["status"] for r in parse_ndjson(deleted.stdout) if "status" in r}
    assert results == {key: "deleted" for key in [*PRESENT, "p/gone"]}
    left = [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["other", "p/kept"]


def test_repair_of_existence_only_records_copies_and_verifies_against_the_source(
    make_bucket: Callable[..., str],
    seed_objects: Callable[[str, Mapping[str, bytes]], None],
    s3_client: Any,
    run_cli: Run,
    parse_ndjson: Parse,
) -> None:
    source, target = make_bucket(), make_bucket()
    seed_objects(source, PRESENT)
    seed_objects(target, {"p/é": b"eee"})
    keys = "\n".join(PRESENT).encode()
    made = run_cli("s3-manifest", f"s3://{source}/p/", "--keys", "-", "-q", input=keys)
    checked = run_cli("s3-check", f"s3://{target}/p/", "-q", input=made.stdout)
    assert checked.returncode == 1, checked.stderr
    repair = ["s3-repair", f"s3://{target}/p/", "--from", f"s3://{source}/p/", "-q"]
    repaired = run_cli(*repair, input=checked.stdout)
    assert repaired.returncode == 0, repaired.stderr
    results = {r["key"]: r for r in parse_ndjson(repaired.stdout) if r["type"] == "repair"}
    assert {k: r["status"] for k, r in results.items()} == {
        "p/a+1": "repaired",
        "p/b b": "repaired",
        "p/z%20": "repaired",
        "p/é": "skipped",
    }
    assert results["p/b b"]["bytes"] == 2
    for key, body in PRESENT.items():
        assert s3_client.get_object(Bucket=target, Key=key)["Body"].read() == body
    # Replayed, the repair finds the target equal to the source's HEAD and copies nothing.
    again = run_cli(*repair, input=checked.stdout)
    replayed = [r for r in parse_ndjson(again.stdout) if r["type"] == "repair"]
    assert {r["key"]: (r["status"], r["action"]) for r in replayed if r["action"]} == {
        key: ("skipped", "none") for key in ("p/a+1", "p/b b", "p/z%20")
    }
    assert run_cli("s3-check", f"s3://{target}/p/", input=made.stdout).returncode == 0
