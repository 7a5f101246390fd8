"""The fake's library: sections, their items and the scans that bring new files in.

Movie sections hold `FakeItem`s, which plexsync edits. Sections of other kinds (shows, music)
exist as on any real server: they are listed with their folders, and their listings show a few
entries, which nothing here edits.

`Library` is plain state and the operations Plex's API performs on it; it is not thread-safe:
`FakePlex` calls it under its lock. What it refuses it raises as `Rejected`, with the HTTP
status Plex would answer.
"""

from __future__ import annotations

import re
import time
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

import attrs
from attrs import define, frozen

from shell.fields import Kind
from tests.fake_plex.items import Edit, FakeItem, plex_rating, title_from

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from tests.fake_plex.items import Schema


class Rejected(Exception):  # noqa: N818 - a control-flow signal carrying a reply, not an error
    """Raised to answer a request with an error status instead of a body."""

    def __init__(self, status: HTTPStatus, detail: str = "") -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


SECTION_KINDS: Final = ("movie", "show", "artist")
"""The kinds of section the fake serves, by Plex's names (music sections are "artist")."""


@frozen
class Entry:
    """An entry of a show or music section's listing (a show, an artist): listed, not edited."""

    rating_key: int
    title: str


@define
class Section:
    """A section: its key, title, kind and folders."""

    key: int
    title: str
    locations: tuple[str, ...]
    kind: str
    uuid: str
    created_at: int
    scanned_at: int
    entries: list[Entry] = attrs.Factory(list)
    """What a section of another kind than movies lists (movies are `Library.items`)."""


@frozen
class MediaIds:
    """The ids of one version (`<Media>`) of an item and of its files (`<Part>`s)."""

    media: int
    parts: tuple[int, ...]


@frozen
class Scan:
    """A scan under way: the items it will bring in, and when."""

    section_key: int
    due_at: float
    """`time.monotonic()` at which the scan completes."""
    rating_keys: frozenset[int]
    """The unscanned items whose files existed, under the scanned folder, when it was requested."""
    uuid: str


class Library:
    """The sections, their items (scanned or not) and the scans under way."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.sections: dict[int, Section] = {}
        self.items: dict[int, FakeItem] = {}
        """Every item by ratingKey, in the order they were added."""
        self.media_ids: dict[int, tuple[MediaIds, ...]] = {}
        """The ids of each item's versions and files, by ratingKey; they survive a rematch."""
        self.tag_ids: dict[tuple[str, str], int] = {}
        """The id of each tag, by (Plex's field name, tag): one id per name, as in Plex."""
        self.scans: list[Scan] = []
        self._next_rating_key = 1000
        self._next_media_id = 1

    def add_section(
        self, title: str, locations: Iterable[str], key: int | None, kind: str = "movie"
    ) -> int:
        """Add a section and return its key: the lowest free one unless *key* is given."""
        if kind not in SECTION_KINDS:
            raise ValueError(f"the fake serves {', '.join(SECTION_KINDS)} sections, not {kind}")
        now = int(time.time())
        if key is None:
            key = next(k for k in range(1, len(self.sections) + 2) if k not in self.sections)
        elif key in self.sections:
            raise ValueError(f"section {key} already exists")
        self.sections[key] = Section(
            key=key,
            title=title,
            locations=tuple(locations),
            kind=kind,
            uuid=str(uuid.uuid4()),
            created_at=now,
            scanned_at=now,
        )
        return key

    def tag_id(self, plex_field: str, tag: str) -> int:
        """The id of *tag* in *plex_field*, given the first time it is asked for."""
        return self.tag_ids.setdefault((plex_field, tag), len(self.tag_ids) + 1)

    def add_item(
        self,
        section_key: int,
        path: str,
        title: str | None,
        fields: Mapping[str, str | Iterable[str] | None],
        *,
        scanned: bool,
        parts: Iterable[str] = (),
        versions: Iterable[Iterable[str]] = (),
    ) -> int:
        """Put a movie file at *path* and return its ratingKey (see `FakePlex.add_item`)."""
        values, tags = self.schema.initial(fields)
        now = int(time.time())
        if section_key not in self.sections:
            raise KeyError(f"no section {section_key}")
        if self.sections[section_key].kind != "movie":
            raise ValueError(f"section {section_key} is not a movie section")
        more_versions = tuple(tuple(version) for version in versions)
        if not all(more_versions):
            raise ValueError("a version has at least one file")
        new = FakeItem(
            rating_key=self._new_rating_key(),
            section_key=section_key,
            path=path,
            title=title if title is not None else title_from(path),
            values=values,
            tags=tags,
            scanned=scanned,
            added_at=now,
            updated_at=now,
            more_parts=tuple(parts),
            more_versions=more_versions,
        )
        # Two sections may hold the same file (that makes a path ambiguous); one may not.
        mine = [i for i in self.items.values() if i.section_key == section_key]
        if shared := set(new.files) & {file for item in mine for file in item.files}:
            raise ValueError(f"an item of section {section_key} already has {min(shared)}")
        if len(set(new.files)) < len(new.files):
            raise ValueError("an item holds each file once")
        self.media_ids[new.rating_key] = tuple(
            MediaIds(self._new_media_id(), tuple(self._new_media_id() for _ in version))
            for version in new.versions
        )
        self.items[new.rating_key] = new
        return new.rating_key

    def add_entry(self, section_key: int, rating_key: int, title: str) -> None:
        """List a show or an artist in a section of that kind (see `FakePlex`'s presets)."""
        section = self.sections[section_key]
        if section.kind == "movie":
            raise ValueError(f"section {section_key} holds movies: use add_item")
        section.entries.append(Entry(rating_key, title))

    def _new_media_id(self) -> int:
        media_id = self._next_media_id
        self._next_media_id += 1
        return media_id

    def rematch(self, rating_key: int) -> int:
        """Give an item a new ratingKey and return it (see `FakePlex.rematch`)."""
        item = self.items.pop(rating_key)
        new_key = self._new_rating_key()
        self.media_ids[new_key] = self.media_ids.pop(rating_key)
        self.items[new_key] = attrs.evolve(item, rating_key=new_key)
        return new_key

    def _new_rating_key(self) -> int:
        rating_key = self._next_rating_key
        self._next_rating_key += 1
        return rating_key

    def section(self, key: int) -> Section:
        """The section with *key*; a 404 if there is none."""
        section = self.sections.get(key)
        if section is None:
            raise Rejected(HTTPStatus.NOT_FOUND, "no such section")
        return section

    def visible(self, section_key: int) -> list[FakeItem]:
        """The section's scanned items, by ratingKey, so pages never shift under a client."""
        return [
            item
            for key, item in sorted(self.items.items())
            if item.section_key == section_key and item.scanned
        ]

    def found(self, rating_keys: Iterable[int]) -> list[FakeItem]:
        """The scanned items among *rating_keys*, in that order; a 404 if there is none."""
        items = [self.items[k] for k in rating_keys if k in self.items and self.items[k].scanned]
        if not items:
            raise Rejected(HTTPStatus.NOT_FOUND, "no such item")
        return items

    def edit(self, section: Section, query: Mapping[str, str]) -> None:
        """Apply one PUT edit to every item in `id`: all of it or, on any error, none of it."""
        if query.get("type") != "1":
            raise Rejected(HTTPStatus.BAD_REQUEST, "type must be 1 (movie)")
        ids = query.get("id", "")
        if not re.fullmatch(r"\d+(,\d+)*", ids):
            raise Rejected(HTTPStatus.BAD_REQUEST, "id must list ratingKeys")
        items: list[FakeItem] = []
        for key in ids.split(","):
            item = self.items.get(int(key))
            if item is None or not item.scanned or item.section_key != section.key:
                raise Rejected(HTTPStatus.NOT_FOUND, "no such item in this section")
            items.append(item)
        try:
            edit = Edit.parse(query, self.schema)
        except ValueError as error:
            raise Rejected(HTTPStatus.BAD_REQUEST, str(error)) from error
        now = int(time.time())
        for item in items:
            edit.apply(item, now)

    def rate(self, query: Mapping[str, str]) -> None:
        """`PUT /:/rate?key=<ratingKey>&identifier=...&rating=<0..10, or -1 to clear>`."""
        if query.get("identifier") != "com.plexapp.plugins.library":
            raise Rejected(HTTPStatus.BAD_REQUEST, "unknown identifier")
        item = self.items.get(int(query["key"])) if query.get("key", "").isdigit() else None
        if item is None or not item.scanned:
            raise Rejected(HTTPStatus.NOT_FOUND, "no such item")
        fields = [f for f in self.schema.value_fields if f.kind is Kind.RATING]
        try:
            rating = None if float(query.get("rating", "")) == -1 else plex_rating(query["rating"])
        except ValueError as error:
            raise Rejected(HTTPStatus.BAD_REQUEST, str(error)) from error
        for spec in fields:
            item.values[spec.key] = rating
        item.updated_at = int(time.time())

    def upload(self, rating_key: int, endpoint: str, body: bytes) -> None:
        """`POST /library/metadata/<ratingKey>/<endpoint>` with the image as the body."""
        item = self.items.get(rating_key)
        spec = next((f for f in self.schema.image_fields if f.endpoint == endpoint), None)
        if item is None or not item.scanned or spec is None:
            raise Rejected(HTTPStatus.NOT_FOUND, "no such item or image kind")
        if not body:
            raise Rejected(HTTPStatus.BAD_REQUEST, "no image in the request")
        item.images[spec.key] = body
        item.updated_at = int(time.time())

    def refresh(self, section: Section, folder: str | None, delay: float) -> None:
        """Start a scan of *folder* (or the whole section) that completes after *delay* s."""
        reached = frozenset(
            key
            for key, item in self.items.items()
            if item.section_key == section.key
            and not item.scanned
            and (folder is None or any(_covers(folder, file) for file in item.files))
        )
        due_at = time.monotonic() + delay
        self.scans.append(Scan(section.key, due_at, reached, str(uuid.uuid4())))
        self.settle_scans()

    def settle_scans(self) -> None:
        """Complete the scans whose time has come: their items become visible."""
        now = time.monotonic()
        for scan in [scan for scan in self.scans if scan.due_at <= now]:
            for key in scan.rating_keys:
                self.items[key].scanned = True
            self.sections[scan.section_key].scanned_at = int(time.time())
            self.scans.remove(scan)


def _covers(folder: str, path: str) -> bool:
    """Whether a scan of *folder* (or of the file itself) reaches the file at *path*."""
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")
