"""The engine: per-object S3 requests as Futures, many in flight on awscrt's threads.

A request's life: its bucket's Address (addressing.py), a fresh HttpRequest signed
with the current credentials (signer.py), a keep-alive connection (pool.py), the
answer read into botocore's shapes (answers.py). A failure lib/leaves/retry.py calls
retryable (5xx, throttling, RequestTimeout, a reset connection, a stall) is tried
again after a jittered backoff, up to the attempts of the botocore client; a
throttled one also halves the window of requests in flight, which widens again
by one per success (lib/engine/window.py's AdaptiveWindow). A 301/307 or 400 naming the
bucket's region (x-amz-bucket-region) is sent again at once to that region.

Timeouts: an answer that stops arriving for `stall_s` (the client's read timeout:
S3DEEP_READ_TIMEOUT or 60 s) fails the attempt, as does one that takes longer than
`Timeouts.timeout(bytes, attempt)` when adaptive timeouts are given (s3-repair's).
One watchdog thread enforces them and runs the retries that are due.

Callbacks (a GET's sink, a Future's done-callbacks) run on awscrt's event-loop
threads: they must be quick and must not wait for other requests.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import io
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from awscrt import http

from lib.engine.window import AdaptiveWindow
from lib.leaves.retry import THROTTLE_CODES, backoff_s, error_code, retryable
from lib.stores.crt.addressing import Address, Addresses
from lib.stores.crt.answers import (
    Answer,
    client_error,
    header_dict,
    is_error_body,
)
from lib.stores.crt.calls import NO_LIMITS, Call, Limits
from lib.stores.crt.operations import Operations
from lib.stores.crt.pool import ConnectionPool
from lib.stores.crt.reader import ObjectReader
from lib.stores.crt.signer import Signer
from lib.stores.s3 import S3Config, answered, make_client, mark_answered, unreachable_because
from lib.stores.s3requests import MISSING_CODES
from lib.stores.transfer import Timeouts

USER_AGENT = "s3deep/0.1 awscrt"
READ_AHEAD_PARTS = 16
WATCH_S = 0.05  # how often the watchdog looks at deadlines and due retries


class _Exchange:
    """One attempt on one connection: the answer as it arrives, and its deadlines."""

    __slots__ = (
        "active", "address", "call", "chunks", "connection", "deadline", "headers", "pool",
        "received", "refused", "started", "status", "timed_out",
    )  # fmt: skip

    def __init__(self, call: Call, address: Address, pool: ConnectionPool, connection: Any):
        self.call, self.address, self.pool, self.connection = call, address, pool, connection
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.received = 0
        self.started = self.active = time.monotonic()
        self.deadline: float | None = None
        self.timed_out: str | None = None
        self.refused = False  # the sink wanted no more of the body: the connection closed

    def on_response(self, status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
        if threading.get_ident() not in _KEPT_THREAD_STATES:
            _keep_thread_state()
        self.active = time.monotonic()
        self.status = status_code
        self.headers = header_dict(headers)

    def on_body(self, chunk: bytes, **_: Any) -> None:
        self.active = time.monotonic()
        self.received += len(chunk)
        sink = self.call.sink
        if sink is not None and 200 <= self.status < 300:
            if self.refused:
                return
            if sink.write(bytes(chunk)) is False:  # more than it takes: stop the download
                self.refused = True
                self.connection.close()  # the stream then ends in error: _answered
        else:
            self.chunks.append(bytes(chunk))

    def answer(self) -> Answer:
        return Answer(self.status, self.headers, b"".join(self.chunks))


class Engine(Operations):
    """Per-object S3 requests through awscrt; `*_async` methods (lib/stores/crt/operations.py)
    return Futures of botocore-shaped dicts, the plain ones wait for them."""

    def __init__(
        self,
        make_client: Callable[[str | None], Any],
        *,
        concurrency: int = 16,
        timeouts: Timeouts | None = None,
    ) -> None:
        client = make_client(None)  # for its credentials and bounds; it sends nothing
        self.addresses = Addresses(make_client, configured=client)
        self.signer = Signer(getattr(client._request_signer, "_credentials", None))
        self.max_attempts = int(client.meta.config.retries.get("total_max_attempts", 3))
        self.stall_s = float(client.meta.config.read_timeout)
        self.timeouts = timeouts
        self.window = AdaptiveWindow(concurrency)
        # Ranges that readers (Engine.open) may fetch ahead of what they consume, over all
        # readers: with 4 MiB parts, 64 MiB on top of each reader's own part.
        self.read_ahead = threading.BoundedSemaphore(READ_AHEAD_PARTS)
        self.retries = 0  # attempts repeated, over the engine's life
        self.requests = 0  # attempts sent
        self._pools: dict[tuple[str, int, bool], ConnectionPool] = {}
        self._active = 0  # calls started and not finished (retries waiting included)
        self._queued: deque[Call] = deque()
        self._watched: set[_Exchange] = set()
        self._due: list[tuple[float, int, Call]] = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._watchdog: threading.Thread | None = None

    @classmethod
    def for_config(
        cls, config: S3Config, *, concurrency: int = 16, timeouts: Timeouts | None = None
    ) -> Engine:
        """An engine for the same endpoint, profile and credentials as make_client(config)."""

        def client_for(region: str | None) -> Any:
            return make_client(config if region is None else replace(config, region=region))

        return cls(client_for, concurrency=max(1, concurrency), timeouts=timeouts)

    def open(self, bucket: str, key: str, **options: Any) -> ObjectReader:
        """The object as a file: parallel ranged GETs, in order, bounded memory."""
        return ObjectReader(self, bucket, key, **options)

    def close(self) -> None:
        for pool in list(self._pools.values()):
            pool.close()

    # --- a call's life ----------------------------------------------------------------

    def submit(self, call: Call, limits: Limits = NO_LIMITS) -> concurrent.futures.Future[Any]:
        """Starts the call now if the window has room, else when a call finishes."""
        call.limits = limits
        if call.body is not None:
            call.nbytes = len(call.body)
        try:
            self.addresses.get(call.bucket)  # a new bucket is resolved here, not on a CRT thread
        except Exception as exc:
            with self._lock:
                self._active += 1  # as if started: _give_up finishes it
            self._give_up(call, exc)
            return call.future
        with self._lock:
            start = self._active < self.window.size
            if start:
                self._active += 1
            else:
                self._queued.append(call)
        if start:
            self._attempt(call)
        return call.future

    def _attempt(self, call: Call) -> None:
        if call.finished:
            return  # a retry that was due when its call ended
        if call.future.cancelled():  # nobody waits for it any more
            self._finish(call)
            return
        call.attempt += 1
        try:
            address = self.addresses.get(call.bucket)
            request = self._http_request(call, address)
            self.signer.sign(
                request, address.region, address.signing_name,
                lambda error: self._signed(call, address, request, error),
            )  # fmt: skip
        except Exception as exc:
            self._give_up(call, exc)

    def _http_request(self, call: Call, address: Address) -> Any:
        path = address.path(call.key)
        if call.query:
            path = f"{path}?{call.query}"
        pairs = [("Host", address.host_header), ("User-Agent", USER_AGENT), *call.headers]
        body = None
        if call.body is not None:
            pairs.append(("Content-Length", str(len(call.body))))
            body = io.BytesIO(call.body)
        return http.HttpRequest(call.method, path, http.HttpHeaders(pairs), body)

    def _signed(
        self, call: Call, address: Address, request: Any, error: BaseException | None
    ) -> None:
        if error is not None:
            self._give_up(call, error)
            return
        key = (address.host, address.port, address.tls)
        try:
            pool = self._pools.get(key)
            if pool is None:
                with self._lock:
                    pool = self._pools.setdefault(
                        key, ConnectionPool(*key[:2], tls=key[2], limit=self.window.limit)
                    )
            connection = pool.acquire(
                lambda connection, error: self._send(
                    call, address, request, pool, connection, error
                )
            )
        except Exception as exc:  # signing may call this from awscrt's C: it must not raise
            self._give_up(call, exc)
            return
        if connection is not None:
            self._send(call, address, request, pool, connection, None)

    def _send(
        self,
        call: Call,
        address: Address,
        request: Any,
        pool: ConnectionPool,
        connection: Any,
        error: BaseException | None,
    ) -> None:
        if connection is None:
            self._failed(call, address, _network_error(error, address))
            return
        exchange = _Exchange(call, address, pool, connection)
        if self.timeouts is not None:
            exchange.deadline = exchange.started + self.timeouts.timeout(call.nbytes, call.attempt)
        try:
            stream = connection.request(request, exchange.on_response, exchange.on_body)
        except Exception as exc:  # the connection closed since it was pooled
            pool.release(connection, reusable=False)
            self._failed(call, address, _network_error(exc, address))
            return
        with self._lock:
            self._watched.add(exchange)
            self.requests += 1
        self._ensure_watchdog()
        stream.completion_future.add_done_callback(lambda done: self._ended(exchange, done))
        stream.activate()

    def _ended(self, exchange: _Exchange, done: Any) -> None:
        """_answered; what it raises ends the call (a Future's callback that raises is only
        logged: the call would never finish, and its stage would wait for it forever)."""
        try:
            self._answered(exchange, done)
        except Exception as exc:
            self._give_up(exchange.call, exc)

    def _answered(self, exchange: _Exchange, done: Any) -> None:
        call, address = exchange.call, exchange.address
        with self._lock:
            self._watched.discard(exchange)
        error = done.exception()
        if exchange.refused:  # not a failure of the server's: no retry
            exchange.pool.release(exchange.connection, reusable=False)
            self._give_up(call, BodyRefused(
                f"{call.operation} s3://{call.bucket}/{call.key}: the body is larger than "
                f"its reader takes (stopped after {exchange.received} bytes)"
            ))  # fmt: skip
            return
        if error is not None:
            exchange.pool.release(exchange.connection, reusable=False)
            if exchange.timed_out is not None:
                error = TimeoutError(
                    f"{call.operation} s3://{call.bucket}/{call.key}: {exchange.timed_out}"
                )
            self._failed(call, address, _network_error(error, address))
            return
        exchange.pool.release(exchange.connection, reusable=True)
        mark_answered(address.endpoint)
        answer = exchange.answer()
        if answer.status >= 300 or (call.error_in_200 and is_error_body(answer.body)):
            self._failed(call, address, client_error(answer, call.operation))
            return
        length = answer.headers.get("content-length")
        if call.method == "GET" and length is not None and int(length) != exchange.received:
            cut = ConnectionResetError(
                f"{call.operation} s3://{call.bucket}/{call.key}: the body stopped after "
                f"{exchange.received} of {length} bytes"
            )
            self._failed(call, address, cut)
            return
        self.window.success()
        if self.timeouts is not None:
            self.timeouts.observe(exchange.received + len(call.body or b""), _since(exchange))
        self._settle(call, call.read, answer)

    def _failed(self, call: Call, address: Address, error: BaseException) -> None:
        region = _redirected_region(error, address)
        attempts = call.limits.attempts or self.max_attempts
        if region is not None and call.attempt < attempts:
            self.addresses.moved(call.bucket, region)
            self._retry(call, 0.0)
            return
        if isinstance(error, ConnectionRefusedError | _Unresolved) and not answered(
            address.endpoint
        ):
            error = unreachable_because(address.endpoint, str(error))
        elif isinstance(error, Exception) and retryable(error) and call.attempt < attempts:
            if error_code(error) in THROTTLE_CODES:
                self.window.throttle()
            self._retry(call, backoff_s(call.attempt))
            return
        elif call.if_missing is not None and error_code(error) in MISSING_CODES:
            self._settle(call, call.if_missing)
            return
        self._give_up(call, error)

    def _settle(self, call: Call, produce: Callable[..., Any], *args: Any) -> None:
        """Finishes the call with what `produce` makes of its answer, or with its error."""
        try:
            result = produce(*args)
        except Exception as exc:
            self._give_up(call, exc)
            return
        self._finish(call, result=result)

    def _give_up(self, call: Call, error: BaseException) -> None:
        """Finishes a call that failed: with what its if_failed makes of the error, once."""
        handle, call.if_failed = call.if_failed, None
        if handle is not None and isinstance(error, Exception):
            self._settle(call, handle, error)
        else:
            self._finish(call, error=error)

    def _retry(self, call: Call, delay_s: float) -> None:
        if call.sink is not None:
            call.sink.reset()
        with self._lock:
            self.retries += 1
            heapq.heappush(self._due, (time.monotonic() + delay_s, next(self._sequence), call))
            self._wake.notify()
        self._ensure_watchdog()

    def _finish(
        self, call: Call, *, result: Any = None, error: BaseException | None = None
    ) -> None:
        starting: list[Call] = []
        with self._lock:
            if call.finished:
                return  # ended already: an error after its end (see _ended)
            call.finished = True
            self._active -= 1
            while self._queued and self._active < self.window.size:
                starting.append(self._queued.popleft())
                self._active += 1
        try:
            if error is not None:
                call.future.set_exception(error)
            else:
                call.future.set_result(result)
        except concurrent.futures.InvalidStateError:
            pass  # its caller cancelled it
        for queued in starting:
            self._attempt(queued)

    # --- the watchdog: deadlines and due retries ------------------------------------

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None:
            with self._lock:
                if self._watchdog is None:
                    self._watchdog = threading.Thread(
                        target=self._watch, name="s3-engine-watchdog", daemon=True
                    )
                    self._watchdog.start()

    def _watch(self) -> None:
        while True:
            now = time.monotonic()
            due: list[Call] = []
            late: list[tuple[_Exchange, str]] = []
            with self._lock:
                while self._due and self._due[0][0] <= now:
                    due.append(heapq.heappop(self._due)[2])
                for exchange in self._watched:
                    why = self._overdue(exchange, now)
                    if why is not None and exchange.timed_out is None:
                        late.append((exchange, why))
                if not due and not late:
                    until_due = self._due[0][0] - now if self._due else WATCH_S
                    self._wake.wait(max(0.0, min(WATCH_S, until_due)))
                    continue
            for exchange, why in late:
                exchange.timed_out = why
                exchange.connection.close()  # the stream then ends in error: _answered
            for call in due:
                self._attempt(call)

    def _overdue(self, exchange: _Exchange, now: float) -> str | None:
        stall_s = exchange.call.limits.stall_s or self.stall_s
        if now - exchange.active > stall_s:
            return f"no data for {stall_s:g} s (a stalled connection)"
        if exchange.deadline is not None and now > exchange.deadline:
            return f"not done in {exchange.deadline - exchange.started:.1f} s (request timeout)"
        return None


class BodyRefused(Exception):
    """A GET's sink took no more of the body (write returned False); never retried."""


_KEPT_THREAD_STATES: set[int] = set()


def _keep_thread_state() -> None:
    """Keeps a Python thread state for the awscrt event-loop thread this runs on.

    awscrt enters Python from its own threads with PyGILState_Ensure, and leaves with
    PyGILState_Release, which deletes the thread state it made when its count is back to
    0: every callback then made a new one (a gettid, an mmap'd frame stack, locks) and
    freed it again, about a third of the engine's system calls. One more Ensure, never
    released, keeps the count above 0, so the thread's state lives as long as the thread
    (Python frees it when the interpreter finalizes, as it does a daemon thread's)."""
    _KEPT_THREAD_STATES.add(threading.get_ident())
    try:
        import ctypes

        ctypes.pythonapi.PyGILState_Ensure()
    except (ImportError, AttributeError, OSError):
        pass  # not CPython: nothing to keep


class _Unresolved(ConnectionError):
    """The endpoint's host name does not resolve."""


def _network_error(error: BaseException | None, address: Address) -> BaseException:
    """A CRT failure as the built-in exception lib/leaves/retry.py knows (ConnectionError)."""
    if error is None or not hasattr(error, "name"):
        return error or ConnectionError("no connection")
    name = str(error.name)
    where = f"{address.host}:{address.port}"
    if name == "AWS_IO_SOCKET_CONNECTION_REFUSED":
        return ConnectionRefusedError("connection refused")
    if "DNS" in name:
        return _Unresolved("the host name does not resolve")
    if "TIMEOUT" in name:
        return TimeoutError(f"{where}: {error}")
    return ConnectionResetError(f"{where}: {error}")


def _redirected_region(error: BaseException, address: Address) -> str | None:
    """The bucket's region when S3 answered that it lives in another one."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    metadata = response.get("ResponseMetadata", {})
    if metadata.get("HTTPStatusCode") not in (301, 307, 400):
        return None
    region = metadata.get("HTTPHeaders", {}).get("x-amz-bucket-region") or response.get(
        "Error", {}
    ).get("Region")
    return region if region and region != address.region else None


def _since(exchange: _Exchange) -> float:
    return time.monotonic() - exchange.started
