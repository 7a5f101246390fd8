"""The fake's HTTP side: the handler that sends each reply, slowly or brokenly when told, on the
listening socket the fakes share (`tests.local_server.Listener`, which outlives outages).

What to answer is not decided here: the `Exchange` (the fake) decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from attrs import frozen

from tests.fake_plex.xml import XML_CONTENT_TYPE, document, element, phrase
from tests.local_server import Host, TrackedHandler

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


class Exchange(Host, Protocol):
    """What the HTTP side needs from the fake (besides `Host.report_error`)."""

    def exchange(
        self, method: str, raw_path: str, headers: Message, body: bytes = b""
    ) -> AbstractContextManager[Reply]:
        """The reply to a request, while it is being sent."""


class PlexHandler(TrackedHandler):
    """Parses one request, asks the fake for a reply, and sends it (slowly or brokenly if told)."""

    protocol_version = "HTTP/1.1"  # keep-alive, like Plex: down() must cut pooled connections
    disable_nagle_algorithm = True  # else headers and body, sent apart, cost ~40 ms per request

    def respond(self) -> None:
        """Answer any method: routing, not the HTTP verb, decides what exists."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""  # an upload; unread, it breaks keep-alive
        fake: Exchange = self.server.host
        with fake.exchange(self.command, self.path, self.headers, body) as reply:
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
