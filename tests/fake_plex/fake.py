"""`FakePlex`: the library, the faults, the request log and the HTTP side put together, and the
routes that answer each request.

A request goes: `server` hands it to `FakePlex.exchange`; `records.receive` parses it without
the token; a fault may spoil the reply (`faults`); otherwise the token is checked and the route
asks the library (`library`) and renders the answer (`xml`); the request is recorded and stays
in flight until the handler has sent the reply.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import traceback
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, Self

import attrs

from shell.fields import FIELDS, Field
from tests.fake_plex import xml
from tests.fake_plex.capacity import Capacity
from tests.fake_plex.faults import FaultInjection, spoil
from tests.fake_plex.items import FakeItem, Schema
from tests.fake_plex.library import Library, Rejected, Section
from tests.fake_plex.records import (
    METADATA_PATH,
    RATE_PATH,
    SECTION_PATH,
    UPLOAD_PATH,
    Incoming,
    Recorded,
    RequestLog,
    receive,
)
from tests.fake_plex.server import PlexHandler, Reply
from tests.local_server import Listener

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from email.message import Message
    from types import TracebackType
    from xml.etree import ElementTree as ET


TV_SECTION: Final = 20
"""The key of the show section every fake starts with ("TV Shows", over /tv)."""
MUSIC_SECTION: Final = 21
"""The key of the music section every fake starts with ("Music", over /music)."""


class FakePlex(FaultInjection, RequestLog):
    """A Plex Media Server on 127.0.0.1 that real plexapi talks to, with faults on demand.

    Like most real servers it has libraries besides the movies plexsync edits: it starts with a
    show section (`TV_SECTION`) and a music section (`MUSIC_SECTION`), each listing one entry
    without media. Tests add the movie sections (numbered 1, 2, ...) and their items, whose
    fields are *fields* (every row of `shell.fields.FIELDS` unless given). Every endpoint except
    /identity needs *token*. All methods are thread-safe and may be called while the server
    runs. Use it as a context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self,
        token: str,
        *,
        fields: Iterable[Field] = FIELDS,
        machine_identifier: str = "fakeplex-0001",
        friendly_name: str = "Fake Plex",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if not token:
            raise ValueError("the fake needs a token to check requests against")
        lock = threading.RLock()
        FaultInjection.__init__(self, lock)
        RequestLog.__init__(self, lock)
        self._token = token
        self.machine_identifier = machine_identifier
        self.friendly_name = friendly_name
        self.scan_delay = 0.0
        """Seconds (real time) between a scan request and the scanned items appearing."""
        self.listing_media = True
        """Whether movie listings show each item's `<Media>` and `<Part>`s, as real servers do.
        False answers as a hand-trimmed capture does; plexapi then fetches each item again to
        read its files."""
        self.errors: list[str] = []
        """Tracebacks of the fake's own failures; `__exit__` raises if any were seen."""
        self._library = Library(Schema(tuple(fields)))
        self._library.add_section("TV Shows", ("/tv",), TV_SECTION, "show")
        self._library.add_entry(TV_SECTION, 30, "A Show")
        self._library.add_section("Music", ("/music",), MUSIC_SECTION, "artist")
        self._library.add_entry(MUSIC_SECTION, 300, "An Artist")
        self._listener = Listener(self, PlexHandler, name="fake-plex", tls=tls)
        self.capacity = Capacity()
        """How many requests it serves at once, and how long each takes (unlimited at first)."""

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
        return self._listener.port

    @property
    def url(self) -> str:
        """The base URL to give `PlexServer` (https when it speaks TLS)."""
        return f"{'https' if self._listener.tls else 'http'}://127.0.0.1:{self.port}"

    def present(self, tls: ssl.SSLContext | None) -> None:
        """Speak TLS with *tls* (a server context holding a certificate), or plain HTTP with
        None, from the next connection on: the server restarts on its port, as Plex does when
        its certificate is renewed.
        """
        self._listener.down()
        self._listener.tls = tls
        self._listener.up()

    @property
    def is_up(self) -> bool:
        """Whether the server is accepting connections."""
        return self._listener.is_up

    def start(self) -> None:
        """Start listening: on an OS-chosen port the first time, on the same port after."""
        self.come_up()

    def stop(self) -> None:
        """Stop listening, cut open connections, join every thread the fake started and let
        go of the port.
        """
        self._listener.release()

    def go_down(self) -> None:
        """Simulate a crashed server: connections are refused and open ones are cut."""
        self._listener.down()

    def come_up(self) -> None:
        """Listen again on the recorded port (a no-op while up)."""
        self._listener.up()

    def threads(self) -> list[threading.Thread]:
        """The threads this fake started that are still running (none once it is stopped)."""
        return self._listener.threads()

    # ------------------------------------------------------------------ library setup

    def add_section(
        self,
        title: str,
        *,
        locations: Iterable[str] = ("/media",),
        key: int | None = None,
        kind: str = "movie",
    ) -> int:
        """Add a section and return its key (the lowest free one, 1, 2, ..., unless *key* is
        given). *kind* is Plex's name for what it holds: "movie", "show" or "artist" (music).
        """
        with self._lock:
            return self._library.add_section(title, locations, key, kind)

    def add_item(
        self,
        section_key: int,
        path: str,
        *,
        title: str | None = None,
        scanned: bool = True,
        parts: Iterable[str] = (),
        versions: Iterable[Iterable[str]] = (),
        **fields: str | Iterable[str] | None,
    ) -> int:
        """Put a movie file at *path* in a movie section and return its ratingKey (1000, ...).

        *parts* are further files of the same version (a film split in two: ``cd1``, ``cd2``);
        each of *versions* is another version of the film (another cut or quality), as its
        files. *fields* are the item's other fields by key: a string (or None) for a field of
        one value, names for a field of tags (``summary="...", genres=["Drama"]``); a date must
        be YYYY-MM-DD. With ``scanned=False`` the files exist but Plex has not scanned them yet:
        the item stays out of listings and /library/metadata until a scan reaching it completes.
        """
        with self._lock:
            return self._library.add_item(
                section_key,
                path,
                title,
                fields,
                scanned=scanned,
                parts=parts,
                versions=versions,
            )

    def rematch(self, rating_key: int) -> int:
        """Give an item a new ratingKey, as Plex does when a file is removed and scanned again;
        returns the new key (the old one answers 404 from now on).
        """
        with self._lock:
            return self._library.rematch(rating_key)

    def item(self, rating_key: int) -> FakeItem:
        """A snapshot of the item with *rating_key* (scanned or not); KeyError if none."""
        with self._lock:
            self._library.settle_scans()
            return self._library.items[rating_key].copy()

    def item_by_path(self, path: str) -> FakeItem | None:
        """A snapshot of the item one of whose files is *path*, or None."""
        with self._lock:
            self._library.settle_scans()
            items = self._library.items.values()
            return next((i.copy() for i in items if path in i.files), None)

    # ------------------------------------------------------------------ answering requests

    @contextlib.contextmanager
    def exchange(
        self, method: str, raw_path: str, headers: Message, body: bytes = b""
    ) -> Iterator[Reply]:
        """Answer one request: the reply, in flight until it starts to go out (``Reply.sent``,
        called by the sender) or the `with` block that sends it ends, whichever comes first.

        Not later: a client that has its answer may send its next request at once, before this
        thread has left the `with` block, and the two must not count as overlapping.
        """
        incoming = receive(method, raw_path, headers, self._token, body)
        flight = contextlib.ExitStack()
        flight.enter_context(self._in_flight(incoming.rating_keys))
        served = self.capacity.take_turn(incoming.path)
        reply, recorded = self._answer(incoming) if served else self._busy(incoming)
        finished: list[bool] = []

        def sent() -> None:
            if not finished:
                finished.append(True)
                flight.close()
                self._replied(recorded)

        try:
            yield attrs.evolve(reply, sent=sent)
        finally:
            sent()

    def report_error(self, text: str) -> None:
        """Keep a failure of the fake itself, for `__exit__` to raise."""
        with self._lock:
            self.errors.append(text)

    def _answer(self, incoming: Incoming) -> tuple[Reply, Recorded]:
        """Decide the reply (an injected fault, a 401, or the route's answer) and record it."""
        with self._lock:
            fault = self._take_fault(incoming.method, incoming.path)
            reply = spoil(fault, lambda: self._locked_reply(incoming))
            return reply, self._record(incoming, reply)

    def _busy(self, incoming: Incoming) -> tuple[Reply, Recorded]:
        """A 503 to a request that found every turn taken (`Capacity`, told to refuse)."""
        with self._lock:
            body = b"fake Plex busy: every request it can serve at once is taken\n"
            reply = Reply(HTTPStatus.SERVICE_UNAVAILABLE, body, "text/plain;charset=utf-8")
            return reply, self._record(incoming, attrs.evolve(reply, fault="busy"))

    def _locked_reply(self, incoming: Incoming) -> Reply:
        """The route's answer, under the lock (a late request is answered from another turn)."""
        with self._lock:
            return self._reply_or_500(incoming)

    def _reply_or_500(self, incoming: Incoming) -> Reply:
        try:
            return self._authorized_reply(incoming)
        except Exception:  # a fake bug: reported through `errors`, never passed off as Plex's
            self.report_error(traceback.format_exc())
            return _html_reply(HTTPStatus.INTERNAL_SERVER_ERROR, "fake Plex bug")

    def _authorized_reply(self, incoming: Incoming) -> Reply:
        # Like Plex, /identity answers anyone: it is the cheap health check.
        if incoming.path != "/identity" and incoming.token != self._token:
            return _html_reply(HTTPStatus.UNAUTHORIZED)
        try:
            return self._route(incoming)
        except Rejected as rejected:
            return _html_reply(rejected.status, rejected.detail)

    def _route(self, incoming: Incoming) -> Reply:
        library = self._library
        library.settle_scans()
        fixed: dict[tuple[str, str], Callable[[], ET.Element]] = {
            ("GET", "/"): lambda: xml.server_root(self.friendly_name, self.machine_identifier),
            ("GET", "/identity"): lambda: xml.identity(self.machine_identifier),
            ("GET", "/library"): xml.library_root,
            ("GET", "/library/sections"): lambda: xml.sections(library),
            ("GET", "/activities"): lambda: xml.activities(library),
        }
        build = fixed.get((incoming.method, incoming.path))
        if build is not None:
            return _xml_reply(build())
        if match := SECTION_PATH.fullmatch(incoming.path):
            section = library.section(int(match["section"]))
            action = (incoming.method, match["action"])
            if action == ("GET", "all"):
                return _xml_reply(self._listing(section, incoming))
            if action == ("PUT", "all"):
                library.edit(section, incoming.query)
                return _empty_reply()
            if action == ("GET", "refresh"):
                library.refresh(section, incoming.query.get("path"), self.scan_delay)
                return _empty_reply()
        if self._rated_or_uploaded(incoming):
            return _empty_reply()
        if incoming.method == "GET" and METADATA_PATH.fullmatch(incoming.path):
            return _xml_reply(xml.metadata(library, library.found(incoming.rating_keys)))
        raise Rejected(HTTPStatus.NOT_FOUND)

    def _rated_or_uploaded(self, incoming: Incoming) -> bool:
        """Carry out a rating (`PUT /:/rate`) or an image upload, if that is what it asks."""
        if (incoming.method, incoming.path) == ("PUT", RATE_PATH):
            self._library.rate(incoming.query)
            return True
        if incoming.method == "POST" and (match := UPLOAD_PATH.fullmatch(incoming.path)):
            self._library.upload(int(match["key"]), match["endpoint"], incoming.body)
            return True
        return False

    def _listing(self, section: Section, incoming: Incoming) -> ET.Element:
        """A page of a section's listing; asking for another type than the section holds
        (movies are type 1, shows 2, artists 8) finds nothing.
        """
        library = self._library
        holds = (
            incoming.query.get("type", LISTING_TYPES[section.kind]) == LISTING_TYPES[section.kind]
        )
        start = _container_param(incoming, "X-Plex-Container-Start", 0)
        if section.kind != "movie":
            size = _container_param(incoming, "X-Plex-Container-Size", len(section.entries))
            shown = section if holds else attrs.evolve(section, entries=[])
            return xml.entries(shown, start, size)
        items = library.visible(section.key) if holds else []
        size = _container_param(incoming, "X-Plex-Container-Size", len(items))
        return xml.listing(library, section, items, start, size, with_media=self.listing_media)


LISTING_TYPES: Final = {"movie": "1", "show": "2", "artist": "8"}
"""Plex's number for what each kind of section lists, as a listing's `type` parameter."""


def _container_param(incoming: Incoming, name: str, default: int) -> int:
    """A paging value from the query string or, as plexapi sends it, from a header."""
    value = incoming.query.get(name)
    if value is None:
        value = next((v for k, v in incoming.headers.items() if k.lower() == name.lower()), None)
    if value is None:
        return default
    if not value.isdigit():
        raise Rejected(HTTPStatus.BAD_REQUEST, f"{name} must be a number")
    return int(value)


def _xml_reply(root: ET.Element) -> Reply:
    return Reply(HTTPStatus.OK, xml.document(root))


def _empty_reply() -> Reply:
    """Plex's answer to a request that changes something: 200, no body, not labelled XML."""
    return Reply(HTTPStatus.OK, b"", xml.NO_BODY_CONTENT_TYPE)


def _html_reply(status: HTTPStatus, detail: str = "") -> Reply:
    return Reply(status, xml.error_page(status, detail), xml.HTML_CONTENT_TYPE)
