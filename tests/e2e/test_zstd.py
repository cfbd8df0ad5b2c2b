"""`.zst` record files: written one zstd frame per commit, resumed byte for byte after
kill -9, and read across frames by the next stage."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zstandard

Run = Callable[..., subprocess.CompletedProcess[bytes]]


def unzstd(data: bytes) -> bytes:
    reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
    return reader.read()


def count_frames(data: bytes) -> int:
    frames = 0
    while data:
        unpacker = zstandard.ZstdDecompressor().decompressobj()
        unpacker.decompress(data)
        data = unpacker.unused_data
        frames += 1
    return frames


def test_zst_output_killed_and_resumed_equals_an_uninterrupted_run(
    run_cli: Run,
    start_cli: Callable[..., subprocess.Popen[bytes]],
    populated_bucket: tuple[str, dict[str, bytes]],
    slow_endpoint: Callable[[float], Any],
    tmp_path: Path,
) -> None:
    name, objects = populated_bucket
    args = [f"s3://{name}/obj/", "--page-size", "100"]
    reference = tmp_path / "ref.ndjson.zst"
    assert run_cli("s3-manifest", *args, "-o", reference).returncode == 0
    out, ck = tmp_path / "out.ndjson.zst", tmp_path / "ck"
    command = [*args, "-o", out, "--checkpoint", ck]
    slow = {"AWS_ENDPOINT_URL": slow_endpoint(0.1).url}  # 15 pages: about 1.5 s
    victim = start_cli("s3-manifest", *command, env=slow, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    # Kill it mid-frame: after a commit, with more records written since.
    while not (ck.exists() and out.stat().st_size > _committed(ck) > 0):
        assert victim.poll() is None and time.monotonic() < deadline, "no commit to kill after"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    resumed = run_cli("s3-manifest", *command, env=slow)
    assert resumed.returncode == 0, resumed.stderr

    text, expected = unzstd(out.read_bytes()), unzstd(reference.read_bytes())
    # Byte for byte but for the header's start time and the summary's timing fields.
    assert text.splitlines()[1:-1] == expected.splitlines()[1:-1]
    assert text.count(b'"type":"object"') == len(objects)
    assert b'"resumed":1' in text.splitlines()[-1]
    assert count_frames(out.read_bytes()) > 1  # one frame per commit

    # The next stage reads the file across its frames.
    checked = run_cli("s3-check", "-i", out, "-o", tmp_path / "chk.ndjson.zst")
    assert checked.returncode == 0, checked.stderr
    summary = unzstd((tmp_path / "chk.ndjson.zst").read_bytes()).splitlines()[-1]
    assert f'"counts":{{"ok":{len(objects)}}}'.encode() in summary


def _committed(checkpoint: Path) -> int:
    """The output offset a checkpoint has committed (0 while it cannot be read)."""
    try:
        return int(json.loads(checkpoint.read_bytes())["output_offset"])
    except (OSError, ValueError, KeyError):
        return 0
