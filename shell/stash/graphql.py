"""A small client for Stash's GraphQL API and its scene screenshots, and the queries plexsync
sends.

Stash's rules kept here (STASH.md §2, §6): the address comes from the plugin's
``server_connection`` (``0.0.0.0``, Stash's default listen address, is reached at 127.0.0.1); a
request carries the session cookie Stash handed the plugin or, for long runs, the API key read
once with that cookie; ``Content-Type: application/json`` is required; validation errors are
HTTP 422, resolver errors HTTP 200 with ``errors``. Every failure becomes one ``StashError``
whose message says what went wrong in words fit for Stash's log; a refusal of the plugin's
credentials is a ``StashRefusedError``.

The client speaks HTTP with the standard library's ``http.client``, one kept-alive connection per
run: a hook runs inside the user's save, and importing ``requests`` alone would cost it more
than everything else it imports.

The scene query asks for ``groups`` (Stash v0.27 and later); a Stash that refuses that field is
asked again for ``movies`` (v0.24 to v0.26), once per process.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator, Mapping
from email.message import Message
from typing import Any, Final
from urllib.parse import urlsplit

from attrs import evolve, frozen

from shell.redact import remember_secret

PLUGIN_ID: Final = "plexsync"
"""The plugin's id: its manifest is ``plexsync.yml``; Stash keys its settings by it."""

SCENE_FIELDS: Final = (
    "id title code details date rating100 urls updated_at files { path } paths { screenshot }"
    " studio { name parent_studio { name } } performers { name } tags { name }"
    " groups { group { name } }"
)
"""What plexsync reads of a scene (v0.27+ names)."""
LEGACY_SCENE_FIELDS: Final = SCENE_FIELDS.replace(
    "groups { group { name } }", "movies { movie { name } }"
)
"""The same for Stash v0.24 to v0.26, which calls groups movies."""

SETTINGS_FIELD: Final = (
    f'configuration {{ plugins(include: ["{PLUGIN_ID}"]) general {{ apiKey }} }}'
)
"""The plugin's settings, and Stash's API key: read so that it is known to be a secret (and for
long runs, which outlive the session cookie)."""

HOOK_QUERY: Final = (
    "query PlexsyncHook($id: ID!) { " + SETTINGS_FIELD + " findScene(id: $id) { SCENE } }"
)
"""One request per hook: the plugin's settings and the scene."""
SETTINGS_QUERY: Final = "query PlexsyncSettings { " + SETTINGS_FIELD + " }"
PAGE_QUERY: Final = (
    "query PlexsyncPage($filter: FindFilterType, $scene_filter: SceneFilterType) {"
    " findScenes(filter: $filter, scene_filter: $scene_filter) { count scenes { SCENE } } }"
)
"""A page of scenes, always with an explicit sort (without one Stash's order is unstable)."""
SCENES_BY_ID_QUERY: Final = (
    "query PlexsyncScenes($ids: [ID!]) { findScenes(ids: $ids) { count scenes { SCENE } } }"
)


class StashError(Exception):
    """Stash could not be reached, refused the request or answered with an error."""


class StashRefusedError(StashError):
    """Stash refused the plugin's credentials (its session cookie or its API key): every
    further request would be refused too.
    """


@frozen
class Answer:
    """One HTTP answer from Stash, read to the end."""

    status: int
    reason: str
    headers: Message
    body: bytes

    def json(self) -> Any:  # noqa: ANN401 - whatever JSON the body holds
        """The body as JSON; ``ValueError`` if it is not."""
        return json.loads(self.body)


@frozen
class Connection:
    """Where Stash is and how to prove who we are: its session cookie or its API key."""

    base_url: str
    cookie: tuple[str, str] | None = None
    api_key: str | None = None

    @classmethod
    def from_plugin_input(cls, server: object) -> Connection:
        """The connection described by the ``server_connection`` of a plugin's stdin."""
        if not isinstance(server, Mapping):
            raise StashError("the plugin input has no server_connection object")
        scheme = server.get("Scheme") or "http"
        host = server.get("Host") or "127.0.0.1"
        port = server.get("Port")
        if (
            not isinstance(port, int)
            or scheme not in {"http", "https"}
            or not isinstance(host, str)
        ):
            raise StashError("server_connection needs a Scheme (http or https), Host and Port")
        if host in {"0.0.0.0", ""}:  # noqa: S104 - Stash's listen address, not ours
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        cookie = server.get("SessionCookie")
        pair = None
        if isinstance(cookie, Mapping) and isinstance(cookie.get("Value"), str):
            pair = (str(cookie.get("Name") or "session"), cookie["Value"])
            remember_secret(pair[1])
        return cls(f"{scheme}://{host}:{port}", pair)


class StashClient:
    """GraphQL requests and file downloads against one Stash, over one kept-alive connection."""

    def __init__(self, connection: Connection, *, timeout: float = 10.0) -> None:
        self.connection = connection
        self.timeout = timeout
        self.requests_sent = 0
        self._http: http.client.HTTPConnection | None = None
        self._legacy = False

    def close(self) -> None:
        """Close the connection."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def use_api_key(self, api_key: str) -> None:
        """Authenticate with *api_key* from now on (a session cookie expires; the key does not)."""
        if api_key:
            remember_secret(api_key)
            self.connection = evolve(self.connection, api_key=api_key, cookie=None)

    # ------------------------------------------------------------------ GraphQL
    def scenes_query(self, template: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Run a query whose ``SCENE`` placeholder stands for the scene fields, falling back to
        the v0.24-v0.26 field names once if this Stash has no ``groups``.
        """
        fields = LEGACY_SCENE_FIELDS if self._legacy else SCENE_FIELDS
        try:
            return self.query(template.replace("SCENE", fields), variables)
        except StashError as error:
            if self._legacy or '"groups"' not in str(error):
                raise
        self._legacy = True
        return self.query(template.replace("SCENE", LEGACY_SCENE_FIELDS), variables)

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a GraphQL request; any failure is a ``StashError``."""
        body = json.dumps({"query": document, "variables": dict(variables or {})}).encode()
        response = self._send("POST", "/graphql", body)
        try:
            answer = response.json()
        except ValueError:
            raise StashError(
                f"Stash answered HTTP {response.status} with something that is not JSON"
            ) from None
        errors = answer.get("errors") if isinstance(answer, Mapping) else None
        if errors:
            messages = "; ".join(
                str(e.get("message", e)) if isinstance(e, Mapping) else str(e) for e in errors
            )
            raise StashError(f"Stash answered with an error: {messages}")
        if response.status != 200 or not isinstance(answer.get("data"), Mapping):
            raise StashError(f"Stash answered HTTP {response.status} without data")
        data: dict[str, Any] = answer["data"]
        return data

    # ------------------------------------------------------------------ files
    def fetch(self, url: str) -> tuple[str, bytes]:
        """(content type, bytes) of a Stash URL such as a scene's ``paths.screenshot``.

        Only the URL's path and query are used: Stash builds it from the request's Host header
        or its ``external_host`` setting, which need not be reachable from here.
        """
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self._send("GET", target)
        if response.status != 200:
            raise StashError(f"Stash answered HTTP {response.status} for {parts.path}")
        return response.headers.get("Content-Type", ""), response.body

    # ------------------------------------------------------------------ HTTP
    def _send(self, method: str, target: str, body: bytes | None = None) -> Answer:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"  # Stash refuses any other type
        if self.connection.api_key:
            headers["ApiKey"] = self.connection.api_key
        elif self.connection.cookie is not None:
            headers["Cookie"] = "=".join(self.connection.cookie)
        self.requests_sent += 1
        try:
            response = self._exchange(method, target, body, headers)
        except TimeoutError:
            self.close()
            raise StashError(
                f"Stash at {self.connection.base_url} did not answer within {self.timeout:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise StashError(
                f"cannot reach Stash at {self.connection.base_url} ({type(exc).__name__})"
            ) from None
        if response.status in {401, 403} or (
            response.status == 302 and "/login" in response.headers.get("Location", "")
        ):
            if self.connection.api_key:
                raise StashRefusedError(
                    f"Stash refused the API key read when this run began (HTTP {response.status}):"
                    " if a new key was generated since (Settings > Security), run it again"
                )
            raise StashRefusedError(
                f"Stash refused the plugin's session cookie (HTTP {response.status}): "
                "the session has expired; run the task again"
            )
        if response.status >= 500:
            raise StashError(f"Stash answered HTTP {response.status} ({response.reason})")
        return response

    def _exchange(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> Answer:
        """One request and its answer. A kept-alive connection Stash has closed meanwhile is
        opened again once (every request the plugin sends is a read, so sending it again is
        harmless).
        """
        reused = self._http is not None
        while True:
            connection = self._open()
            try:
                connection.request(method, target, body=body, headers=dict(headers))
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if not reused:
                    raise
                reused = False
                continue
            if response.will_close:
                self.close()
            return Answer(response.status, response.reason, response.headers, data)

    def _open(self) -> http.client.HTTPConnection:
        if self._http is None:
            parts = urlsplit(self.connection.base_url)
            host, port = parts.hostname or "127.0.0.1", parts.port
            if parts.scheme == "https":
                self._http = http.client.HTTPSConnection(
                    host, port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                self._http = http.client.HTTPConnection(host, port, timeout=self.timeout)
        return self._http


def scene_pages(
    client: StashClient,
    *,
    per_page: int = 500,
    scene_filter: Mapping[str, Any] | None = None,
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Every scene matching *scene_filter*, a page at a time, with the total count.

    Pages are taken by id (``sort: id``, and ``id > the last one seen`` rather than page
    numbers), so a scene added or deleted meanwhile shifts nothing.
    """
    last_id = 0
    while True:
        criteria = dict(scene_filter or {})
        criteria["id"] = {"value": last_id, "modifier": "GREATER_THAN"}
        data = client.scenes_query(
            PAGE_QUERY,
            {
                "filter": {"per_page": per_page, "page": 1, "sort": "id", "direction": "ASC"},
                "scene_filter": criteria,
            },
        )
        found = data["findScenes"]
        scenes: list[dict[str, Any]] = list(found["scenes"])
        yield int(found["count"]), scenes
        if len(scenes) < per_page:
            return
        last_id = int(scenes[-1]["id"])
