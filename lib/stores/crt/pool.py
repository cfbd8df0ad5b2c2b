"""Keep-alive HTTP/1.1 connections to one endpoint, handed out one request at a time."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from awscrt import http, io

CONNECT_TIMEOUT_MS = 10_000
Ready = Callable[[Any, BaseException | None], None]  # (connection or None, error)


def _tls_context() -> Any:
    options = io.TlsContextOptions()
    bundle = os.environ.get("AWS_CA_BUNDLE")
    if bundle:  # the variable botocore honours for a private CA
        options.override_default_trust_store_from_path(ca_filepath=bundle)
    return io.ClientTlsContext(options)


class ConnectionPool:
    """Up to `limit` connections to host:port; idle ones are reused, broken ones dropped.

    `acquire(ready)` returns an idle connection, or None and calls ready(connection,
    None) when a new one is connected or a busy one is released; ready(None, error) if
    connecting failed. `release(connection, reusable)` gives it back.
    """

    def __init__(self, host: str, port: int, *, tls: bool, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self._tls = tls
        self._tls_context: Any = None
        self._idle: list[Any] = []
        self._waiting: deque[Ready] = deque()
        self._open = 0  # connected or connecting
        self._lock = threading.Lock()
        self._socket_options = io.SocketOptions()
        self._socket_options.connect_timeout_ms = CONNECT_TIMEOUT_MS

    def acquire(self, ready: Ready) -> Any:
        """An idle connection, at once; else None, and `ready` is called later."""
        with self._lock:
            connection = self._take_idle()
            if connection is not None:
                return connection
            if self._open >= self.limit:
                self._waiting.append(ready)
                return None
            self._open += 1
        try:
            self._connect(ready)
        except BaseException:
            self._give_up_slot()  # no connection came of it: its slot is free again
            raise
        return None

    def release(self, connection: Any, reusable: bool) -> None:
        if not reusable or not connection.is_open():
            connection.close()
            self._give_up_slot()
            return
        with self._lock:
            ready = self._waiting.popleft() if self._waiting else None
            if ready is None:
                self._idle.append(connection)
                return
        ready(connection, None)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for connection in idle:
            connection.close()

    def _give_up_slot(self) -> None:
        """A connection is gone: a waiting request may connect in its place."""
        with self._lock:
            self._open -= 1
            ready = self._waiting.popleft() if self._waiting else None
            if ready is not None:
                self._open += 1
        if ready is not None:
            try:
                self._connect(ready)
            except Exception as exc:  # no connection came of it: the waiter hears why
                with self._lock:
                    self._open -= 1
                ready(None, exc)

    def _take_idle(self) -> Any:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_open():
                return connection
            self._open -= 1  # the server closed it while idle
        return None

    def _connect(self, ready: Ready) -> None:
        tls_options = None
        if self._tls:
            if self._tls_context is None:
                self._tls_context = _tls_context()
            tls_options = self._tls_context.new_connection_options()
            tls_options.set_server_name(self.host)
        connecting = http.HttpClientConnection.new(
            host_name=self.host,
            port=self.port,
            socket_options=self._socket_options,
            tls_connection_options=tls_options,
        )

        def connected(future: Any) -> None:
            error = future.exception()
            if error is not None:
                ready(None, error)
                self._give_up_slot()
            else:
                ready(future.result(), None)

        connecting.add_done_callback(connected)
