"""Fixtures shared by every test: a local S3 server, buckets, and the stages as subprocesses.

They build on each other: `s3_server` → `s3_client` → `bucket` / `make_bucket` →
`put_objects` / `seed_objects` → `populated_bucket`; and `cli_env` → `run_cli` /
`start_cli`, which run a console script exactly as a user would. Nothing here can reach
AWS: the credentials are fake, no AWS config file is read, and every endpoint is a
server on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from chaos.helpers import FIGURES
from helpers import (
    FAKE_ENV,
    FAKE_SECRET,
    PROXY_VARIABLES,
    PUT_THREADS,
    console_script,
    modified,
    signal_handlers_restored,
)
from s3proxy import ProxiedEndpoint


@pytest.fixture(scope="session", autouse=True)
def fake_aws_environment() -> Iterator[dict[str, str]]:
    """Fake credentials and no AWS config for the whole session, in-process and below.

    Every inherited AWS_* variable (profile, session token, endpoint, ...) is removed
    first, so neither this process nor a stage it starts can pick up a real account.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AWS_") or name in PROXY_VARIABLES:
                patch.delenv(name)
        for name, value in FAKE_ENV.items():
            patch.setenv(name, value)
        yield dict(FAKE_ENV)


# --- the chaos figures, summed over xdist workers ----------------------------------

FIGURES_KEY = "s3deep_chaos_figures"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand this worker's chaos figures to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[FIGURES_KEY] = dict(FIGURES)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown when xdist is not installed
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: add up the figures of each worker as it finishes."""
    FIGURES.update(getattr(node, "workeroutput", {}).get(FIGURES_KEY, {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES or hasattr(terminalreporter.config, "workeroutput"):
        return
    report = dict(sorted(FIGURES.items()))
    cache = getattr(terminalreporter.config, "cache", None)  # absent with -p no:cacheprovider
    if cache is not None:
        cache.set("s3deep/chaos", report)
    terminalreporter.section("chaos figures")
    for name, count in report.items():
        terminalreporter.write_line(f"{count:8d}  {name}")


@pytest.fixture(autouse=True)
def restore_signal_handlers() -> Iterator[None]:
    """Every test leaves SIGINT and SIGTERM as it found them (run_stage replaces them),
    so that Ctrl-C still stops the test run."""
    with signal_handlers_restored():
        yield


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the whole session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    # verbose=False does not stop werkzeug from logging every request.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Port 0: the kernel picks a free port when the server binds, so there is no race.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cli_env(s3_server: str, fake_aws_environment: dict[str, str]) -> dict[str, str]:
    """The environment for a stage run as a subprocess: fake credentials, the moto server."""
    env = dict(os.environ)
    env.update(fake_aws_environment)
    env["AWS_ENDPOINT_URL"] = s3_server
    return env


@pytest.fixture(scope="session")
def s3_client(s3_server: str) -> Any:
    import boto3
    import botocore.config

    config = botocore.config.Config(
        max_pool_connections=PUT_THREADS * 2,
        retries={"mode": "standard", "max_attempts": 3},
        # moto needs no checksums, and computing them costs time on every PUT.
        request_checksum_calculation="when_required",
    )
    return boto3.session.Session().client("s3", endpoint_url=s3_server, config=config)


@pytest.fixture(scope="session")
def server_client(s3_server: str) -> Any:
    """s3deep's own S3 client (lib.stores.s3.make_client) for the session's moto server:
    what unit tests use instead of moto's in-process mock_aws, whose start and stop reset
    every moto backend of the process, the server's buckets included."""
    from lib.stores.s3 import S3Config, make_client

    return make_client(S3Config(endpoint_url=s3_server, region="us-east-1"))


_bucket_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def make_bucket(s3_client: Any) -> Callable[..., str]:
    """Creates a uniquely named empty bucket (versioned if asked) and returns its name."""

    def make(*, versioned: bool = False) -> str:
        name = f"s3deep-{next(_bucket_numbers):04d}-{uuid.uuid4().hex[:8]}"
        s3_client.create_bucket(Bucket=name)
        if versioned:
            s3_client.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": "Enabled"}
            )
        return name

    return make


@pytest.fixture
def bucket(make_bucket: Callable[..., str]) -> str:
    """A new, empty bucket for one test."""
    return make_bucket()


@pytest.fixture(scope="session")
def put_objects(s3_client: Any) -> Callable[[str, Mapping[str, bytes]], dict[str, str]]:
    """Writes {key: body} into a bucket with PUTs in parallel; returns {key: etag}."""

    def put(bucket: str, objects: Mapping[str, bytes]) -> dict[str, str]:
        def put_one(item: tuple[str, bytes]) -> tuple[str, str]:
            key, body = item
            response = s3_client.put_object(Bucket=bucket, Key=key, Body=body)
            return key, str(response["ETag"]).strip('"')

        with ThreadPoolExecutor(PUT_THREADS) as pool:
            return dict(pool.map(put_one, objects.items()))

    return put


@pytest.fixture(scope="session")
def seed_objects() -> Callable[[str, Mapping[str, bytes]], None]:
    """Writes {key: body} straight into the in-process moto server's storage, for bulk data.

    About 100 times faster than put_objects (1500 objects: 0.2 s instead of ~20 s), for
    tests where how the objects were uploaded is not under test; they list, read and
    copy over HTTP like any other object. Works only with the moto server of s3_server.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]

    def seed(bucket: str, objects: Mapping[str, bytes]) -> None:
        for key, body in objects.items():
            backend.put_object(bucket, key, body)

    return seed


@pytest.fixture(scope="session")
def populated_bucket(
    make_bucket: Callable[..., str], seed_objects: Callable[[str, Mapping[str, bytes]], None]
) -> tuple[str, dict[str, bytes]]:
    """One bucket of 1500 small objects of varied sizes, shared by the session.

    Returns (bucket name, {key: body}); tests must not modify it.
    """
    name = make_bucket()
    objects = {f"obj/{n:06d}": b"x" * (n % 17) for n in range(1500)}
    seed_objects(name, objects)
    return name, objects


# --- running the stages --------------------------------------------------------------


@pytest.fixture(scope="session")
def script_path() -> Callable[[str], Path]:
    """The path of an installed console script, for shell pipelines."""
    return console_script


@pytest.fixture(scope="session")
def run_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Runs a console script to its end: `run_cli("s3-manifest", "s3://b", input=b"...")`.

    Returns the CompletedProcess with bytes stdout and stderr. `env` adds or overrides
    variables. Whatever the test, the fake secret must appear in neither stream.
    """

    def run(
        name: str,
        *args: str | os.PathLike[str],
        input: bytes | None = None,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [str(console_script(name)), *map(str, args)],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env={**cli_env, **(env or {})},
            cwd=cwd,
            check=False,
        )
        secret = FAKE_SECRET.encode()
        assert secret not in result.stdout, f"{name} printed the secret key on stdout"
        assert secret not in result.stderr, f"{name} printed the secret key on stderr"
        return result

    return run


@pytest.fixture
def start_cli(cli_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts a console script without waiting (to kill it, or to feed it slowly).

    Processes still running at the end of the test are killed by their id.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(
        name: str,
        *args: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        **popen: Any,
    ) -> subprocess.Popen[bytes]:
        popen.setdefault("stdin", subprocess.DEVNULL)
        process = subprocess.Popen(
            [str(console_script(name)), *map(str, args)], env={**cli_env, **(env or {})}, **popen
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.fixture
def kill_repeatedly(
    start_cli: Callable[..., subprocess.Popen[bytes]],
    run_cli: Callable[..., subprocess.CompletedProcess[bytes]],
) -> Callable[..., tuple[int, subprocess.CompletedProcess[bytes]]]:
    """Runs a stage and SIGKILLs it after a random delay, again and again, then lets a
    last run finish. Returns (how many kills landed, the last run).

    With `checkpoint`, the delay starts when the run has committed it once, so that
    every kill lands in the middle of the work however slow the start-up is.
    """

    def run(
        name: str,
        *args: str | os.PathLike[str],
        env: Mapping[str, str],
        seed: int,
        delays: tuple[float, float] = (0.7, 1.5),
        attempts: int = 8,
        checkpoint: Path | None = None,
    ) -> tuple[int, subprocess.CompletedProcess[bytes]]:
        rng = random.Random(seed)
        kills = 0
        for _ in range(attempts):
            before = modified(checkpoint)
            process = start_cli(name, *args, env=env, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while checkpoint and modified(checkpoint) == before and process.poll() is None:
                assert time.monotonic() < deadline, f"{name} never committed {checkpoint}"
                time.sleep(0.02)
            time.sleep(rng.uniform(*delays))
            if process.poll() is not None:
                break
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        return kills, run_cli(name, *args, env=env)

    return run


@pytest.fixture
def refused_endpoint() -> Iterator[str]:
    """An http://127.0.0.1:PORT URL where every connection is refused.

    The port stays bound, without listening, until the test ends: released at once, it
    could be taken by a server of another test running in parallel (pytest -n), which
    would then answer instead of refusing.
    """
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture(scope="session")
def parse_ndjson() -> Callable[[bytes], list[dict[str, Any]]]:
    """Parses a stage's output strictly: UTF-8, one JSON object per `\\n`-ended line."""

    def parse(data: bytes) -> list[dict[str, Any]]:
        if not data:
            return []
        assert data.endswith(b"\n"), f"output does not end with a newline: {data[-200:]!r}"
        records = []
        for number, line in enumerate(data.split(b"\n")[:-1], start=1):
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                pytest.fail(f"line {number} is not a UTF-8 JSON record ({exc}): {line[:200]!r}")
            assert isinstance(record, dict), f"line {number} is not a JSON object: {line[:200]!r}"
            assert isinstance(record.get("type"), str), f"line {number} has no type: {record}"
            records.append(record)
        return records

    return parse


# --- a slow (and faulty) S3 endpoint -------------------------------------------------


@pytest.fixture
def slow_endpoint(s3_server: str) -> Iterator[Callable[[float], ProxiedEndpoint]]:
    """Factory of proxied views of the moto server: `slow_endpoint(0.1).url`.

    Each delays every request, counts them, and injects the faults set on `.faults`;
    useful to make a stage slow enough to interrupt and to see what it sent.
    """
    proxies: list[ProxiedEndpoint] = []

    def start(delay_s: float) -> ProxiedEndpoint:
        proxies.append(ProxiedEndpoint(s3_server, delay_s))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.stop()
