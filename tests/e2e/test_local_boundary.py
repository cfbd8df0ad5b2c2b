"""Local directories as a security boundary, end to end: no key reads, writes or deletes
outside its directory, whatever `..`, absolute keys or planted symlinks say."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]
SECRET = b"outside secret"


def lines(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def missing(bucket: str, key: str, body: bytes) -> dict[str, Any]:
    """A check record saying `key` is missing from `bucket` (as s3-check writes it)."""
    expected = {"type": "object", "bucket": "source", "key": key, "size": len(body),
                "etag": hashlib.md5(body).hexdigest()}  # fmt: skip
    return {"type": "check", "bucket": bucket, "key": key, "status": "missing",
            "expected": expected, "actual": None}  # fmt: skip


def by_key(records: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in records if r["type"] == kind}


def planted(tmp_path: Path) -> tuple[Path, Path]:
    """files/ with one real file, a file symlink and a directory symlink to outside/."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside-secret.txt").write_bytes(SECRET)
    files = tmp_path / "srv" / "files"
    files.mkdir(parents=True)
    (files / "in.txt").write_bytes(b"inside")
    (files / "link.txt").symlink_to(outside / "secret.txt")
    (files / "linkdir").symlink_to(outside)
    return files, outside


ESCAPES = ("../../outside-secret.txt", "/abs/secret.txt", "link.txt", "linkdir/secret.txt")


def test_a_local_source_never_gives_a_file_outside_it(
    run_cli: Run, parse_ndjson: Parse, bucket: str, s3_client: Any, tmp_path: Path
) -> None:
    files, _ = planted(tmp_path)
    checks = [missing(bucket, key, SECRET) for key in ESCAPES]
    checks.append(missing(bucket, "in.txt", b"inside"))
    result = run_cli("s3-repair", f"s3://{bucket}/", "--from", files, input=lines(checks))
    assert result.returncode == 1, result.stderr
    records = by_key(parse_ndjson(result.stdout), "repair")
    for key in ESCAPES:
        assert records[key]["status"] == "failed", records[key]
        assert records[key]["error"].startswith("refused: "), records[key]
    assert records["in.txt"]["status"] == "repaired"
    listed = s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [item["Key"] for item in listed] == ["in.txt"]


def test_a_local_target_refuses_links_and_escapes_and_plants_at_temp_names(
    run_cli: Run, parse_ndjson: Parse, make_bucket: Callable[..., str], s3_client: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    """s3-repair into a local directory writes no byte outside it: not through `..`, an
    absolute key, a symlinked file or directory, nor a symlink planted at the name the
    temp file had (`.f.txt.s3deep-partial`); s3-check refuses the same links."""
    files, outside = planted(tmp_path)
    (files / ".f.txt.s3deep-partial").symlink_to("../../outside-secret.txt")
    source = make_bucket()
    for key in ("link.txt", "linkdir/secret.txt", "f.txt"):
        s3_client.put_object(Bucket=source, Key=key, Body=b"from s3")
    checks = [missing(str(files), key, b"from s3") for key in (*ESCAPES, "f.txt")]
    result = run_cli("s3-repair", files, "--from", f"s3://{source}/", input=lines(checks))
    assert result.returncode == 1, result.stderr
    records = by_key(parse_ndjson(result.stdout), "repair")
    assert {key: records[key]["status"] for key in ESCAPES} == dict.fromkeys(ESCAPES, "failed")
    assert records["f.txt"]["status"] == "repaired"
    assert not (files / "f.txt").is_symlink() and (files / "f.txt").read_bytes() == b"from s3"
    assert (outside / "secret.txt").read_bytes() == SECRET
    assert (tmp_path / "outside-secret.txt").read_bytes() == SECRET
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    expected = [{**r["expected"], "bucket": str(files)} for r in checks]
    check = run_cli("s3-check", "--mode", "read", input=lines(expected))
    assert check.returncode == 1, check.stderr
    verdicts = by_key(parse_ndjson(check.stdout), "check")
    for key in ("link.txt", "linkdir/secret.txt"):
        assert verdicts[key]["status"] == "error", verdicts[key]
        assert "is a symlink" in verdicts[key]["detail"], verdicts[key]


def test_a_symlink_planted_at_the_checkpoint_temp_name_is_not_written_through(
    run_cli: Run, tmp_path: Path
) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a").write_bytes(b"a")
    victim = tmp_path / "victim"
    victim.write_bytes(SECRET)
    (tmp_path / "job.ck.tmp").symlink_to(victim)
    result = run_cli("s3-manifest", tmp_path / "files", "--checkpoint", tmp_path / "job.ck")
    assert result.returncode == 0, result.stderr
    assert victim.read_bytes() == SECRET
    assert json.loads((tmp_path / "job.ck").read_bytes())["complete"] is True


def test_local_delete_removes_only_directories_it_emptied(
    run_cli: Run, parse_ndjson: Parse, tmp_path: Path
) -> None:
    files, outside = planted(tmp_path)
    (files / "spool" / "incoming").mkdir(parents=True)
    (files / "old" / "a").mkdir(parents=True)
    (files / "old" / "a" / "1").write_bytes(b"x")
    keys = ("spool/incoming/gone.txt", "old/a/1", *ESCAPES)
    listing = [{"type": "object", "bucket": str(files), "key": key} for key in keys]
    result = run_cli("s3-delete", files, input=lines(listing))
    assert result.returncode == 1, result.stderr
    records = by_key(parse_ndjson(result.stdout), "delete")
    assert records["spool/incoming/gone.txt"]["status"] == "deleted"  # as S3 reports it
    assert records["old/a/1"]["status"] == "deleted"
    assert (files / "spool" / "incoming").is_dir()
    assert not (files / "old").exists()
    for key in ESCAPES:
        assert records[key]["status"] == "failed" and "refused" in records[key]["error"]
    assert (outside / "secret.txt").read_bytes() == SECRET
    assert (tmp_path / "outside-secret.txt").read_bytes() == SECRET
    assert (files / "link.txt").is_symlink() and (files / "linkdir").is_symlink()
