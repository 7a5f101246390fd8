"""The fake's HTTP side: a listening socket that outlives outages, and the handler that sends
each reply, slowly or brokenly when told.

`Listener` owns the port: `up()` listens (on a port the OS picks the first time, on the same
port after), `down()` closes it as a crashed Plex would, cutting every open connection. It runs
each connection in a thread of its own and keeps them, so `threads()` can tell that none is left.
What to answer is not decided here: the `Exchange` given to the listener decides.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from attrs import frozen

from tests.fake_plex.xml import XML_CONTENT_TYPE, document, element, phrase

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from email.message import Message


@frozen
class Reply:
    """What to send back, and how."""

    status: int
    body: bytes = b""
    content_type: str = XML_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    """Seconds to wait before sending anything."""
    stall: float | None = None
    """If set: send the headers and half the body, wait this long, then close the connection."""
    fault: str | None = None
    """The fault that spoiled the reply, if any."""
    sent: Callable[[], None] | None = None
    """Called as the reply starts to go out: from then on the request is no longer in flight."""
    then: Callable[[], object] | None = None
    """Carried out after *delay*, before the reply is sent, whether or not the client still
    waits: a request Plex finishes although its client gave up on it."""


class Exchange(Protocol):
    """What the HTTP side needs from the fake."""

    def exchange(
        self, method: str, raw_path: str, headers: Message, body: bytes = b""
    ) -> AbstractContextManager[Reply]:
        """The reply to a request, while it is being sent."""

    def report_error(self, text: str) -> None:
        """Take note of a failure of the fake itself."""


class Listener:
    """One port across outages, the server listening on it while up, and the threads it runs."""

    def __init__(self, host: Exchange, *, tls: ssl.SSLContext | None = None) -> None:
        self._host = host
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
            server = _Server(self._port or 0, self._host, self, self.tls)
            self._port = server.server_address[1]
            serving = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},  # so down() returns in a few ms
                name=f"fake-plex-{self._port}",
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
        self, port: int, host: Exchange, listener: Listener, tls: ssl.SSLContext | None
    ) -> None:
        self.host = host
        self.listener = listener
        self.tls = tls
        self.stopping = threading.Event()
        """Set when this server closes: wakes handlers sleeping in a slow or stalled reply."""
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Handle each connection in a thread of its own, which the listener keeps."""
        handler = threading.Thread(
            target=self._secured if self.tls is not None else self.process_request_thread,
            args=(request, client_address),
            name=f"fake-plex-{self.server_address[1]}-connection",
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


class _Handler(BaseHTTPRequestHandler):
    """Parses one request, asks the fake for a reply, and sends it (slowly or brokenly if told)."""

    protocol_version = "HTTP/1.1"  # keep-alive, like Plex: down() must cut pooled connections
    disable_nagle_algorithm = True  # else headers and body, sent apart, cost ~40 ms per request
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
        """Silence the per-request log line on stderr; `FakePlex.requests` has it all."""

    def respond(self) -> None:
        """Answer any method: routing, not the HTTP verb, decides what exists."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""  # an upload; unread, it breaks keep-alive
        with self.server.host.exchange(self.command, self.path, self.headers, body) as reply:
            self._send(reply)

    do_GET = do_PUT = do_POST = do_DELETE = respond  # noqa: N815 - http.server's names

    def _send(self, reply: Reply) -> None:
        stopping = self.server.stopping
        if reply.delay and stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.then is not None:
            reply.then()
        body = reply.body
        if reply.stall is not None and len(body) < 2:
            # Half of an empty body is a complete one: stall inside a body that has content.
            body = document(element("MediaContainer", size=0))
        if reply.sent is not None:
            reply.sent()
        self.send_response(reply.status, phrase(reply.status))
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if reply.stall is None:
            self.wfile.write(body)
            return
        self.wfile.write(body[: len(body) // 2])
        stopping.wait(reply.stall)
        self.close_connection = True
