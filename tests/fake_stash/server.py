"""A fake Stash on 127.0.0.1: its GraphQL endpoint, scene screenshots and its authentication.

Authentication, as Stash v0.30.1 does it (STASH.md §6; the details from Stash's Go source):
1. A request carrying an API key (header `ApiKey`, else query `apikey`) must carry the configured
   key, or it is refused with 401, whatever else it carries, even when no credentials are
   configured (the configured key is then "", which no sent key equals).
2. Otherwise the `session` cookie names a session; an unknown or expired one counts as none.
   A valid cookie is answered with a refreshed one (`Set-Cookie`, a new value).
3. Only when a username is configured is a missing user refused: 401 with an empty body on
   /graphql (and on paths with a file extension), a 302 to /login elsewhere, the screenshot
   included. /login itself answers anyone, with an HTML page.

A session lasts `max_session_age` seconds from when its cookie was minted, on the fake's clock,
which `advance()` moves forward without waiting.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import secrets
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fake_stash.api import (
    RequestContext,
    ServerSettings,
    StashAPI,
    decode_error,
    transport_not_supported,
)
from tests.fake_stash.library import HookEvent, Library, rfc3339
from tests.fake_stash.plugin_input import ServerConnection, SessionCookie, hook_stdin, task_stdin
from tests.local_server import Listener, TrackedHandler

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from email.message import Message
    from types import TracebackType

PLACEHOLDER_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1280 720">'
    b'<rect width="1280" height="720" fill="#30404d"/>'
    b'<circle cx="640" cy="360" r="150" fill="#ffffff" fill-opacity="0.25"/>'
    b'<path d="M600 290v140l120-70z" fill="#ffffff"/></svg>\n'
)
"""What the fake serves for a scene without a cover: an SVG of its own (Stash's is a different
SVG), with Stash's status and type (200, image/svg+xml)."""

_SCREENSHOT = re.compile(r"/scene/(?P<id>[^/]+)/screenshot")
_IMAGE_TYPES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True)
class Recorded:
    """One request the fake received; no key or cookie value is kept."""

    at: float
    method: str
    path: str
    """The path without query string or trailing slash."""
    auth: str
    """How it authenticated: "api_key", "bad_api_key", "cookie", "expired_cookie",
    "unknown_cookie" or "none"."""
    status: int
    operation: str | None = None
    """The GraphQL operation's name, if it has one."""
    fields: tuple[str, ...] = ()
    """The GraphQL root fields asked for (`findScene`, `configuration`, ...)."""
    mutation: bool = False
    fault: str | None = None
    """The fault that answered instead of the fake, if any."""


@dataclass(frozen=True)
class _Session:
    user: str
    visited: tuple[tuple[str, str], ...]
    issued_at: float


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    send_body: bool = True


@dataclass
class _Fault:
    kind: str
    path_prefix: str | None
    remaining: int | None
    status: int = 500
    message: str = ""
    seconds: float = 0.0


class _Handler(TrackedHandler):
    """Reads one request, lets the fake answer it, writes the answer (one request per
    connection, as HTTP/1.0: nothing lingers after `go_down()`).
    """

    def respond(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake: FakeStash = self.server.host
        reply = fake._handle(self.command, self.path, self.headers, body)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.send_body and self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = respond  # noqa: N815 - http.server's names


class FakeStash:
    """A Stash server on 127.0.0.1 with an in-memory library, for the plugin's tests.

    With no *username*, nothing is checked (a wrong API key is still refused); with one, every
    request needs the API key or a live session cookie. Use it as a context manager, or call
    `start()` and `stop()`. `library` holds the data and the helpers that change it; `hooks` the
    hook events those changes (and `sceneUpdate` mutations) would fire.
    """

    def __init__(
        self,
        *,
        username: str = "",
        api_key: str = "",
        max_session_age: int = 3600,
        utc_offset: timedelta = timedelta(hours=10),
        omit_fields: Iterable[str] = (),
        seed: int = 0,
    ) -> None:
        self.settings = ServerSettings(
            api_key=api_key, username=username, max_session_age=max_session_age
        )
        self._clock_offset = 0.0
        self.library = Library(utc_offset=utc_offset, clock=self.now, seed=seed)
        self.api = StashAPI(self.library, self.settings, omit=omit_fields)
        self.requests: list[Recorded] = []
        """Every request received while up, oldest first."""
        self.errors: list[str] = []
        """Tracebacks of the fake's own failures; `__exit__` raises if any were seen."""
        self._sessions: dict[str, _Session] = {}
        self._faults: list[_Fault] = []
        self._key_change: tuple[int, str] | None = None
        self._stopping = threading.Event()
        """Set while down: wakes the handlers waiting in a slow reply."""
        self._listener = Listener(self, _Handler, name="fake-stash")

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
            raise AssertionError("fake Stash failed:\n" + "\n".join(self.errors))

    @property
    def port(self) -> int:
        """The TCP port, chosen by the OS at the first `start()` and kept from then on."""
        return self._listener.port

    @property
    def url(self) -> str:
        """The base URL a client on this machine uses."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        """Where GraphQL requests go."""
        return f"{self.url}/graphql"

    def start(self) -> None:
        """Start listening: on an OS-chosen port the first time, on the same port after."""
        self.come_up()

    def stop(self) -> None:
        """Stop listening, join every thread the fake started and let go of the port."""
        self._stopping.set()
        self._listener.release()

    def go_down(self) -> None:
        """Make Stash unreachable: new connections are refused until `come_up()`."""
        self._stopping.set()
        self._listener.down()

    def come_up(self) -> None:
        """Listen again on the recorded port (a no-op while up)."""
        self._stopping.clear()
        self._listener.up()

    def report_error(self, text: str) -> None:
        """Take note of a failure of the fake itself (`__exit__` raises it)."""
        with self.library.lock:
            self.errors.append(text)

    # ------------------------------------------------------------------ clock

    def now(self) -> float:
        """The fake's clock (epoch seconds): real time plus what `advance()` added."""
        return time.time() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward: sessions age, new timestamps are later."""
        self._clock_offset += seconds

    # ------------------------------------------------------------------ plugin runs

    @property
    def hooks(self) -> list[HookEvent]:
        """The hook events Stash would have run, oldest first."""
        return self.library.hooks

    def session_cookie(self, visited: Iterable[tuple[str, str]] = ()) -> SessionCookie:
        """Mint the session cookie Stash hands a plugin run, carrying the (plugin, hook)
        pairs already on the call chain; it acts for the configured user.
        """
        return self._mint(self.settings.username, tuple(visited))

    def _mint(self, user: str, visited: tuple[tuple[str, str], ...]) -> SessionCookie:
        now = self.now()
        # Like a gorilla securecookie value: URL-safe base64 that starts with the mint time.
        value = base64.urlsafe_b64encode(f"{int(now)}|{secrets.token_hex(24)}".encode()).decode()
        with self.library.lock:
            self._sessions[value] = _Session(user, visited, now)
        age = self.settings.max_session_age
        expires = datetime.fromtimestamp(now + age, UTC).astimezone(self.library.tz)
        return SessionCookie(value=value, expires=rfc3339(expires), max_age=age)

    def server_connection(
        self,
        plugin_dir: str = "/root/.stash/plugins/plexsync",
        *,
        config_dir: str = "/root/.stash",
        host: str = "0.0.0.0",
        visited: Iterable[tuple[str, str]] = (),
    ) -> ServerConnection:
        """The `server_connection` Stash would send, with a fresh session cookie."""
        return ServerConnection(
            port=self.port,
            cookie=self.session_cookie(visited),
            plugin_dir=plugin_dir,
            config_dir=config_dir,
            host=host,
        )

    def hook_stdin(
        self,
        event: HookEvent,
        *,
        plugin_id: str = "plexsync",
        default_args: Mapping[str, str] | None = None,
        **connection: Any,
    ) -> bytes:
        """The stdin of *plugin_id*'s hook process for *event*, exactly as Stash writes it.

        Its cookie carries the event's call chain plus this (plugin, hook), so a mutation sent
        with it is recognised as coming from inside the hook. *connection* goes to
        `server_connection()`.
        """
        visited = (*event.visited, (plugin_id, event.type))
        conn = self.server_connection(visited=visited, **connection)
        return hook_stdin(conn, event.type, event.id, event.input, event.input_fields, default_args)

    def task_stdin(
        self,
        default_args: Mapping[str, str] | None = None,
        args_map: Mapping[str, Any] | None = None,
        **connection: Any,
    ) -> bytes:
        """The stdin of a task's process, exactly as Stash writes it."""
        return task_stdin(self.server_connection(**connection), default_args, args_map)

    # ------------------------------------------------------------------ faults

    def fail_next(self, status: int, count: int = 1, *, path_prefix: str | None = None) -> None:
        """Answer the next *count* matching requests with *status* and an empty body, before
        any authentication, as a failing proxy or a crashing server would.
        """
        self._add_fault(_Fault("fail_next", path_prefix, count, status=status))

    def error_next(self, message: str, count: int = 1) -> None:
        """Answer the next *count* valid GraphQL requests with a resolver error: HTTP 200,
        `errors: [{message, path}]`, `data: null` (as Stash does for, say, a locked database).
        """
        self._add_fault(_Fault("error_next", "/graphql", count, message=message))

    def slow(self, seconds: float, *, path_prefix: str | None = None) -> None:
        """Wait *seconds* before answering matching requests, until `clear_faults()`."""
        self._add_fault(_Fault("slow", path_prefix, None, seconds=seconds))

    def change_api_key_after(self, requests: int, key: str) -> None:
        """Answer *requests* more requests as now, then make *key* the API key, as when a user
        generates a new key (Settings > Security) while a task runs: the old key is refused.
        """
        with self.library.lock:
            self._key_change = (requests, key)

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self.library.lock:
            self._faults.clear()

    def _add_fault(self, fault: _Fault) -> None:
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("count must be at least 1")
        with self.library.lock:
            self._faults.append(fault)

    def _take_fault(self, kind: str, path: str) -> _Fault | None:
        with self.library.lock:
            for fault in self._faults:
                if fault.kind == kind and (
                    fault.path_prefix is None or path.startswith(fault.path_prefix)
                ):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
            return None

    # ------------------------------------------------------------------ inspection

    def graphql_requests(self, field: str | None = None) -> list[Recorded]:
        """The recorded GraphQL requests, or those asking for root *field*."""
        with self.library.lock:
            return [
                r
                for r in self.requests
                if r.path == "/graphql" and (field is None or field in r.fields)
            ]

    def mutations(self) -> list[Recorded]:
        """The recorded GraphQL mutations (a sync plugin should send none but configurePlugin)."""
        return [r for r in self.graphql_requests() if r.mutation]

    def count(self, path_prefix: str = "/") -> int:
        """How many requests arrived whose path starts with *path_prefix*."""
        with self.library.lock:
            return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self.library.lock:
            self.requests.clear()

    # ------------------------------------------------------------------ answering

    def _handle(self, method: str, raw_path: str, headers: Message, body: bytes) -> _Reply:
        at = self.now()
        with self.library.lock:
            if self._key_change is not None:
                left, key = self._key_change
                if left > 0:
                    self._key_change = (left - 1, key)
                else:
                    self.settings.api_key, self._key_change = key, None
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        if (slow := self._take_fault("slow", path)) is not None:
            self._stopping.wait(slow.seconds)
        if (failed := self._take_fault("fail_next", path)) is not None:
            self._record(Recorded(at, method, path, "none", failed.status, fault="fail_next"))
            return _Reply(failed.status)
        auth, visited, refused, refreshed = self._authenticate(path, parts.query, query, headers)
        if refused is not None:
            self._record(Recorded(at, method, path, auth, refused.status))
            return refused
        try:
            reply, asked = self._route(method, path, query, headers, body, visited)
        except Exception:  # a fake bug: reported through `errors`, never passed off as Stash's
            self.report_error(traceback.format_exc())
            reply, asked = _text(HTTPStatus.INTERNAL_SERVER_ERROR, "fake Stash bug"), {}
        if refreshed is not None:
            reply = _Reply(
                reply.status,
                reply.body,
                (*reply.headers, ("Set-Cookie", refreshed)),
                reply.send_body,
            )
        self._record(Recorded(at, method, path, auth, reply.status, **asked))
        return reply

    def _record(self, recorded: Recorded) -> None:
        with self.library.lock:
            self.requests.append(recorded)

    def _authenticate(
        self, path: str, raw_query: str, query: Mapping[str, list[str]], headers: Message
    ) -> tuple[str, tuple[tuple[str, str], ...], _Reply | None, str | None]:
        """(how the request authenticated, its call chain, a refusal or None, a refreshed
        Set-Cookie or None).
        """
        settings = self.settings
        key = headers.get("ApiKey") or next(iter(query.get("apikey", [])), "")
        visited: tuple[tuple[str, str], ...] = ()
        refreshed = None
        if key:
            if key != settings.api_key:
                return "bad_api_key", (), _unauthorized(), None
            auth, user = "api_key", settings.username
        else:
            auth, user, session_value = "none", "", _cookie(headers)
            with self.library.lock:
                session = self._sessions.get(session_value or "")
            if session_value and session is None:
                auth = "unknown_cookie"
            elif session is not None and self.now() - session.issued_at > settings.max_session_age:
                auth = "expired_cookie"
            elif session is not None:
                auth, user, visited = "cookie", session.user, session.visited
                refreshed = self._refresh(session)
        if settings.username and not user and not _open_to_anyone(path):
            last = path.rsplit("/", 1)[-1]
            extension = last.rpartition(".")[2] if "." in last else ""
            if path == "/graphql" or (extension and extension != "html"):
                return auth, (), _unauthorized(), None
            target = path + (f"?{raw_query}" if raw_query else "")
            location = "/login?" + urlencode({"returnURL": target})
            page = f'<a href="{location}">Found</a>.\n\n'.encode()
            return auth, (), _Reply(302, page, (("Location", location), _HTML)), None
        return auth, visited, None, refreshed

    def _refresh(self, session: _Session) -> str:
        """A new cookie value for the same session, as Stash sends back on each request."""
        cookie = self._mint(session.user, session.visited)
        expires = formatdate(self.now() + cookie.max_age, usegmt=True)
        return (
            f"session={cookie.value}; Path=/; Expires={expires}; Max-Age={cookie.max_age};"
            " SameSite=Lax"
        )

    def _route(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Message,
        body: bytes,
        visited: tuple[tuple[str, str], ...],
    ) -> tuple[_Reply, dict[str, Any]]:
        if path == "/graphql":
            return self._graphql(method, headers, body, visited)
        if path.startswith("/login"):
            return _Reply(200, b"<!doctype html><title>Login</title>", (_HTML,)), {}
        if (match := _SCREENSHOT.fullmatch(path)) and method in {"GET", "HEAD"}:
            return self._screenshot(match["id"], "t" in query, headers), {}
        return _text(HTTPStatus.NOT_FOUND, "404 page not found"), {}

    def _graphql(
        self, method: str, headers: Message, body: bytes, visited: tuple[tuple[str, str], ...]
    ) -> tuple[_Reply, dict[str, Any]]:
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if method != "POST" or content_type != "application/json":
            # Stash also serves GET queries and multipart uploads; the fake only JSON POSTs.
            reply = transport_not_supported()
        else:
            try:
                payload = json.loads(body.decode())
            except (json.JSONDecodeError, UnicodeDecodeError) as problem:
                reply = decode_error(body, problem)
            else:
                host = headers.get("Host") or f"127.0.0.1:{self.port}"
                context = RequestContext(base_url=f"http://{host}", visited=visited)
                reply = self.api.answer(payload, context)
                if reply.status == 200 and (fault := self._take_fault("error_next", "/graphql")):
                    reply = self.api.answer(payload, context, injected_error=fault.message)
                for bug in reply.bugs:
                    self.report_error("".join(traceback.format_exception(bug)))
        asked = {"operation": reply.operation, "fields": reply.fields, "mutation": reply.mutation}
        headers_out = (("Content-Type", "application/json"), ("Cache-Control", "no-store"))
        return _Reply(reply.status, json.dumps(reply.body).encode(), headers_out), asked

    def _screenshot(self, raw_id: str, has_t: bool, headers: Message) -> _Reply:
        if not raw_id.isdigit():
            return _text(HTTPStatus.BAD_REQUEST, "Bad Request")
        with self.library.lock:
            scene = self.library.scenes.get(int(raw_id))
            image = None if scene is None else scene.cover
        if scene is None:
            return _text(HTTPStatus.NOT_FOUND, "Not Found")
        image = PLACEHOLDER_SVG if image is None else image
        etag = f'"{hashlib.md5(image).hexdigest()}"'  # noqa: S324 - Stash's ETag is an MD5
        cache = "private, max-age=31536000, immutable" if has_t else "no-cache"
        out = (("Content-Type", _image_type(image)), ("ETag", etag), ("Cache-Control", cache))
        if headers.get("If-None-Match") == etag:
            return _Reply(304, b"", out[1:], send_body=False)
        return _Reply(200, image, out)


_HTML = ("Content-Type", "text/html; charset=utf-8")


def _text(status: HTTPStatus, message: str) -> _Reply:
    """Go's http.Error: the message and a newline, as plain text."""
    headers = (("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff"))
    return _Reply(int(status), f"{message}\n".encode(), headers)


def _unauthorized() -> _Reply:
    return _Reply(401, b"", (("WWW-Authenticate", "FormBased"),))


def _cookie(headers: Message) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    with contextlib.suppress(CookieError):
        jar.load(headers.get("Cookie") or "")
    morsel = jar.get("session")
    return None if morsel is None else morsel.value


def _open_to_anyone(path: str) -> bool:
    """Paths Stash serves without a login (its login page and UI assets)."""
    return path.startswith(("/login", "/assets")) or path in {"/logout", "/css"}


def _image_type(image: bytes) -> str:
    """The Content-Type Stash derives from the bytes; text (an SVG) is image/svg+xml."""
    for magic, content_type in _IMAGE_TYPES:
        if image.startswith(magic):
            return content_type
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    try:
        image.decode()
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "image/svg+xml"
