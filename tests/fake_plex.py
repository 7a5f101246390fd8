"""A fake Plex Media Server that the real plexapi client talks to over HTTP on 127.0.0.1.

It serves the small part of the Plex API that plexsync uses (server info, identity, movie
sections, paged listings, full items, edits, partial scans, activities), keeps the library in
memory, records every request it answers (without the token) and which replies are still on
their way, and injects faults on demand: outages, error statuses, slow or stalled responses and
broken bodies.
"""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.etree import ElementTree as ET

import attrs
from attrs import define, field, frozen

from shell.fields import FIELDS, Field, Kind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from email.message import Message
    from types import TracebackType

VERSION = "1.40.0.0000"
"""The Plex server version the fake claims to be."""

XML_CONTENT_TYPE = "text/xml;charset=utf-8"

TOKEN_PLACEHOLDER = "[X-Plex-Token]"
"""What replaces the token if a client ever puts it anywhere else in a request."""

TITLE: Final = "title"
"""The field every Plex item has a value of: `FakeItem.title`, not one of its `values`."""

RELEASE_DATE: Final = "originallyAvailableAt"
"""The field (by Plex's name) from which Plex derives an item's `year`."""

LISTING_TAG_LIMITS: dict[str, int] = {"genre": 2, "collection": 1, "label": 0, "actor": 3}
"""How many tags of each field (by Plex's name) a section listing shows: like the real server,
only a few; none of a field not named here.
"""

_DELIVERY_FAULTS = frozenset({None, "slow_first_byte", "stall_mid_body"})
"""Faults that change how a normal reply is delivered, not what the request does."""

_SET_TAG = re.compile(r"(?P<field>[A-Za-z]+)\[(?P<index>\d+)\]\.tag\.tag")
_REMOVE_TAGS = re.compile(r"(?P<field>[A-Za-z]+)\[\]\.tag\.tag-")
_SECTION_PATH = re.compile(r"/library/sections/(?P<section>\d+)/(?P<action>all|refresh)")
_METADATA_PATH = re.compile(r"/library/metadata/(?P<keys>\d+(?:,\d+)*)")


def _each_list_has_an_element(_: object, __: object, fields: tuple[Field, ...]) -> None:
    for spec in fields:
        if spec.is_list and spec.element is None:
            raise ValueError(f"the list field {spec.key} needs the XML element of its tags")


@frozen
class Schema:
    """The fields the fake knows, sorted by where a `FakeItem` keeps them.

    By default every row of `shell.fields.FIELDS`: a new row there is a field the fake accepts,
    stores, locks and renders.
    """

    fields: tuple[Field, ...] = field(validator=_each_list_has_an_element)
    value_fields: tuple[Field, ...] = field(init=False)
    """The fields of one value except the title: `FakeItem.values`."""
    tag_fields: tuple[Field, ...] = field(init=False)
    """The fields that hold tags: `FakeItem.tags`."""
    elements: dict[str, str] = field(init=False)
    """The XML element of each field of tags, by key."""
    by_plex: dict[str, Field] = field(init=False)
    """Each field by its Plex name, as edits name it."""

    @value_fields.default
    def _value_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.is_list and f.key != TITLE)

    @tag_fields.default
    def _tag_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.is_list)

    @elements.default
    def _elements(self) -> dict[str, str]:
        return {f.key: f.element for f in self.tag_fields if f.element is not None}

    @by_plex.default
    def _by_plex(self) -> dict[str, Field]:
        return {f.plex: f for f in self.fields}

    def initial(
        self, given: Mapping[str, str | Iterable[str] | None]
    ) -> tuple[dict[str, str | None], dict[str, list[str]]]:
        """A new item's `values` and `tags`, from `add_item`'s keyword arguments."""
        known = {f.key for f in (*self.value_fields, *self.tag_fields)}
        if unknown := sorted(set(given) - known):
            raise TypeError(f"add_item() got unexpected keyword arguments: {', '.join(unknown)}")
        values = {f.key: _initial_value(f, given.get(f.key)) for f in self.value_fields}
        tags = {f.key: _initial_tags(f, given.get(f.key, ())) for f in self.tag_fields}
        return values, tags


def _initial_value(spec: Field, value: str | Iterable[str] | None) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{spec.key} takes a string, not {value!r}")
    if value is not None and spec.kind is Kind.DATE and not _is_plex_date(value):
        raise ValueError(f"{spec.key} must be YYYY-MM-DD: {value}")
    return value


def _initial_tags(spec: Field, value: str | Iterable[str] | None) -> list[str]:
    if value is None or isinstance(value, str):
        raise TypeError(f"{spec.key} takes a list of names, not {value!r}")
    return list(value)


@define
class FakeItem:
    """A movie in the fake library: what a test asserts on after plexsync has edited it.

    Its fields go by their keys in `shell.fields.FIELDS` (``values["summary"]``,
    ``tags["genres"]``, ``"genres" in locked``); Plex's names for them appear only on the wire.
    """

    rating_key: int
    section_key: int
    path: str
    title: str
    """Plex always has one: an item it knows nothing about is named after its file."""
    values: dict[str, str | None]
    """Every other field of one value (summary, studio, ...), None where it has none."""
    tags: dict[str, list[str]]
    """Every field of tags (performers, genres, ...), in order."""
    locked: set[str] = field(factory=set)
    """The fields Plex's agents must leave alone."""
    scanned: bool = True
    added_at: int = 0
    updated_at: int = 0

    def copy(self) -> FakeItem:
        """An independent snapshot, so assertions never race the server's threads."""
        return attrs.evolve(
            self,
            values=dict(self.values),
            tags={name: list(tags) for name, tags in self.tags.items()},
            locked=set(self.locked),
        )


@frozen
class Recorded:
    """One request the fake received, with the token removed from everything."""

    at: float
    """`time.time()` when the request arrived."""
    method: str
    path: str
    """The path without its query string or a trailing slash."""
    query: dict[str, str]
    """Decoded query parameters except X-Plex-Token; a repeated name keeps its last value."""
    headers: dict[str, str]
    """Request headers except X-Plex-Token.

    Should the token appear anywhere else in a request, it is stored as `TOKEN_PLACEHOLDER`.
    """
    status: int
    """The status the fake answered with (200 for the body faults, which look like success)."""
    rating_keys: tuple[int, ...] = ()
    """The items the request addressed: a PUT edit's `id` list, or a /library/metadata path."""
    fault: str | None = None
    """The name of the fault method that spoiled the reply (e.g. "fail_next"), if any."""


@define
class _Section:
    key: int
    title: str
    locations: tuple[str, ...]
    uuid: str
    created_at: int
    scanned_at: int


@define
class _Scan:
    section_key: int
    due_at: float
    """`time.monotonic()` at which the scan completes."""
    rating_keys: frozenset[int]
    """The unscanned items whose files existed, under the scanned folder, when it was requested."""
    uuid: str


@define
class _Fault:
    kind: str
    path_prefix: str | None
    remaining: int | None
    """Requests left to spoil; None lasts until `clear_faults()`."""
    status: int = 200
    retry_after: str | None = None
    seconds: float = 0.0
    method: str | None = None
    """Only requests of this HTTP method match; None matches any."""

    def matches(self, method: str, path: str) -> bool:
        return _selects(self.path_prefix, self.method, path, method)


@frozen
class _Incoming:
    at: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    token: str | None
    rating_keys: tuple[int, ...]


@frozen
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = XML_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    """Seconds to wait before sending anything."""
    stall: float | None = None
    """If set: send the headers and half the body, wait this long, then close the connection."""
    fault: str | None = None


class _Rejected(Exception):  # noqa: N818 - a control-flow signal carrying a reply, not an error
    """Raised inside a route to answer with an error status instead of a body."""

    def __init__(self, status: HTTPStatus, detail: str = "") -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


def _element(tag: str, parent: ET.Element | None = None, /, **attrs: object) -> ET.Element:
    """An XML element whose attributes skip None, as Plex omits empty attributes.

    Positional-only, so that a tag element's own `tag` attribute can be passed by keyword.
    """
    values = {name: str(value) for name, value in attrs.items() if value is not None}
    return ET.Element(tag, values) if parent is None else ET.SubElement(parent, tag, values)


def _xml(root: ET.Element) -> bytes:
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _error_page(status: int, detail: str = "") -> bytes:
    """The small HTML page Plex sends with an error status."""
    phrase = _phrase(status)
    return (
        f"<html><head><title>{phrase}</title></head>"
        f"<body><h1>{status} {phrase}</h1>{detail}</body></html>"
    ).encode()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        # A proxy status such as Cloudflare's 520 is unknown to http; the line is still sent.
        return "Unknown"


def _selects(path_prefix: str | None, method: str | None, path: str, request_method: str) -> bool:
    """Whether a request (*request_method*, *path*) is one a filter by prefix and method picks."""
    return (path_prefix is None or path.startswith(path_prefix)) and (
        method is None or request_method == method.upper()
    )


def _covers(folder: str, path: str) -> bool:
    """Whether a scan of *folder* (or of the file itself) reaches the file at *path*."""
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")


class _Server(ThreadingHTTPServer):
    """One listening socket's lifetime: `go_down()` closes it, `come_up()` makes a new one."""

    allow_reuse_address = True  # rebind the recorded port although old connections linger
    daemon_threads = True
    block_on_close = False  # close() joins the handler threads itself, which it keeps

    def __init__(self, port: int, fake: FakePlex) -> None:
        self.fake = fake
        self.stopping = threading.Event()
        """Set when this server closes: wakes handlers sleeping in a slow or stalled reply."""
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Handle each connection in a thread of its own, which the fake keeps (see threads)."""
        handler = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fake-plex-{self.server_address[1]}-connection",
            daemon=True,
        )
        self.fake._started(handler)
        handler.start()

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
        for thread in self.fake.threads():
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, reset) is normal here; anything else is a fake bug."""
        if isinstance(sys.exception(), OSError):
            return
        with self.fake._lock:
            self.fake.errors.append(traceback.format_exc())


def _cut(connection: socket.socket) -> None:
    """Shut a connection down in both directions; its handler thread then closes it."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Parses one request, asks the fake for a reply, and sends it (slowly or brokenly if told)."""

    protocol_version = "HTTP/1.1"  # keep-alive, like Plex: go_down() must cut pooled connections
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
        if length:
            self.rfile.read(length)  # plexapi sends none, but a body left unread breaks keep-alive
        fake = self.server.fake
        incoming = fake._receive(self.command, self.path, self.headers)
        with fake._in_flight(incoming.rating_keys):
            reply, recorded = fake._answer(incoming)
            try:
                self._send(reply)
            finally:
                fake._replied(recorded)

    do_GET = do_PUT = do_POST = do_DELETE = respond  # noqa: N815 - http.server's names

    def _send(self, reply: _Reply) -> None:
        stopping = self.server.stopping
        if reply.delay and stopping.wait(reply.delay):
            self.close_connection = True
            return
        body = reply.body
        if reply.stall is not None and len(body) < 2:
            # Half of an empty body is a complete one: stall inside a body that has content.
            body = _xml(_element("MediaContainer", size=0))
        self.send_response(reply.status, _phrase(reply.status))
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


class FakePlex:
    """A Plex Media Server on 127.0.0.1 that real plexapi talks to, with faults on demand.

    The library holds movie sections and their items; every endpoint except /identity needs
    *token*. All methods are thread-safe and may be called while the server runs. Use it as a
    context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self,
        token: str,
        *,
        fields: Iterable[Field] = FIELDS,
        machine_identifier: str = "fakeplex-0001",
        friendly_name: str = "Fake Plex",
    ) -> None:
        if not token:
            raise ValueError("the fake needs a token to check requests against")
        self._token = token
        self._schema = Schema(tuple(fields))
        self.machine_identifier = machine_identifier
        self.friendly_name = friendly_name
        self.scan_delay = 0.0
        """Seconds (real time) between a scan request and the scanned items appearing."""
        self.requests: list[Recorded] = []
        """Every request received while up, in order of arrival, without the token."""
        self.errors: list[str] = []
        """Tracebacks of the fake's own failures; `__exit__` raises if any were seen."""

        self._lock = threading.RLock()
        self._lifecycle = threading.Lock()
        self._sections: dict[int, _Section] = {}
        self._items: dict[int, FakeItem] = {}
        self._next_rating_key = 1000
        self._next_part_id = 1
        self._part_ids: dict[int, int] = {}
        self._scans: list[_Scan] = []
        self._faults: list[_Fault] = []
        self._flight: Counter[int] = Counter()
        self._in_flight_max = 0
        self._unreplied: list[Recorded] = []
        self._changed = threading.Condition(self._lock)
        """Notified whenever a request is answered or its reply has been sent."""
        self._port: int | None = None
        self._server: _Server | None = None
        self._serving: threading.Thread | None = None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None and self.errors:
            # A bug in the fake must not pass for a Plex failure in the test that met it.
            raise AssertionError("fake Plex failed:\n" + "\n".join(self.errors))

    @property
    def port(self) -> int:
        """The TCP port, chosen by the OS at the first `start()` and kept from then on."""
        if self._port is None:
            raise RuntimeError("the fake has not been started")
        return self._port

    @property
    def url(self) -> str:
        """The base URL to give `PlexServer`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_up(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    def start(self) -> None:
        """Start listening: on an OS-chosen port the first time, on the same port after."""
        self.come_up()

    def stop(self) -> None:
        """Stop listening, cut open connections and join every thread the fake started."""
        self.go_down()

    def go_down(self) -> None:
        """Simulate a crashed server: connections are refused and open ones are cut."""
        with self._lifecycle:
            server, serving = self._server, self._serving
            if server is None or serving is None:
                return
            self._server = self._serving = None
            server.close(serving)

    def come_up(self) -> None:
        """Listen again on the recorded port (a no-op while up)."""
        with self._lifecycle:
            if self._server is not None:
                return
            server = _Server(self._port or 0, self)
            self._port = server.server_address[1]
            serving = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},  # so go_down() returns in a few ms
                name=f"fake-plex-{self._port}",
                daemon=True,
            )
            self._started(serving)
            serving.start()
            self._server, self._serving = server, serving

    def threads(self) -> list[threading.Thread]:
        """The threads this fake started that are still running (none once it is stopped)."""
        with self._lock:
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            return list(self._threads)

    def _started(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)

    # ------------------------------------------------------------------ library setup

    def add_section(
        self, title: str, *, locations: Iterable[str] = ("/media",), key: int | None = None
    ) -> int:
        """Add a movie section and return its key (1, 2, ... unless *key* is given)."""
        now = int(time.time())
        with self._lock:
            if key is None:
                key = max(self._sections, default=0) + 1
            elif key in self._sections:
                raise ValueError(f"section {key} already exists")
            self._sections[key] = _Section(
                key=key,
                title=title,
                locations=tuple(locations),
                uuid=str(uuid.uuid4()),
                created_at=now,
                scanned_at=now,
            )
            return key

    def add_item(
        self,
        section_key: int,
        path: str,
        *,
        title: str | None = None,
        scanned: bool = True,
        **fields: str | Iterable[str] | None,
    ) -> int:
        """Put a movie file at *path* and return its ratingKey (1000, 1001, ...).

        *fields* are the item's other fields by key: a string (or None) for a field of one
        value, names for a field of tags (``summary="...", genres=["Drama"]``); a date must be
        YYYY-MM-DD. With ``scanned=False`` the file exists but Plex has not scanned it yet: it
        stays out of listings and /library/metadata until a scan reaching it completes.
        """
        values, tags = self._schema.initial(fields)
        now = int(time.time())
        with self._lock:
            if section_key not in self._sections:
                raise KeyError(f"no section {section_key}")
            # Two sections may hold the same file (that makes a path ambiguous); one may not.
            if any(i.path == path and i.section_key == section_key for i in self._items.values()):
                raise ValueError(f"an item of section {section_key} already has the file {path}")
            rating_key = self._next_rating_key
            self._next_rating_key += 1
            self._part_ids[rating_key] = self._next_part_id
            self._next_part_id += 1
            self._items[rating_key] = FakeItem(
                rating_key=rating_key,
                section_key=section_key,
                path=path,
                title=title if title is not None else _title_from(path),
                values=values,
                tags=tags,
                scanned=scanned,
                added_at=now,
                updated_at=now,
            )
            return rating_key

    def rematch(self, rating_key: int) -> int:
        """Give an item a new ratingKey, as Plex does when a file is removed and scanned again;
        returns the new key (the old one answers 404 from now on).
        """
        with self._lock:
            item = self._items.pop(rating_key)
            new_key = self._next_rating_key
            self._next_rating_key += 1
            self._part_ids[new_key] = self._part_ids.pop(rating_key)
            self._items[new_key] = attrs.evolve(item, rating_key=new_key)
            return new_key

    def item(self, rating_key: int) -> FakeItem:
        """A snapshot of the item with *rating_key* (scanned or not); KeyError if none."""
        with self._lock:
            self._settle_scans()
            return self._items[rating_key].copy()

    def item_by_path(self, path: str) -> FakeItem | None:
        """A snapshot of the item whose file is *path*, or None."""
        with self._lock:
            self._settle_scans()
            return next((i.copy() for i in self._items.values() if i.path == path), None)

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        retry_after: str | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next *count* matching requests with *status* and a short text body.

        A request matches if no *path_prefix* is given or its path starts with it, and no
        *method* is given or it uses that HTTP method (so do the other faults). These counted
        faults take precedence over the lasting ones (`storm` and the body faults).
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        self._add_fault(
            _Fault(
                "fail_next",
                path_prefix,
                count,
                status=status,
                retry_after=retry_after,
                method=method,
            )
        )

    def storm(
        self,
        status: int,
        *,
        retry_after: str | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer every matching request with *status* until `clear_faults()`."""
        self._add_fault(
            _Fault(
                "storm", path_prefix, None, status=status, retry_after=retry_after, method=method
            )
        )

    def slow_first_byte(
        self, seconds: float, *, path_prefix: str | None = None, method: str | None = None
    ) -> None:
        """Wait *seconds* before sending anything, for matching requests.

        The request itself is carried out at once (an edit is applied), as by a slow Plex; the
        request stays `in_flight` until its reply has been sent.
        """
        self._add_fault(
            _Fault("slow_first_byte", path_prefix, None, seconds=seconds, method=method)
        )

    def stall_mid_body(
        self, seconds: float, *, path_prefix: str | None = None, method: str | None = None
    ) -> None:
        """Send the headers and half the body, wait *seconds*, then close the connection.

        As with `slow_first_byte`, the request itself is carried out.
        """
        self._add_fault(_Fault("stall_mid_body", path_prefix, None, seconds=seconds, method=method))

    def malformed_xml(self, *, path_prefix: str | None = None, method: str | None = None) -> None:
        """Answer matching requests with 200 and a truncated XML body."""
        self._add_fault(_Fault("malformed_xml", path_prefix, None, method=method))

    def empty_body(self, *, path_prefix: str | None = None, method: str | None = None) -> None:
        """Answer matching requests with 200 and no body at all."""
        self._add_fault(_Fault("empty_body", path_prefix, None, method=method))

    def html_body(self, *, path_prefix: str | None = None, method: str | None = None) -> None:
        """Answer matching requests with 200 and an HTML page, as a captive portal would."""
        self._add_fault(_Fault("html_body", path_prefix, None, method=method))

    def clear_faults(self) -> None:
        """Remove every fault; the next request is answered normally."""
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------------ inspection

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[Recorded]:
        """The recorded requests whose path starts with *path_prefix* (and of *method*)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.startswith(path_prefix) and (method is None or r.method == method)
            ]

    def edits(self, rating_key: int | None = None) -> list[Recorded]:
        """The PUT edits that were applied, optionally only those of one item.

        An edit whose reply was delayed or cut (`slow_first_byte`, `stall_mid_body`) was
        applied although the client may have seen it fail.
        """
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == "PUT"
                and r.status == HTTPStatus.OK
                and r.fault in _DELIVERY_FAULTS
                and r.rating_keys
                and (rating_key is None or rating_key in r.rating_keys)
            ]

    def clear_requests(self) -> None:
        """Forget the recorded requests and reset `in_flight_max`."""
        with self._lock:
            self.requests.clear()
            self._in_flight_max = max(self._flight.values(), default=0)

    @property
    def in_flight_max(self) -> int:
        """The most requests seen in flight at once on one ratingKey (edits and item reads)."""
        with self._lock:
            return self._in_flight_max

    def in_flight(
        self, *, method: str | None = None, path_prefix: str | None = None
    ) -> list[Recorded]:
        """The answered requests whose reply has not been fully sent yet, oldest first.

        What such a request asks is already done (an edit is applied); the client has not heard
        so. With `slow_first_byte` a request stays here for the whole delay, even if its client
        has given up or died meanwhile. (A request leaves the list just after its last byte is
        written, so a fast client may read the reply a moment before that.)
        """
        with self._lock:
            return [r for r in self._unreplied if _selects(path_prefix, method, r.path, r.method)]

    def wait_in_flight(
        self,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        since: float = 0.0,
        timeout: float = 10.0,
    ) -> Recorded:
        """Wait until a matching request that arrived at or after *since* (`time.time()`) is
        `in_flight`, and return it; TimeoutError if none is within *timeout* seconds.

        Pair it with `slow_first_byte` to catch a client while it waits for Plex's reply.
        """

        def arrived() -> Recorded | None:
            return next(
                (
                    r
                    for r in self.in_flight(method=method, path_prefix=path_prefix)
                    if r.at >= since
                ),
                None,
            )

        with self._changed:
            found = self._changed.wait_for(arrived, timeout)
        if found is None:
            what = f"{method or 'any'} request to {path_prefix or 'any path'}"
            raise TimeoutError(f"no {what} in flight within {timeout} s")
        return found

    # ------------------------------------------------------------------ answering requests

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _receive(self, method: str, raw_path: str, headers: Message) -> _Incoming:
        """Parse a request, splitting the token off everything that will be stored."""
        at = time.time()
        parts = urlsplit(raw_path)
        token: str | None = headers.get("X-Plex-Token")
        query: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name.lower() == "x-plex-token":
                token = token or value
            else:
                query[name] = self._redact(value)
        kept = {
            name: self._redact(value)
            for name, value in headers.items()
            if name.lower() != "x-plex-token"
        }
        path = self._redact(parts.path.rstrip("/") or "/")
        return _Incoming(at, method, path, query, kept, token, _addressed(method, path, query))

    def _redact(self, value: str) -> str:
        return value.replace(self._token, TOKEN_PLACEHOLDER)

    @contextlib.contextmanager
    def _in_flight(self, rating_keys: tuple[int, ...]) -> Iterator[None]:
        """Count the request as in flight on its items from arrival until its reply is sent."""
        keys = set(rating_keys)
        with self._lock:
            self._flight.update(keys)
            self._in_flight_max = max([self._in_flight_max, *(self._flight[k] for k in keys)])
        try:
            yield
        finally:
            with self._lock:
                self._flight.subtract(keys)

    def _answer(self, incoming: _Incoming) -> tuple[_Reply, Recorded]:
        """Decide the reply (an injected fault, a 401, or the route's answer) and record it.

        The record stays `in_flight` until `_replied` is called with it.
        """
        with self._lock:
            fault = self._take_fault(incoming.method, incoming.path)
            # The timing faults spoil how a normal reply is delivered, not what it says.
            if fault is None:
                reply = self._reply_or_500(incoming)
            elif fault.kind == "slow_first_byte":
                reply = attrs.evolve(
                    self._reply_or_500(incoming), delay=fault.seconds, fault=fault.kind
                )
            elif fault.kind == "stall_mid_body":
                reply = attrs.evolve(
                    self._reply_or_500(incoming), stall=fault.seconds, fault=fault.kind
                )
            else:
                reply = _canned_reply(fault)
            recorded = Recorded(
                at=incoming.at,
                method=incoming.method,
                path=incoming.path,
                query=incoming.query,
                headers=incoming.headers,
                status=int(reply.status),
                rating_keys=incoming.rating_keys,
                fault=reply.fault,
            )
            self.requests.append(recorded)
            self._unreplied.append(recorded)
            self._changed.notify_all()
            return reply, recorded

    def _replied(self, recorded: Recorded) -> None:
        """The reply to *recorded* has been sent (or abandoned): it is no longer in flight."""
        with self._lock:
            # By identity: two identical requests are still two requests.
            self._unreplied = [r for r in self._unreplied if r is not recorded]
            self._changed.notify_all()

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        """The fault for a *method* request to *path*: a counted one first, and use one of its
        count.
        """
        matching = [f for f in self._faults if f.matches(method, path)]
        for fault in matching:
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return next(iter(matching), None)

    def _reply_or_500(self, incoming: _Incoming) -> _Reply:
        try:
            return self._authorized_reply(incoming)
        except Exception:  # a fake bug: reported through `errors`, never passed off as Plex's
            self.errors.append(traceback.format_exc())
            return _html_reply(HTTPStatus.INTERNAL_SERVER_ERROR, "fake Plex bug")

    def _authorized_reply(self, incoming: _Incoming) -> _Reply:
        # Like Plex, /identity answers anyone: it is the cheap health check.
        if incoming.path != "/identity" and incoming.token != self._token:
            return _html_reply(HTTPStatus.UNAUTHORIZED)
        try:
            return self._route(incoming)
        except _Rejected as rejected:
            return _html_reply(rejected.status, rejected.detail)

    def _route(self, incoming: _Incoming) -> _Reply:
        self._settle_scans()
        fixed: dict[tuple[str, str], Callable[[], ET.Element]] = {
            ("GET", "/"): self._root,
            ("GET", "/identity"): self._identity,
            ("GET", "/library"): self._library,
            ("GET", "/library/sections"): self._sections_xml,
            ("GET", "/activities"): self._activities,
        }
        build = fixed.get((incoming.method, incoming.path))
        if build is not None:
            return _Reply(HTTPStatus.OK, _xml(build()))
        if match := _SECTION_PATH.fullmatch(incoming.path):
            section = self._sections.get(int(match["section"]))
            if section is None:
                raise _Rejected(HTTPStatus.NOT_FOUND, "no such section")
            action = (incoming.method, match["action"])
            if action == ("GET", "all"):
                return _Reply(HTTPStatus.OK, _xml(self._listing(section, incoming)))
            if action == ("PUT", "all"):
                self._edit(section, incoming.query)
                return _Reply(HTTPStatus.OK)
            if action == ("GET", "refresh"):
                self._refresh(section, incoming.query.get("path"))
                return _Reply(HTTPStatus.OK)
        if incoming.method == "GET" and _METADATA_PATH.fullmatch(incoming.path):
            return _Reply(HTTPStatus.OK, _xml(self._metadata(incoming.rating_keys)))
        raise _Rejected(HTTPStatus.NOT_FOUND)

    # ------------------------------------------------------------------ the XML documents

    def _root(self) -> ET.Element:
        return _element(
            "MediaContainer",
            size=0,
            allowSync=0,
            friendlyName=self.friendly_name,
            machineIdentifier=self.machine_identifier,
            version=VERSION,
            myPlex=0,
            multiuser=0,
            platform="Linux",
            platformVersion="fake",
            transcoderActiveVideoSessions=0,
            updatedAt=int(time.time()),
        )

    def _identity(self) -> ET.Element:
        return _element(
            "MediaContainer",
            size=0,
            claimed=0,
            machineIdentifier=self.machine_identifier,
            version=VERSION,
        )

    def _library(self) -> ET.Element:
        # Real Plex lists entry points here; plexapi reads only the container and then asks
        # /library/sections for the sections themselves.
        root = _element(
            "MediaContainer",
            size=1,
            allowSync=0,
            identifier="com.plexapp.plugins.library",
            mediaTagPrefix="/system/bundle/media/flags/",
            title1="Plex Library",
        )
        _element("Directory", root, key="sections", title="Library Sections")
        return root

    def _sections_xml(self) -> ET.Element:
        root = _element(
            "MediaContainer", size=len(self._sections), allowSync=0, title1="Plex Library"
        )
        for section in self._sections.values():
            refreshing = any(scan.section_key == section.key for scan in self._scans)
            directory = _element(
                "Directory",
                root,
                allowSync=1,
                key=section.key,
                type="movie",
                title=section.title,
                agent="tv.plex.agents.movie",
                scanner="Plex Movie",
                language="en-US",
                uuid=section.uuid,
                refreshing=int(refreshing),
                updatedAt=section.scanned_at,
                createdAt=section.created_at,
                scannedAt=section.scanned_at,
            )
            for number, location in enumerate(section.locations, start=1):
                _element("Location", directory, id=section.key * 100 + number, path=location)
        return root

    def _activities(self) -> ET.Element:
        root = _element("MediaContainer", size=len(self._scans))
        for scan in self._scans:
            activity = _element(
                "Activity",
                root,
                uuid=scan.uuid,
                type="library.update.section",
                cancellable=0,
                userID=1,
                title=f"Scanning {self._sections[scan.section_key].title}",
                progress=0,
            )
            _element("Context", activity, librarySectionID=scan.section_key)
        return root

    def _listing(self, section: _Section, incoming: _Incoming) -> ET.Element:
        # A movie section holds only movies (type 1): asking for shows or episodes finds none.
        items = [] if incoming.query.get("type", "1") != "1" else self._visible(section.key)
        start = _container_param(incoming, "X-Plex-Container-Start", 0)
        size = _container_param(incoming, "X-Plex-Container-Size", len(items))
        page = items[start : start + size]
        root = _element(
            "MediaContainer",
            size=len(page),
            totalSize=len(items),
            offset=start,
            allowSync=1,
            identifier="com.plexapp.plugins.library",
            librarySectionID=section.key,
            librarySectionTitle=section.title,
            librarySectionUUID=section.uuid,
            title1=section.title,
            viewGroup="movie",
        )
        for item in page:
            self._video(root, item, full=False)
        return root

    def _metadata(self, rating_keys: tuple[int, ...]) -> ET.Element:
        items = [
            self._items[key]
            for key in rating_keys
            if key in self._items and self._items[key].scanned
        ]
        if not items:
            raise _Rejected(HTTPStatus.NOT_FOUND, "no such item")
        sections = {item.section_key for item in items}
        # fetchItems stamps the container's section on every item: only name it if it is one.
        section = self._sections[sections.pop()] if len(sections) == 1 else None
        root = _element(
            "MediaContainer",
            size=len(items),
            allowSync=1,
            identifier="com.plexapp.plugins.library",
            librarySectionID=section and section.key,
            librarySectionTitle=section and section.title,
            librarySectionUUID=section and section.uuid,
        )
        for item in items:
            self._video(root, item, full=True)
        return root

    def _video(self, parent: ET.Element, item: FakeItem, *, full: bool) -> None:
        """An item as a `<Video>`: complete, or as a listing shows it (few tags, no text)."""
        section = self._sections[item.section_key]
        details: dict[str, str | None] = {}
        if full:
            details = {f.plex: item.values[f.key] for f in self._schema.value_fields}
            released = details.get(RELEASE_DATE)
            details["year"] = released and released[:4]
        video = _element(
            "Video",
            parent,
            ratingKey=item.rating_key,
            key=f"/library/metadata/{item.rating_key}",
            guid=f"local://{item.rating_key}",
            type="movie",
            title=item.title,
            librarySectionID=section.key,
            librarySectionTitle=section.title,
            librarySectionKey=f"/library/sections/{section.key}",
            addedAt=item.added_at,
            updatedAt=item.updated_at,
            **details,
        )
        part_id = self._part_ids[item.rating_key]
        media = _element("Media", video, id=part_id)
        _element("Part", media, id=part_id, key=f"/library/parts/{part_id}/file", file=item.path)
        for spec in self._schema.tag_fields:
            tags = item.tags[spec.key]
            for value in tags if full else tags[: LISTING_TAG_LIMITS.get(spec.plex, 0)]:
                _element(self._schema.elements[spec.key], video, tag=value)
        if full:
            for spec in self._schema.fields:
                if spec.key in item.locked:
                    _element("Field", video, name=spec.plex, locked=1)

    # ------------------------------------------------------------------ library changes

    def _visible(self, section_key: int) -> list[FakeItem]:
        """The section's scanned items, by ratingKey, so pages never shift under a client."""
        return [
            item
            for key, item in sorted(self._items.items())
            if item.section_key == section_key and item.scanned
        ]

    def _edit(self, section: _Section, query: dict[str, str]) -> None:
        """Apply one PUT edit to every item in `id`: all of it or, on any error, none of it."""
        if query.get("type") != "1":
            raise _Rejected(HTTPStatus.BAD_REQUEST, "type must be 1 (movie)")
        ids = query.get("id", "")
        if not re.fullmatch(r"\d+(,\d+)*", ids):
            raise _Rejected(HTTPStatus.BAD_REQUEST, "id must list ratingKeys")
        items: list[FakeItem] = []
        for key in ids.split(","):
            item = self._items.get(int(key))
            if item is None or not item.scanned or item.section_key != section.key:
                raise _Rejected(HTTPStatus.NOT_FOUND, "no such item in this section")
            items.append(item)
        edit = _Edit.parse(query, self._schema)
        now = int(time.time())
        for item in items:
            edit.apply(item, now)

    def _refresh(self, section: _Section, folder: str | None) -> None:
        """Start a scan of *folder* (or the whole section) that completes after `scan_delay`."""
        reached = frozenset(
            key
            for key, item in self._items.items()
            if item.section_key == section.key
            and not item.scanned
            and (folder is None or _covers(folder, item.path))
        )
        due_at = time.monotonic() + self.scan_delay
        self._scans.append(_Scan(section.key, due_at, reached, str(uuid.uuid4())))
        self._settle_scans()

    def _settle_scans(self) -> None:
        """Complete the scans whose time has come: their items become visible."""
        now = time.monotonic()
        for scan in [scan for scan in self._scans if scan.due_at <= now]:
            for key in scan.rating_keys:
                self._items[key].scanned = True
            self._sections[scan.section_key].scanned_at = int(time.time())
            self._scans.remove(scan)


@define
class _Edit:
    """The changes one PUT edit asks for, checked before any item is touched."""

    values: dict[str, str | None] = field(factory=dict)
    """Field key -> new value (None clears it)."""
    locks: dict[str, bool] = field(factory=dict)
    """Field key -> whether it is now locked."""
    set_tags: dict[str, list[str]] = field(factory=dict)
    remove_tags: dict[str, list[str]] = field(factory=dict)

    @classmethod
    def parse(cls, query: dict[str, str], schema: Schema) -> _Edit:
        """Read Plex's edit parameters; other parameters are ignored, as Plex ignores them."""
        edit = cls()
        indexed: dict[str, list[tuple[int, str]]] = {}
        for name, value in query.items():
            plex_field, _, suffix = name.partition(".")
            spec = schema.by_plex.get(plex_field)
            if spec is not None and suffix == "value" and not spec.is_list:
                edit.values[spec.key] = _field_value(spec, value)
            elif spec is not None and suffix == "locked":
                if value not in {"0", "1"}:
                    raise _Rejected(HTTPStatus.BAD_REQUEST, f"{name} must be 0 or 1")
                edit.locks[spec.key] = value == "1"
            elif (match := _SET_TAG.fullmatch(name)) and (key := _tags_key(schema, match)):
                indexed.setdefault(key, []).append((int(match["index"]), value))
            elif (match := _REMOVE_TAGS.fullmatch(name)) and (key := _tags_key(schema, match)):
                # plexapi quotes each tag, joins them with commas, then quotes the whole value:
                # after the query is decoded once, split on commas and decode each tag again.
                edit.remove_tags[key] = [unquote(tag) for tag in value.split(",")]
        for key, entries in indexed.items():
            ordered = [value for _, value in sorted(entries) if value]
            edit.set_tags[key] = list(dict.fromkeys(ordered))  # Plex keeps a tag once
        return edit

    def apply(self, item: FakeItem, now: int) -> None:
        """Change *item*: values, then the exact tag lists, then removals, then locks."""
        for key, value in self.values.items():
            if key != TITLE:
                item.values[key] = value
            else:  # Plex falls back to the file name
                item.title = _title_from(item.path) if value is None else value
        for key, tags in self.set_tags.items():
            item.tags[key] = list(tags)
        for key, tags in self.remove_tags.items():
            item.tags[key] = [tag for tag in item.tags[key] if tag not in tags]
        for key, locked in self.locks.items():
            if locked:
                item.locked.add(key)
            else:
                item.locked.discard(key)
        item.updated_at = now


def _tags_key(schema: Schema, match: re.Match[str]) -> str | None:
    """The key of the field of tags a matched parameter names, if it names one."""
    spec = schema.by_plex.get(match["field"])
    return spec.key if spec is not None and spec.is_list else None


def _field_value(spec: Field, value: str) -> str | None:
    """A field's new value: empty clears it; a date must be YYYY-MM-DD."""
    if not value:
        return None
    if spec.kind is Kind.DATE and not _is_plex_date(value):
        raise _Rejected(HTTPStatus.BAD_REQUEST, f"{spec.plex} must be YYYY-MM-DD")
    return value


def _is_plex_date(value: str) -> bool:
    """Whether *value* is a real date written YYYY-MM-DD, the form plexapi sends and parses."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _addressed(method: str, path: str, query: dict[str, str]) -> tuple[int, ...]:
    """The ratingKeys a request is about: a PUT edit's `id` list or a metadata path's keys."""
    keys = ""
    if method == "PUT" and (match := _SECTION_PATH.fullmatch(path)) and match["action"] == "all":
        keys = query.get("id", "")
    elif method == "GET" and (match := _METADATA_PATH.fullmatch(path)):
        keys = match["keys"]
    return tuple(int(key) for key in keys.split(",") if key.isdigit())


def _container_param(incoming: _Incoming, name: str, default: int) -> int:
    """A paging value from the query string or, as plexapi sends it, from a header."""
    value = incoming.query.get(name)
    if value is None:
        value = next((v for k, v in incoming.headers.items() if k.lower() == name.lower()), None)
    if value is None:
        return default
    if not value.isdigit():
        raise _Rejected(HTTPStatus.BAD_REQUEST, f"{name} must be a number")
    return int(value)


def _title_from(path: str) -> str:
    """The title Plex gives a file it knows nothing about: its name without the extension."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def _html_reply(status: HTTPStatus, detail: str = "") -> _Reply:
    return _Reply(status, _error_page(status, detail), "text/html;charset=utf-8")


def _canned_reply(fault: _Fault) -> _Reply:
    """The reply a content fault (status or broken body) sends instead of the real one."""
    if fault.kind in {"fail_next", "storm"}:
        retry_after = () if fault.retry_after is None else (("Retry-After", fault.retry_after),)
        body = f"fake Plex fault: {fault.status}\n".encode()
        return _Reply(fault.status, body, "text/plain;charset=utf-8", retry_after, fault=fault.kind)
    bodies = {
        "malformed_xml": (b'<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer size="1"><Vid'),
        "empty_body": b"",
        "html_body": (
            b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
            b"<body><p>Please sign in to continue.</p></body></html>"
        ),
    }
    content_type = "text/html;charset=utf-8" if fault.kind == "html_body" else XML_CONTENT_TYPE
    return _Reply(HTTPStatus.OK, bodies[fault.kind], content_type, fault=fault.kind)
