"""A latency proxy on 127.0.0.1: real S3 round-trip times in front of a loopback server.

    python -m bench.harness.latency --upstream-port 8080 [--delay-ms 50]   # prints its port

Every byte the server sends reaches the client `delay` later than the server sent
it: a response's first byte arrives `delay` (plus the server's own time) after the
request was complete, as over a network with that round-trip time. Bodies stream
through at full speed once under way (each chunk is delayed, not the transfer
slowed), connections stay open for keep-alive, and a new connection waits `delay`
before its first byte goes upstream (the TCP handshake of a real round trip).
Requests pass through at once. Bytes are not parsed or changed, so SigV4
signatures (which cover the Host header, naming the proxy on both sides) hold.

asyncio, one task pair per connection: thousands of concurrent connections are
fine. The proxy runs as its own process (LatencyProxy), so its CPU is neither the
client's nor the benchmark's, and is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from types import TracebackType
from typing import Any

DEFAULT_DELAY_MS = 50
CHUNK = 256 * 1024
IN_FLIGHT = 64  # chunks held per connection (up to 16 MiB: the bandwidth-delay product)
READY_TIMEOUT_S = 10.0


async def _deliver(queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter,
                   delay: float) -> None:  # fmt: skip
    """Writes each chunk `delay` after it arrived; an empty chunk ends the stream."""
    loop = asyncio.get_running_loop()
    while True:
        arrived, data = await queue.get()
        wait = arrived + delay - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()


async def _delayed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   delay: float) -> None:  # fmt: skip
    """Copies reader to writer, every chunk `delay` late, without holding up reading."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(IN_FLIGHT)
    delivery = asyncio.ensure_future(_deliver(queue, writer, delay))
    delivery.add_done_callback(_quiet)
    try:
        while True:
            data = await reader.read(CHUNK)
            if queue.full():  # wait for room, unless the client goes away meanwhile
                room = asyncio.ensure_future(queue.put((loop.time(), data)))
                await asyncio.wait({room, delivery}, return_when=asyncio.FIRST_COMPLETED)
                if not room.done():
                    room.cancel()
                    break
            else:
                queue.put_nowait((loop.time(), data))
            if not data:
                break
        await delivery  # raises what ended it early (the client went away)
    finally:
        delivery.cancel()


async def _direct(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()


def _quiet(task: asyncio.Future[None]) -> None:
    """Retrieves a finished task's error (a peer went away), so asyncio does not log it."""
    if not task.cancelled():
        task.exception()


async def _connection(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
                      upstream_port: int, delay: float) -> None:  # fmt: skip
    upstream_writer: asyncio.StreamWriter | None = None
    try:
        await asyncio.sleep(delay)  # the handshake's round trip
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        for writer in (client_writer, upstream_writer):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        requests = asyncio.ensure_future(_direct(client_reader, upstream_writer))
        requests.add_done_callback(_quiet)
        try:
            await _delayed(upstream_reader, client_writer, delay)
        finally:
            requests.cancel()
    except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
        pass  # a peer went away, or the proxy stops: close both sides
    finally:
        for writer in (client_writer, upstream_writer):
            if writer is not None:
                writer.close()


async def serve(upstream_port: int, delay: float, port: int = 0) -> asyncio.Server:
    """Starts the proxy on 127.0.0.1:`port` (0: a free one) in the running loop."""
    return await asyncio.start_server(
        lambda r, w: _connection(r, w, upstream_port, delay), "127.0.0.1", port, backlog=1024
    )


async def _main(upstream_port: int, delay: float) -> None:
    server = await serve(upstream_port, delay)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class LatencyProxy:
    """`python -m bench.harness.latency` as a child process; a context manager that always stops
    it (by its PID)."""

    def __init__(self, upstream_port: int, delay_ms: float = DEFAULT_DELAY_MS) -> None:
        self.upstream_port = upstream_port
        self.delay_ms = delay_ms
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "bench.harness.latency", "--upstream-port",
                str(self.upstream_port), "--delay-ms", str(self.delay_ms)]  # fmt: skip
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                        text=True, cwd=here)  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the latency proxy did not start (it printed {line!r})")
        self.port = int(line)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the latency proxy does not accept connections") from None
                time.sleep(0.02)

    def cpu_seconds(self) -> float:
        """User + system CPU the proxy has used so far."""
        if self.process is None:
            return 0.0
        with open(f"/proc/{self.process.pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process, 5)

    def __enter__(self) -> LatencyProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def stop_process(process: subprocess.Popen[Any] | None, timeout_s: float) -> None:
    """SIGTERM by PID, then SIGKILL if it is still there after timeout_s."""
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.harness.latency",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--upstream-port", type=int, required=True, help="server on 127.0.0.1")
    parser.add_argument("--delay-ms", type=float, default=DEFAULT_DELAY_MS,
                        help=f"added to every response (default {DEFAULT_DELAY_MS})")  # fmt: skip
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must not be negative")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.upstream_port, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
