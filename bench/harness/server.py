"""A local S3 server for the benchmarks: `rclone serve s3` over a seeded temporary directory.

The server listens on 127.0.0.1 only, on a free port, with fixed credentials. It is
stopped by its PID (never by name). Objects are seeded by writing files straight
into the served directory, where a top-level directory is a bucket: seconds for
100k objects, where uploading them would take minutes. rclone caches directory listings
(`--dir-cache-time`), so seed before starting the server, then list once to warm
the cache.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.harness.latency import LatencyProxy, stop_process
from bench.harness.settings import ACCESS_KEY, REGION, SECRET_KEY

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0

# Top-level prefixes of the seeded layout; the ceiling lists them in parallel.
TOP_PREFIXES = (
    "audit", "billing", "cdn", "db", "events", "exports", "firewall", "imports",
    "jobs", "logs", "metrics", "queue", "search", "traces", "uploads", "web",
)  # fmt: skip
OBJECTS_PER_DIRECTORY = 250
HOSTS_PER_DAY = 16
# Real buckets hold names like these too; they keep the key comparison honest.
ODD_KEYS = (
    "reports/2026/Q4 summary (final).csv",
    "reports/2026/a+b&c=d.txt",
    "reports/2026/100%25 done.txt",
    "reports/2026/<draft>.xml",
    "reports/2026/naïve café.txt",
    "reports/2026/日本語/データ.json",
    'reports/2026/it\'s "quoted".txt',
    "reports/2026/semi;colon?query#hash.txt",
    "reports/2026/tilde~dash-under_score.txt",
    "reports/2026/emoji-📦.bin",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def client_env() -> dict[str, str]:
    """The environment of every client: the server's credentials and nothing that could
    send a request elsewhere (profiles, config files, proxies, instance metadata)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "RCLONE_")) and "proxy" not in k.lower()
    }
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def layout_keys(count: int) -> list[str]:
    """`count` keys in a log-archive layout, e.g. `logs/2026/11/22/host-07/part-00042.json`,
    spread evenly over TOP_PREFIXES, plus ODD_KEYS; sorted in S3 (UTF-8 byte) order."""
    odd = ODD_KEYS[: max(0, min(len(ODD_KEYS), count // 100))]
    keys = list(odd)
    for index in range(count - len(odd)):
        directory, part = divmod(index, OBJECTS_PER_DIRECTORY)
        top = TOP_PREFIXES[directory % len(TOP_PREFIXES)]
        rest = directory // len(TOP_PREFIXES)
        host = rest % HOSTS_PER_DAY
        day_index = rest // HOSTS_PER_DAY
        month, day = divmod(day_index, 28)
        year = 2026 - month // 12
        keys.append(
            f"{top}/{year}/{12 - month % 12:02d}/{day + 1:02d}/host-{host:02d}/part-{part:05d}.json"
        )
    keys.sort()  # code point order of str is UTF-8 byte order
    return keys


def _body(rng: random.Random, key: str) -> bytes:
    """A few hundred bytes of plausible log lines."""
    lines = []
    for _ in range(rng.randint(1, 4)):
        lines.append(
            f'{{"key":"{key[:40]}","level":"{rng.choice(("INFO", "WARN", "DEBUG"))}",'
            f'"latency_ms":{rng.randint(1, 900)},"msg":"request served","trace":'
            f'"{rng.getrandbits(64):016x}"}}\n'
        )
    return "".join(lines).encode()


@dataclass(frozen=True)
class Seeded:
    """What was written: total bytes, and a digest of every `key size md5` line in key
    order, which a correct listing reproduces exactly."""

    bytes: int
    digest: str


def listing_digest(entries: Iterable[tuple[str, int, str]]) -> str:
    """The digest of (key, size, etag) triples, as Seeded.digest computes it."""
    digest = hashlib.blake2b(digest_size=16)
    for key, size, etag in entries:
        digest.update(f"{key}\t{size}\t{etag}\n".encode())
    return digest.hexdigest()


def seed_bucket(root: Path, bucket: str, keys: list[str], *, seed: int = 42) -> Seeded:
    """Writes one file per key below root/bucket, in the order of `keys`."""
    rng = random.Random(seed)
    base = root / bucket
    made: set[str] = set()
    entries: list[tuple[str, int, str]] = []
    for key in keys:
        path = os.path.join(base, key)
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        data = _body(rng, key)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        entries.append((key, len(data), hashlib.md5(data).hexdigest()))
    return Seeded(sum(size for _, size, _ in entries), listing_digest(entries))


class RcloneServer:
    """`rclone serve s3` on 127.0.0.1 over `root`; a context manager that always stops it.
    With `latency_ms`, a latency proxy (bench.harness.latency) stands in front of it: `endpoint`
    is the proxy's, `direct_endpoint` and `port` the server's own."""

    def __init__(
        self, rclone: str, root: Path, log: Path, *, etag_hash: str = "MD5", latency_ms: float = 0
    ) -> None:
        self.rclone = rclone
        self.root = root
        self.log = log
        self.etag_hash = etag_hash
        self.latency_ms = latency_ms
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.proxy: LatencyProxy | None = None

    @property
    def endpoint(self) -> str:
        """What the measured clients talk to: the latency proxy if there is one."""
        return self.proxy.endpoint if self.proxy is not None else self.direct_endpoint

    @property
    def direct_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the server is not running")
        return self.process.pid

    def argv(self) -> list[str]:
        config = self.log.with_name("rclone.conf")
        config.touch()
        return [
            self.rclone, "serve", "s3", str(self.root),
            "--addr", f"127.0.0.1:{self.port}",
            "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
            "--etag-hash", self.etag_hash,
            "--dir-cache-time", "1000h",  # the data does not change under the server
            "--config", str(config),
            "--log-level", "NOTICE",
        ]  # fmt: skip

    def start(self) -> None:
        for _attempt in range(3):  # another process may take the free port first
            self.port = free_port()
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env={k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")},
                )  # fmt: skip
            if self._wait_ready():
                if self.latency_ms:
                    self.proxy = LatencyProxy(self.port, self.latency_ms)
                    try:
                        self.proxy.start()
                    except BaseException:
                        self.stop()
                        raise
                return
        raise RuntimeError(f"rclone serve s3 did not start; see {self.log}:\n{self._log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        return False

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used so far (from /proc/PID/stat)."""
        with open(f"/proc/{self.pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        """The server's peak resident memory so far (VmHWM)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        proxy, self.proxy = self.proxy, None
        if proxy is not None:
            proxy.stop()
        process, self.process = self.process, None
        stop_process(process, STOP_TIMEOUT_S)

    def __enter__(self) -> RcloneServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def top_prefixes(keys: list[str]) -> Iterator[str]:
    """The distinct first path segments of `keys`, each with its trailing slash."""
    seen: set[str] = set()
    for key in keys:
        top = key.split("/", 1)[0] + "/"
        if top not in seen:
            seen.add(top)
            yield top
