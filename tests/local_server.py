"""A local HTTP server for the fakes (Plex, Stash) on 127.0.0.1: one port kept across outages.

`Listener` owns the port: `up()` listens (on a port the OS picks the first time, on the same
port after), `down()` closes it as a crashed server would, cutting every open connection, and
keeps the port bound without listening meanwhile (connections are refused, and no other socket
takes the port). It runs each connection in a thread of its own and keeps them, so `threads()`
can tell that none is left. What to answer is not decided here: the handler class given to the
listener (a `TrackedHandler`) asks its fake.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class Host(Protocol):
    """What the server needs from the fake it serves."""

    def report_error(self, text: str) -> None:
        """Take note of a failure of the fake itself."""


class Listener:
    """One port across outages, the server listening on it while up, and the threads it runs."""

    def __init__(
        self,
        host: Host,
        handler: type[TrackedHandler],
        *,
        name: str,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._handler = handler
        self._name = name
        """Names its threads: ``<name>-<port>``."""
        self.tls = tls
        """Set: every connection speaks TLS with this server context (swappable between `up()`s)."""
        self._lifecycle = threading.Lock()
        self._threads_lock = threading.Lock()
        self._port: int | None = None
        self._holding: socket.socket | None = None
        """While down: the port bound, not listening (connections are refused), so that no
        other socket (a client's outgoing one, say) takes it before `up()` binds it again."""
        self._server: _Server | None = None
        self._serving: threading.Thread | None = None
        self._threads: list[threading.Thread] = []

    @property
    def name(self) -> str:
        """What its threads are named after."""
        return self._name

    @property
    def port(self) -> int:
        """The TCP port, chosen by the OS at the first `up()` and kept from then on."""
        if self._port is None:
            raise RuntimeError("the fake has not been started")
        return self._port

    @property
    def is_up(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    def up(self) -> None:
        """Listen on the recorded port, or on one the OS picks the first time (a no-op while up)."""
        with self._lifecycle:
            if self._server is not None:
                return
            if self._holding is not None:
                self._holding.close()
                self._holding = None
            server = _Server(self._port or 0, self._host, self, self._handler, self.tls)
            self._port = server.server_address[1]
            serving = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},  # so down() returns in a few ms
                name=f"{self._name}-{self._port}",
                daemon=True,
            )
            self.started(serving)
            serving.start()
            self._server, self._serving = server, serving

    def down(self) -> None:
        """Close the socket and cut every open connection, as a crashed server would."""
        with self._lifecycle:
            server, serving = self._server, self._serving
            if server is None or serving is None:
                return
            self._server = self._serving = None
            server.close(serving)
            holding = socket.socket()
            holding.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holding.bind(("127.0.0.1", server.server_address[1]))
            self._holding = holding

    def release(self) -> None:
        """Down for good: let go of the port too."""
        self.down()
        with self._lifecycle:
            if self._holding is not None:
                self._holding.close()
                self._holding = None

    def threads(self) -> list[threading.Thread]:
        """The threads started here that are still running (none once it is down)."""
        with self._threads_lock:
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            return list(self._threads)

    def started(self, thread: threading.Thread) -> None:
        """Keep *thread*, which is about to start, among those `threads()` reports."""
        with self._threads_lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)


class _Server(ThreadingHTTPServer):
    """One listening socket's lifetime: `Listener.down()` closes it, `up()` makes a new one."""

    allow_reuse_address = True  # rebind the recorded port although old connections linger
    daemon_threads = True
    block_on_close = False  # close() joins the handler threads itself, which it keeps

    def __init__(
        self,
        port: int,
        host: Any,
        listener: Listener,
        handler: type[TrackedHandler],
        tls: ssl.SSLContext | None,
    ) -> None:
        self.host = host
        self.listener = listener
        self.tls = tls
        self.stopping = threading.Event()
        """Set when this server closes: wakes handlers sleeping in a slow or stalled reply."""
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.thread_name = f"{listener.name}-{port}-connection"
        super().__init__(("127.0.0.1", port), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Handle each connection in a thread of its own, which the listener keeps."""
        handler = threading.Thread(
            target=self._secured if self.tls is not None else self.process_request_thread,
            args=(request, client_address),
            name=self.thread_name,
            daemon=True,
        )
        self.listener.started(handler)
        handler.start()

    def _secured(self, request: socket.socket, client_address: Any) -> None:
        """Handle a connection over TLS: the handshake runs in the connection's own thread, so a
        client that refuses the certificate costs only that thread.
        """
        assert self.tls is not None
        request.settimeout(5)  # a client that never finishes the handshake cannot hold `down()`
        try:
            secured = self.tls.wrap_socket(request, server_side=True)
        except OSError:  # the client refused the certificate, or went away mid-handshake
            self.shutdown_request(request)
            return
        secured.settimeout(None)
        self.process_request_thread(secured, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a bad resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def track(self, connection: socket.socket) -> None:
        """Remember an open connection, so closing the server can cut it."""
        with self._connections_lock:
            self._connections.add(connection)
            if self.stopping.is_set():
                # Accepted just before the server closed: cut it now, or its thread would wait
                # for a request forever and server_close() would never return.
                _cut(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a connection whose handler has finished."""
        with self._connections_lock:
            self._connections.discard(connection)

    def close(self, serving: threading.Thread) -> None:
        """Stop accepting, cut every open connection (a crashed Plex keeps none), join threads."""
        self.stopping.set()
        self.shutdown()
        serving.join()
        with self._connections_lock:
            for connection in self._connections:
                _cut(connection)
        self.server_close()  # closes the listening socket
        # The handler threads end quickly once their connections are cut.
        for thread in self.listener.threads():
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, reset) is normal here; anything else is a fake bug."""
        if isinstance(sys.exception(), OSError):
            return
        self.host.report_error(traceback.format_exc())


def _cut(connection: socket.socket) -> None:
    """Shut a connection down in both directions; its handler thread then closes it."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class TrackedHandler(BaseHTTPRequestHandler):
    """A request handler whose connection the server keeps while it is open, so that `down()`
    can cut it; the per-request log line is silenced (the fakes record every request).
    """

    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, fmt: str, *args: object) -> None:
        """Silence the per-request log line on stderr."""
