"""What the fake heard: every request, recorded without the token, and the replies still on
their way.

A request is parsed once (`receive`), with the token split off everything that will be kept; it
is then `in_flight` from the moment it is answered until its reply has been sent, which is what
lets a test catch a client while it waits, and count the requests on one item at once.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import Counter
from http import HTTPStatus
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, urlsplit

from attrs import frozen

from tests.fake_plex.faults import DELIVERY_FAULTS, selects

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import Message

    from tests.fake_plex.server import Reply

TOKEN_PLACEHOLDER: Final = "[X-Plex-Token]"
"""What replaces the token if a client ever puts it anywhere else in a request."""

SECTION_PATH: Final = re.compile(r"/library/sections/(?P<section>\d+)/(?P<action>all|refresh)")
METADATA_PATH: Final = re.compile(r"/library/metadata/(?P<keys>\d+(?:,\d+)*)")
UPLOAD_PATH: Final = re.compile(r"/library/metadata/(?P<key>\d+)/(?P<endpoint>[a-z]+)")
RATE_PATH: Final = "/:/rate"


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


@frozen
class Incoming:
    """A request as received: redacted, but with the token it carried, to be checked."""

    at: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    token: str | None
    rating_keys: tuple[int, ...]
    body: bytes = b""
    """The request's body (an upload's image); not recorded."""


def receive(
    method: str, raw_path: str, headers: Message, token: str, body: bytes = b""
) -> Incoming:
    """Parse a request, splitting the token off everything that will be stored; *token* is the
    one to redact wherever else it appears.
    """

    def redact(value: str) -> str:
        return value.replace(token, TOKEN_PLACEHOLDER)

    at = time.time()
    parts = urlsplit(raw_path)
    sent: str | None = headers.get("X-Plex-Token")
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() == "x-plex-token":
            sent = sent or value
        else:
            query[name] = redact(value)
    kept = {
        name: redact(value) for name, value in headers.items() if name.lower() != "x-plex-token"
    }
    path = redact(parts.path.rstrip("/") or "/")
    keys = _addressed(method, path, query)
    return Incoming(at, method, path, query, kept, sent, keys, body)


def _addressed(method: str, path: str, query: dict[str, str]) -> tuple[int, ...]:
    """The ratingKeys a request is about: a PUT edit's `id` list, a rating's `key`, an upload's
    item or a metadata path's keys.
    """
    keys = ""
    if method == "PUT" and (match := SECTION_PATH.fullmatch(path)) and match["action"] == "all":
        keys = query.get("id", "")
    elif method == "PUT" and path == RATE_PATH:
        keys = query.get("key", "")
    elif method == "POST" and (match := UPLOAD_PATH.fullmatch(path)):
        keys = match["key"]
    elif method == "GET" and (match := METADATA_PATH.fullmatch(path)):
        keys = match["keys"]
    return tuple(int(key) for key in keys.split(",") if key.isdigit())


class RequestLog:
    """`FakePlex`'s record of the requests it answered. All methods are thread-safe."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self.requests: list[Recorded] = []
        """Every request received while up, in order of arrival, without the token."""
        self._flight: Counter[int] = Counter()
        self._in_flight_max = 0
        self._unreplied: list[Recorded] = []
        self._changed = threading.Condition(lock)
        """Notified whenever a request is answered or its reply has been sent."""

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
                and r.fault in DELIVERY_FAULTS
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
            return [r for r in self._unreplied if selects(path_prefix, method, r.path, r.method)]

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

    def _record(self, incoming: Incoming, reply: Reply) -> Recorded:
        """Record the answer to *incoming*; it stays `in_flight` until `_replied`."""
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
        with self._lock:
            self.requests.append(recorded)
            self._unreplied.append(recorded)
            self._changed.notify_all()
        return recorded

    def _replied(self, recorded: Recorded) -> None:
        """The reply to *recorded* has been sent (or abandoned): it is no longer in flight."""
        with self._lock:
            # By identity: two identical requests are still two requests.
            self._unreplied = [r for r in self._unreplied if r is not recorded]
            self._changed.notify_all()
