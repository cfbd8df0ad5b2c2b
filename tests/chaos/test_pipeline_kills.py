"""A whole pipeline killed anywhere: `s3-manifest --checkpoint A | s3-check … --checkpoint B
-o FILE`, either stage (or both) SIGKILLed at random moments and the pipe rerun as a whole
until it is done. FILE must end equal to an uninterrupted run's, and no run, finished or
not, may name a source object `extra` (DESIGN.md, "Completeness")."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .helpers import TIMING_FIELDS, Records, Seed, Start

KILLED_RUNS = 8  # then reruns without kills until done
RUNS_AT_MOST = KILLED_RUNS + 3


def without_timing(value: Any) -> Any:
    """A record without the fields a resumed run may change, in the upstream header too."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_FIELDS}
    return value


def complete_lines(data: bytes) -> Records:
    """The records of an output a kill may have cut in the middle of a line."""
    whole = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in whole.splitlines()]


def run_pipe(
    start_cli: Start,
    env: dict[str, str],
    manifest: list[str],
    check: list[str],
    kill: tuple[str, float] | None,
) -> tuple[int | None, int | None]:
    """One run of `manifest | check`; `kill` = (which: manifest/check/both, after seconds)."""
    lister = start_cli("s3-manifest", *manifest, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)  # fmt: skip
    checker = start_cli("s3-check", *check, env=env, stdin=lister.stdout,
                        stderr=subprocess.DEVNULL)  # fmt: skip
    assert lister.stdout is not None
    lister.stdout.close()  # s3-check holds the read end: a kill of it is an EPIPE upstream
    if kill is not None:
        which, after = kill
        time.sleep(after)
        victims = [lister, checker] if which == "both" else [{"manifest": lister,
                                                              "check": checker}[which]]  # fmt: skip
        for process in victims:
            if process.poll() is None:
                process.kill()
    return lister.wait(timeout=60), checker.wait(timeout=60)


def test_a_pipeline_killed_anywhere_ends_with_the_uninterrupted_output(
    make_bucket: Callable[..., str],
    seed_objects: Seed,
    start_cli: Start,
    cli_env: dict[str, str],
    slow_endpoint: Any,
    figures: Counter[str],
    tmp_path: Path,
) -> None:
    source, replica = make_bucket(), make_bucket()
    objects = {f"d{n % 7}/k{n:04d}": b"x" * (n % 5) for n in range(350)}
    seed_objects(source, objects)
    copies = {key: body for key, body in objects.items() if int(key[-4:]) % 53 != 7}
    missing = set(objects) - set(copies)
    extras = {"a-first", "d3/k0100x", "d6/zz", "zzz-last"}
    seed_objects(replica, {**copies, **dict.fromkeys(extras, b"stray")})
    env = {"AWS_ENDPOINT_URL": slow_endpoint(0.02).url}

    def commands(directory: Path) -> tuple[list[str], list[str], Path]:
        out = directory / "chk.ndjson"
        manifest = [f"s3://{source}", "--page-size", "20", "--checkpoint",
                    str(directory / "m.ck"), "--quiet"]  # fmt: skip
        check = [f"s3://{replica}", "--page-size", "20", "--checkpoint", str(directory / "c.ck"),
                 "-o", str(out), "--quiet"]  # fmt: skip
        return manifest, check, out

    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    manifest, check, reference = commands(reference_dir)
    began = time.monotonic()
    assert run_pipe(start_cli, env, manifest, check, None) == (0, 1)
    lasted = time.monotonic() - began
    expected = [without_timing(r) for r in complete_lines(reference.read_bytes())]
    statuses = Counter(r["status"] for r in expected if r["type"] == "check")
    assert statuses == {"ok": len(copies), "missing": len(missing), "extra": len(extras)}

    work = tmp_path / "work"
    work.mkdir()
    manifest, check, out = commands(work)
    rng = random.Random(13)
    kills: Counter[str] = Counter()
    for run in range(RUNS_AT_MOST):
        # Kills anywhere from start-up to the end of an uninterrupted run's time.
        which = rng.choice(("manifest", "check", "both"))
        kill = (which, rng.uniform(0.2, lasted)) if run < KILLED_RUNS else None
        codes = run_pipe(start_cli, env, manifest, check, kill)
        kills.update(
            name for name, code in zip(("manifest", "check"), codes, strict=True) if code == -9
        )
        if out.exists():
            snapshot = work / f"run-{run}.ndjson"
            shutil.copyfile(out, snapshot)
            named_extra = {
                r["key"]
                for r in complete_lines(snapshot.read_bytes())
                if r.get("status") == "extra"
            }
            assert named_extra <= extras, (run, codes, named_extra - extras)
        if run >= KILLED_RUNS and json.loads((work / "c.ck").read_bytes()).get("complete"):
            break
    else:
        raise AssertionError(f"not done after {RUNS_AT_MOST} runs ({kills})")
    assert kills["manifest"] >= 2 and kills["check"] >= 2, kills
    assert [without_timing(r) for r in complete_lines(out.read_bytes())] == expected
    figures["pipeline kills (s3-manifest | s3-check), s3-manifest"] += kills["manifest"]
    figures["pipeline kills (s3-manifest | s3-check), s3-check"] += kills["check"]
    figures["pipeline reruns to completion"] += run + 1
