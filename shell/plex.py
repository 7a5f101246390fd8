"""The real Plex gateway: find the item for a file path and apply a job's metadata via plexapi.

How it spends requests (what plexapi does with each call is pinned by tests/test_fake_plex.py):

* One ``PlexServer`` per gateway, reused across jobs and rebuilt after a connection failure,
  talking through our own ``requests.Session`` (``shell.plex_http``): it carries a stable client
  identity (so Plex does not report a new device on every start) and a response hook that keeps
  Retry-After, which plexapi's exceptions drop.
* A path -> item index of the movie sections, built by paging through each section's listing
  (1,000 items a request) and reading every ``<Part file>`` of every ``<Media>`` (a film may have
  several versions, a version several files; ``shell.plex_library`` reads the listings and maps
  the paths). The listing is read as XML, not as plexapi items:
  plexapi fetches an item again whenever a list it reads is empty, so an item listed without
  ``<Media>`` would cost a request of its own; such items are read in full, 100 a request. A
  path missing from the index rebuilds it, but only if the index is older than
  ``not_found_wait_initial_seconds``: a burst of new files costs one rebuild, and every not-found
  retry still meets an index fresher than its wait.
* The edit is one PUT with every scalar field and tag list the job carries, each locked so Plex
  agents leave it alone. A tag list sets the field exactly (Plex replaces an indexed list); an
  empty list needs the item's current tags, read from the full item (never from a listing, whose
  tag lists are partial), to remove them. Applying a job twice leaves Plex as applying it once.
  Plex answers it with an empty 200 that it labels HTML; that is success, not a web page.
* With ``read_back_fraction`` above 0, that share of jobs reads the item back after the edit
  (one more request) and fails, transiently, if Plex does not hold what was sent
  (``shell.read_back``).
* A path Plex does not know yet asks for a partial scan of its folder, at most once per folder
  per ``SCAN_WINDOW_SECONDS``, and reports not-found so the core schedules the longer retry. The
  scans asked for are kept in the queue's database (``shell.store.scans``), so the window holds
  across runs and workers. A path in a folder of a section plexsync does not edit (shows, music,
  a movie section ``library_sections`` leaves out) is a permanent failure that names it.
* Fields of their own kind go their own way: a rating is one ``PUT /:/rate`` (what plexapi's
  ``rate`` sends); an image is uploaded (``POST /library/metadata/<id>/posters``, as plexapi's
  ``uploadPoster`` does) only when its bytes differ from those last uploaded to that item, which
  the store remembers (``Store.images``), and is then locked in the edit.


Every plexapi call goes through ``_call``, which turns Plex's failures into error classes with
``shell.classify``; nothing else is caught, so our own bugs are not mistaken for Plex's.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import quote, urlsplit

import attrs
import requests
from attrs import frozen
from plexapi.exceptions import NotFound
from plexapi.server import PlexServer
from plexapi.utils import joinArgs

from core import ErrorClass, Failed, Health, Outcome, PlexSyncConfig, Succeeded
from shell import read_back
from shell.classify import (
    PLEX_ERRORS,
    NotPlexXml,
    Stage,
    classify_exception,
    parse_retry_after,
)
from shell.clock import Clock, SystemClock
from shell.fields import FIELDS, Field, Kind
from shell.gateway import HealthReport
from shell.held import Held
from shell.payload import Metadata
from shell.plex_http import PlexSession, client_identity
from shell.plex_library import (
    FULL_ITEMS_PER_REQUEST,
    MOVIE_TYPE,
    files_of_items,
    folder_of,
    full_item,
    full_items,
    holding,
    list_movies,
    map_path,
)
from shell.redact import get_logger, redact, remember_secret
from shell.store import Store
from shell.tls import ca_bundle_problem, certificate_problem, verify_setting, warn_at_start

log = get_logger("plexsync.plex")

SCAN_WINDOW_SECONDS: Final = 3600.0
"""A folder's partial scan is requested at most once in this long."""
_NO_ITEM: Final = frozenset({ErrorClass.NOT_FOUND, ErrorClass.PERMANENT})
"""The failures of ``_locate`` that concern one path, not Plex as a whole."""
LIBRARY: Final = "com.plexapp.plugins.library"
"""The identifier Plex's rating endpoint wants for items of a library section."""
SECTION_KINDS: Final = {"show": "TV show", "artist": "music", "photo": "photo"}
"""Plex's kinds of library section other than movies, in words."""

_T = TypeVar("_T")

_join_args: Callable[[Mapping[str, object]], str] = joinArgs
"""plexapi's query string: values encoded, names sorted (as its own edits send them)."""


@frozen
class _Entry:
    """An item of the index: the section that holds it, its ratingKey, and its title."""

    section: Any
    rating_key: int
    title: str


@frozen
class Found:
    """An item ``find`` found: its title and ratingKey (named as plexapi names them)."""

    title: str
    ratingKey: int  # noqa: N815 - Plex's own name


class _Abort(Exception):  # noqa: N818 - a carrier, not an error of its own
    """Carries a classified failure out of nested steps to ``apply``.

    ``item_gone`` is set when Plex answered an edit with 404: the item may have been re-added
    under a new ratingKey since the index was built.
    """

    def __init__(self, failure: Failed, *, item_gone: bool = False) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.item_gone = item_gone


def edit_params(metadata: Metadata, current_tags: dict[str, list[str]]) -> dict[str, str | int]:
    """The query parameters of the one PUT that applies *metadata*.

    *current_tags* holds, for each tag field the job empties, the tags the item has now (they
    must be removed by name). Keys absent from the metadata are not touched.
    """
    params: dict[str, str | int] = {}
    for field in FIELDS:
        value = metadata.get(field.key)
        if value is None or isinstance(value, float):  # a rating is not part of the edit
            continue
        name = field.plex
        if field.kind is Kind.IMAGE:
            pass  # uploaded before the edit; the edit only locks it
        elif isinstance(value, str):
            params[f"{name}.value"] = value
        else:
            wanted = list(dict.fromkeys(value))  # Plex keeps one of each; so do we, in order
            for index, tag in enumerate(wanted):
                params[f"{name}[{index}].tag.tag"] = tag
            if not wanted and current_tags.get(name):
                # Encoded as plexapi's own tag helper does: each tag quoted, then the list.
                params[f"{name}[].tag.tag-"] = ",".join(quote(tag) for tag in current_tags[name])
        params[f"{name}.locked"] = 1
    return params


class PlexServerGateway:
    """The gateway protocol over a real Plex Media Server (see the module docstring)."""

    def __init__(
        self,
        config: PlexSyncConfig,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
    ) -> None:
        """*store* keeps the scans asked for; by default the gateway opens the queue's database
        (``config.db_path``) itself when it first needs it, and closes it in ``close``.
        """
        self.config = config
        self.clock = clock if clock is not None else SystemClock()
        remember_secret(config.plex_token)
        problem = ca_bundle_problem(config.plex_ca_bundle)
        if problem is not None:
            raise ValueError(problem)
        self.session = PlexSession(client_identity(config))
        self.session.verify = verify_setting(config)
        warn_at_start(config)
        self._server: PlexServer | None = None
        self._machine: str | None = None
        self._sections: list[Any] = []
        self._available: list[Any] = []
        self._index: dict[str, list[_Entry]] = {}
        self._index_built_at: float | None = None
        self._store = store
        self._own_store: Store | None = None
        self._lock = threading.RLock()
        """Held while what the calls share is read or changed (the connection, the sections, the
        path index, the database): the worker calls ``apply`` from several threads at once, and
        only the edits themselves go out side by side."""

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (job calls, index pages, scans, health checks)."""
        return self.session.sent

    def close(self) -> None:
        """Close the HTTP session, and the database if the gateway opened it."""
        self.session.close()
        if self._own_store is not None:
            self._own_store.close()
            self._store = self._own_store = None

    # ------------------------------------------------------------------ the protocol
    def apply(self, metadata: Metadata) -> Outcome:
        """Find the item for ``metadata.path`` and apply the metadata in one PUT."""
        path = map_path(metadata.path, self.config.path_mappings)
        try:
            with self._lock:
                entry = self._locate(path)
            try:
                self._edit(entry, metadata)
            except _Abort as failed:
                if not failed.item_gone:
                    raise
                # The item was re-added under a new ratingKey since the index was built.
                with self._lock:
                    self._rebuild_index()
                    entry = self._locate(path, may_scan=False)
                self._edit(entry, metadata)
        except _Abort as failed:
            return failed.failure
        return Succeeded()

    def health(self) -> Health:
        """``GET /`` with the token and a short timeout: up, down, refusing the token, not a
        Plex server at all (a web page, another service's answer, XML that is not Plex's), or
        presenting a certificate that does not verify.
        """
        return self.health_report().health

    def health_report(self) -> HealthReport:
        """The health call, with the words of a certificate that does not verify."""
        try:
            response = self.session.get(
                f"{self.config.plex_url.rstrip('/')}/",
                headers={"X-Plex-Token": self.config.plex_token, "Accept": "text/xml"},
                timeout=self.config.health_timeout_seconds,
            )
        except NotPlexXml:
            return HealthReport(Health.NOT_PLEX)
        except requests.exceptions.RequestException as exc:
            problem = certificate_problem(exc, self.config)
            if problem is not None:
                return HealthReport(Health.UNTRUSTED, problem)
            return HealthReport(Health.DOWN)
        return HealthReport(_health_of(response.status_code, response.content))

    def reachable(self) -> bool:
        """Whether Plex's address accepts a TCP connection (closed at once: no request, nothing
        for Plex to do, no token sent).
        """
        address = urlsplit(self.config.plex_url)
        default_port = 443 if address.scheme == "https" else 80
        try:
            port = address.port or default_port
            with socket.create_connection(
                (address.hostname or "", port), timeout=self.config.connect_timeout_seconds
            ):
                return True
        except (OSError, ValueError):
            return False

    # ------------------------------------------------------------------ reading, for hosts
    def held(self, paths: Sequence[str]) -> dict[str, Held | Failed] | Failed:
        """What Plex holds for each of *paths* (as the host sees them, mapped as a job's path
        is): a ``Held`` (the complete item, and the digests of the images plexsync last
        uploaded to it), or why there is none (not-found for an item Plex does not have yet,
        permanent for a path outside every library folder or matching several items). Found as
        a job finds its item, read in full ``FULL_ITEMS_PER_REQUEST`` items a request; it never
        asks Plex to scan and changes nothing. If Plex cannot be read at all (down, refusing
        the token, no usable section) that one failure is returned.
        """
        found: dict[str, Held | Failed] = {}
        keys: dict[str, int] = {}
        try:
            for path in dict.fromkeys(paths):
                try:
                    entry = self._locate(map_path(path, self.config.path_mappings), may_scan=False)
                except _Abort as failed:
                    if failed.failure.error_class not in _NO_ITEM:
                        raise
                    found[path] = failed.failure
                else:
                    keys[path] = entry.rating_key
            server = self._connect()
            wanted = list(dict.fromkeys(keys.values()))
            items: dict[int, ET.Element] = {}
            for start in range(0, len(wanted), FULL_ITEMS_PER_REQUEST):
                batch = wanted[start : start + FULL_ITEMS_PER_REQUEST]
                items.update(self._call("lookup", full_items, server.query, batch))
        except _Abort as failed:
            return failed.failure
        store = self._memory()
        images = [f.key for f in FIELDS if f.kind is Kind.IMAGE]
        with store.reading():
            for path, key in keys.items():
                item = items.get(key)
                if item is None:  # gone since the index was built
                    problem = f"no Plex item for {path} now"
                    found[path] = Failed(ErrorClass.NOT_FOUND, redact(problem))
                    continue
                uploaded = {
                    name: digest
                    for name in images
                    if (digest := store.images.last_hash(server.machineIdentifier, key, name))
                }
                found[path] = Held(rating_key=key, item=item, images=uploaded)
        return found

    # ------------------------------------------------------------------ steps
    def _call(self, stage: Stage, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:  # noqa: ANN401
        """Call plexapi; a Plex failure becomes a classified ``_Abort``."""
        try:
            return function(*args, **kwargs)
        except PLEX_ERRORS as exc:
            retry_after_at = parse_retry_after(self.session.retry_after, now=self.clock.now())
            failure = classify_exception(exc, stage=stage, retry_after_at=retry_after_at)
            if failure.error_class is ErrorClass.CERTIFICATE:
                words = certificate_problem(exc, self.config)
                failure = attrs.evolve(failure, message=words or failure.message)
            if failure.error_class is ErrorClass.OUTAGE:
                # Connect afresh next time: the server that comes back may not be the one that
                # went away (``_connect`` forgets the index if its identity changed).
                self._server, self._sections = None, []
            log.debug("Plex call failed during %s: %s", stage, failure.message)
            gone = stage == "edit" and isinstance(exc, NotFound)
            raise _Abort(failure, item_gone=gone) from None

    def _connect(self) -> PlexServer:
        if self._server is None:
            timeout = (self.config.connect_timeout_seconds, self.config.read_timeout_seconds)
            server = self._call(
                "connect",
                PlexServer,
                self.config.plex_url,
                self.config.plex_token,
                session=self.session,
                timeout=timeout,
            )
            if server.machineIdentifier != self._machine:  # another server: forget what we knew
                self._machine = server.machineIdentifier
                self._sections, self._available = [], []
                self._index, self._index_built_at = {}, None
            self._server = server
        return self._server

    def _library_sections(self) -> list[Any]:
        if self._sections:
            return self._sections
        server = self._connect()
        available = self._call("connect", _all_sections, server)
        self._available = available
        movies = [s for s in available if s.type == "movie"]
        wanted = self.config.library_sections
        if not wanted:
            if not movies:
                raise _Abort(_misconfigured("this Plex has no movie library section", available))
            self._sections = movies
            return movies
        chosen: dict[int, Any] = {}
        for name in wanted:
            found = [s for s in available if name.lower() in {s.title.lower(), str(s.key)}]
            if not found:
                raise _Abort(_misconfigured(f"Plex has no library section {name!r}", available))
            section = found[0]
            if section.type != "movie":
                problem = f"library section {name!r} is a {section.type} section, not a movie one"
                raise _Abort(_misconfigured(problem, available))
            chosen[id(section)] = section
        self._sections = list(chosen.values())
        return self._sections

    def _rebuild_index(self) -> None:
        index: dict[str, list[_Entry]] = {}
        server = self._connect()
        for section in self._library_sections():
            listed = self._call("lookup", list_movies, server.query, section.key)
            files = {key: found for key, (_, found) in listed.items() if found}
            bare = [key for key, (_, found) in listed.items() if not found]
            for start in range(0, len(bare), FULL_ITEMS_PER_REQUEST):
                batch = bare[start : start + FULL_ITEMS_PER_REQUEST]
                files.update(self._call("lookup", files_of_items, server.query, batch))
            for key, found in files.items():
                entry = _Entry(section, key, listed[key][0])
                for path in dict.fromkeys(found):
                    index.setdefault(path, []).append(entry)
        self._index = index
        self._index_built_at = self.clock.now()
        log.debug("indexed %d paths in %d sections", len(index), len(self._sections))

    def _locate(self, path: str, *, may_scan: bool = True) -> _Entry:
        now = self.clock.now()
        built = self._index_built_at
        fresh_for = self.config.not_found_wait_initial_seconds
        entries = self._index.get(path)
        if entries is None and (built is None or not 0 <= now - built < fresh_for):
            self._rebuild_index()
            entries = self._index.get(path)
        if entries is None:
            raise _Abort(self._not_found(path, now=now, may_scan=may_scan))
        if len(entries) > 1:
            found = "; ".join(
                f"ratingKey {entry.rating_key} {entry.title!r} in {entry.section.title!r}"
                for entry in entries
            )
            raise _Abort(Failed(ErrorClass.PERMANENT, redact(f"{path} is ambiguous: {found}")))
        return entries[0]

    def _not_found(self, path: str, *, now: float, may_scan: bool) -> Failed:
        sections = self._library_sections()
        folder = folder_of(path)
        section = holding(path, sections)
        if section is None:
            return Failed(ErrorClass.PERMANENT, redact(self._outside(path, sections)))
        if may_scan and self._claim_scan(folder, now=now):
            try:
                self._call("scan", section.update, path=folder)
            except _Abort:
                self._memory().scans.forget(folder)  # Plex never got it: ask again next time
                raise
            return Failed(
                ErrorClass.NOT_FOUND,
                redact(f"no Plex item for {path}; asked Plex to scan {folder}"),
            )
        return Failed(ErrorClass.NOT_FOUND, redact(f"no Plex item for {path} yet"))

    def _outside(self, path: str, sections: Sequence[Any]) -> str:
        """Why *path*, in no folder of the *sections* plexsync edits, cannot be edited."""
        other = holding(path, self._available)
        if other is not None and other.type != "movie":
            kind = SECTION_KINDS.get(other.type, other.type)
            return (
                f"{path} is in library section {other.title!r}, a {kind} section; "
                "plexsync edits movies only"
            )
        if other is not None:
            return (
                f"{path} is in the movie section {other.title!r}, which library_sections leaves out"
            )
        roots = ", ".join(root for s in sections for root in s.locations) or "none"
        return f"{path} is outside every library folder ({roots}); check path_mappings"

    def _claim_scan(self, folder: str, *, now: float) -> bool:
        """Whether to ask Plex to scan *folder* now (recorded if so): not if any worker asked
        within ``SCAN_WINDOW_SECONDS``.
        """
        with self._memory().transaction() as tx:
            return tx.scans.claim(folder, now=now, window_seconds=SCAN_WINDOW_SECONDS)

    def _memory(self) -> Store:
        """The queue's database, where the gateway remembers scans asked for and images
        uploaded: the store it was given, or one it opens (and closes) itself.
        """
        if self._store is None:
            self._store = self._own_store = Store.open(
                self.config.db_path, synchronous=self.config.sqlite_synchronous
            )
        return self._store

    def _edit(self, entry: _Entry, metadata: Metadata) -> None:
        with self._lock:
            server = self._connect()
        current: dict[str, list[str]] = {}
        emptied = [(f.plex, f.element) for f in FIELDS if f.element and metadata.get(f.key) == ()]
        if emptied:
            # Removing tags needs their names, from the full item (a listing shows only a few).
            full = self._call("lookup", full_item, server.query, entry.rating_key)
            current = {
                name: [tag.attrib["tag"] for tag in full.findall(element) if "tag" in tag.attrib]
                for name, element in emptied
            }
        for field in FIELDS:
            value = metadata.get(field.key)
            if field.kind is Kind.RATING and isinstance(value, float):
                rate = f"/:/rate?key={entry.rating_key}&identifier={LIBRARY}&rating={value:g}"
                self._call("edit", server.query, rate, method=self.session.put)
            elif field.kind is Kind.IMAGE and isinstance(value, str):
                self._upload(entry.rating_key, field, value)
        params = edit_params(metadata, current)
        if not params:
            return
        query = _join_args({"type": MOVIE_TYPE, "id": entry.rating_key, **params})
        key = f"/library/sections/{entry.section.key}/all{query}"
        self._call("edit", server.query, key, method=self.session.put)
        if read_back.chosen(metadata, self.config.read_back_fraction):
            shown = self._call("lookup", full_item, server.query, entry.rating_key)
            if found := read_back.differences(metadata, shown):
                raise _Abort(Failed(ErrorClass.TRANSIENT, redact(read_back.describe(found))))

    def _upload(self, rating_key: int, field: Field, path: str) -> None:
        """Upload the image at *path* as *field* of the item *rating_key*, unless those very
        bytes were the last uploaded there.
        """
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            problem = f"cannot read the {field.key} image {path}: {exc.strerror}"
            raise _Abort(Failed(ErrorClass.PERMANENT, redact(problem))) from None
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            server = self._connect()
            store = self._memory()
            with store.reading():
                last = store.images.last_hash(server.machineIdentifier, rating_key, field.key)
            if last == digest:
                return
        key = f"/library/metadata/{rating_key}/{field.endpoint}"
        # What plexapi's uploadPoster/uploadArt send: the bytes as the body of a POST.
        self._call("edit", server.query, key, method=self.session.post, data=data)
        with self._lock, store.transaction() as tx:
            tx.images.remember(
                server.machineIdentifier, rating_key, field.key, digest, now=self.clock.now()
            )
        log.debug("uploaded the %s of ratingKey %s (%d bytes)", field.key, rating_key, len(data))

    # ------------------------------------------------------------------ for `plexsync check`
    def server(self) -> Any | Failed:  # noqa: ANN401 - plexapi's PlexServer
        """The server, connected to as a job connects (``friendlyName``, ``version``, ...), or
        why it cannot be.
        """
        return self._unless_aborted(self._connect)

    def sections(self) -> list[Any] | Failed:
        """The library sections jobs go to (``title``, ``type``, ``locations``), or why the
        settings name none that can be used.
        """
        return self._unless_aborted(self._library_sections)

    def find(self, path: str) -> Found | Failed:
        """The item Plex has for *path* (a path as Plex sees it), found as a job finds it but
        without asking Plex to scan; or why there is none.
        """
        entry = self._unless_aborted(lambda: self._locate(path, may_scan=False))
        if isinstance(entry, Failed):
            return entry
        return Found(title=entry.title, ratingKey=entry.rating_key)

    @staticmethod
    def _unless_aborted(step: Callable[[], _T]) -> _T | Failed:
        try:
            return step()
        except _Abort as failed:
            return failed.failure


def _misconfigured(problem: str, available: Sequence[Any]) -> Failed:
    """A failure of the settings: *problem*, the sections Plex has, and the setting to fix."""
    listed = ", ".join(f"{s.title!r} ({s.type})" for s in available) or "none"
    return Failed(
        ErrorClass.MISCONFIGURED,
        redact(f"{problem} (sections: {listed}); check library_sections"),
    )


def _health_of(status: int, body: bytes) -> Health:
    """What the answer to the health call says about the server."""
    match status:
        case 401 | 403:
            return Health.UNAUTHORIZED
        case 200:
            return Health.UP if _is_plex_root(body) else Health.NOT_PLEX
        case 429:  # a server that asks us to slow down is up
            return Health.UP
        case _ if status >= 500:
            return Health.DOWN  # Plex failing, or a proxy in front of a dead Plex
        case _:
            return Health.NOT_PLEX  # Plex answers / with 200: this is something else


def _is_plex_root(body: bytes) -> bool:
    """Whether *body* is Plex's answer to ``/``: a ``MediaContainer`` naming its server."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - the body of our own configured server
    except ET.ParseError:
        return False
    return root.tag == "MediaContainer" and bool(root.get("machineIdentifier"))


def _all_sections(server: PlexServer) -> list[Any]:
    # ``server.library`` is a property that queries Plex: it must run inside ``_call``.
    return list(server.library.sections())
