"""A corpus of bad input lines for every stage that reads records.

Strict (the default): one `line N:` error, exit 2, every record before the bad line
acted on and committed, nothing after it touched; fixing the line and rerunning the
same command completes the job. With --skip-bad-lines: an `error` record naming the
line, and everything else acted on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .helpers import (
    Run,
    Seed,
    assert_private,
    check_records,
    committed_records,
    object_records,
    one_error_line,
    parse,
)

OBJECTS = {f"d/{n}": f"body {n}".encode() for n in range(4)}
RERUN = ("not JSON", "a wrong field type", "a truncated last line")  # mended, then rerun
BIG_LINE = b'{"type": "object", "bucket": "b", "key": "' + b"a" * (10 << 20) + b"\n"


def _field(record: dict[str, Any], name: str, value: Any) -> bytes:
    changed = dict(record)
    if value is _field:
        del changed[name]
    else:
        changed[name] = value
    return json.dumps(changed).encode() + b"\n"


# name -> (the bad line, made from a good data record), inserted after two good records
MIDDLE: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "not JSON": lambda r: b"this is not json\n",
    "a JSON array": lambda r: b'[{"type": "object"}]\n',
    "no type": lambda r: _field(r, "type", _field),
    "an unknown type": lambda r: _field(r, "type", "frobnicate"),
    "a wrong field type": lambda r: _field(r, "key", 42),
    "a missing required field": lambda r: _field(r, "bucket", _field),
    "binary garbage": lambda r: bytes(range(256)).replace(b"\n", b"") + b"\n",
    "a 10 MB line": lambda r: BIG_LINE,
}


@dataclass
class Case:
    name: str
    data: bytes
    bad_line: int | None  # None: the input is fine (CRLF, empty)
    acted: list[str]  # keys that must have been acted on after the first run
    fixed: bytes = b""  # the input with the bad line mended
    complete: bool = True  # without a bad line: whether the run may end complete


def corpus(lines: list[bytes]) -> list[Case]:
    """Every kind of bad input, from a good input of a header, four data records and the
    summary (a stream whose summary never came is incomplete, so its run is too)."""
    header, data, end = lines[0], lines[1:5], lines[5]
    keys = [json.loads(line)["key"] for line in data]
    record = json.loads(data[0])
    good = b"".join([header, *data, end])
    cases = [
        Case(name, b"".join([header, *data[:2], make(record), *data[2:], end]), 4, keys[:2], good)
        for name, make in MIDDLE.items()
    ]
    truncated = b"".join([header, *data[:3], data[3][: len(data[3]) // 2]])
    cases.append(Case("a truncated last line", truncated, 5, keys[:3], good))
    cases.append(Case("a UTF-8 byte order mark", b"\xef\xbb\xbf" + b"".join(lines), 1, []))
    crlf = b"".join(line.replace(b"\n", b"\r\n") for line in lines)
    cases.append(Case("CRLF line ends", crlf, None, keys))
    cases.append(Case("an empty file", b"", None, [], complete=False))
    return cases


@dataclass
class Setup:
    """One stage's command and how to tell which keys it acted on."""

    stage: str
    lines: list[bytes]
    args: Callable[[Path], list[str]]
    acted_on: Callable[[], list[str]]


def setup_for(stage: str, make_bucket: Callable[..., str], seed: Seed, s3: Any) -> Setup:
    def keys(bucket: str) -> list[str]:
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(item["Key"] for item in listed)

    bucket = make_bucket()
    if stage == "s3-delete":
        seed(bucket, OBJECTS)
        return Setup(
            stage,
            object_records(bucket, OBJECTS).splitlines(keepends=True),
            lambda input: [f"s3://{bucket}/d/", "-i", str(input)],
            lambda: [key for key in OBJECTS if key not in keys(bucket)],
        )
    if stage == "s3-repair":
        source = make_bucket()
        seed(source, OBJECTS)
        return Setup(
            stage,
            check_records(bucket, OBJECTS).splitlines(keepends=True),
            lambda input: [f"s3://{bucket}/", "--from", f"s3://{source}/", "-i", str(input)],
            lambda: keys(bucket),
        )
    seed(bucket, OBJECTS)
    return Setup(
        stage,
        object_records(bucket, OBJECTS).splitlines(keepends=True),
        lambda input: [f"s3://{bucket}/", "-i", str(input), "--mode", "head"],
        lambda: [],  # s3-check acts on nothing: its output says what it checked
    )


def results(records: list[dict[str, Any]]) -> list[str]:
    return [r["key"] for r in records if r["type"] in ("check", "repair", "delete")]


@pytest.mark.parametrize("stage", ["s3-check", "s3-repair", "s3-delete"])
def test_bad_lines_stop_cleanly_or_become_error_records(
    stage: str,
    run_cli: Run,
    make_bucket: Callable[..., str],
    seed_objects: Seed,
    s3_client: Any,
    tmp_path: Path,
    figures: Counter[str],
) -> None:
    count = len(corpus(setup_for(stage, make_bucket, seed_objects, s3_client).lines))

    def strict(number: int) -> str:
        # Its own buckets per case (the cases run side by side).
        setup = setup_for(stage, make_bucket, seed_objects, s3_client)
        case = corpus(setup.lines)[number]
        directory = tmp_path / f"case-{number}"
        directory.mkdir()
        source = directory / "in.ndjson"
        source.write_bytes(case.data)
        out, ck = directory / "out.ndjson", directory / "run.ck"
        command = [*setup.args(source), "-o", str(out), "--checkpoint", str(ck)]
        result = run_cli(stage, *command, timeout=120)
        context = f"{stage}, {case.name}: {result.stderr!r}"
        records = parse(out.read_bytes()) if out.exists() else []
        if case.bad_line is None:
            # Nothing for any stage to report; an empty input may have been cut short.
            assert result.returncode == (0 if case.complete else 1), context
            assert results(records) == case.acted, context
            assert records[-1]["complete"] == case.complete, context
        else:
            assert result.returncode == 2, context
            one_error_line(result.stderr, f"line {case.bad_line}:")
            assert results(records) == case.acted, context  # all before it, none after
            if records:
                assert not records[-1]["complete"], context
                assert committed_records(ck) == len(case.acted), context
        if stage != "s3-check":
            assert sorted(setup.acted_on()) == sorted(case.acted), context
        if case.name in RERUN:
            # Mend the input: the same command resumes after the last commit and finishes.
            source.write_bytes(case.fixed)
            again = run_cli(stage, *command, timeout=120)
            assert again.returncode == 0, f"{context} / rerun: {again.stderr!r}"
            records = parse(out.read_bytes())
            assert results(records) == sorted(OBJECTS) and records[-1]["resumed"] == 1, context
            if stage != "s3-check":
                assert sorted(setup.acted_on()) == sorted(OBJECTS), context
        assert_private(directory)
        return case.name

    with ThreadPoolExecutor(4) as pool:
        tried = list(pool.map(strict, range(count)))
    figures[f"bad inputs tried: {stage}"] += len(tried)

    # --skip-bad-lines: all the middle kinds in one file, each becoming an error record.
    setup = setup_for(stage, make_bucket, seed_objects, s3_client)
    header, data = setup.lines[0], setup.lines[1:5]
    bad = [make(json.loads(data[0])) for make in MIDDLE.values()]
    mixed, bad_numbers = [header], []
    for n, line in enumerate(bad):
        mixed.append(data[n % 4])
        mixed.append(line)
        bad_numbers.append(len(mixed))
    source = tmp_path / "mixed.ndjson"
    source.write_bytes(b"".join(mixed))
    result = run_cli(stage, *setup.args(source), "--skip-bad-lines")
    assert result.returncode == 1, result.stderr
    records = parse(result.stdout)
    errors = [r for r in records if r["type"] == "error"]
    assert [e["line"] for e in errors] == bad_numbers, errors
    assert all(e["stage"] == stage and len(e["input"]) <= 200 for e in errors), errors
    expected = [json.loads(line)["key"] for n, line in enumerate(mixed) if n and n % 2]
    assert results(records) == expected
    if stage != "s3-check":
        assert sorted(setup.acted_on()) == sorted(OBJECTS)
    figures[f"bad lines skipped as error records: {stage}"] += len(errors)
