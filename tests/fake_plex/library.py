"""The fake's library: movie sections, their items and the scans that bring new files in.

`Library` is plain state and the operations Plex's API performs on it; it is not thread-safe:
`FakePlex` calls it under its lock. What it refuses it raises as `Rejected`, with the HTTP
status Plex would answer.
"""

from __future__ import annotations

import re
import time
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING

import attrs
from attrs import define, frozen

from tests.fake_plex.items import Edit, FakeItem, title_from

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from tests.fake_plex.items import Schema


class Rejected(Exception):  # noqa: N818 - a control-flow signal carrying a reply, not an error
    """Raised to answer a request with an error status instead of a body."""

    def __init__(self, status: HTTPStatus, detail: str = "") -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


@define
class Section:
    """A section: its key, title, folders and kind ("movie" unless said otherwise)."""

    key: int
    title: str
    locations: tuple[str, ...]
    kind: str
    uuid: str
    created_at: int
    scanned_at: int


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
        self.part_ids: dict[int, int] = {}
        """The id of each item's media part, by ratingKey; it survives a rematch."""
        self.scans: list[Scan] = []
        self._next_rating_key = 1000
        self._next_part_id = 1

    def add_section(
        self, title: str, locations: Iterable[str], key: int | None, kind: str = "movie"
    ) -> int:
        """Add a section and return its key (1, 2, ... unless *key* is given)."""
        now = int(time.time())
        if key is None:
            key = max(self.sections, default=0) + 1
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

    def add_item(
        self,
        section_key: int,
        path: str,
        title: str | None,
        fields: Mapping[str, str | Iterable[str] | None],
        *,
        scanned: bool,
    ) -> int:
        """Put a movie file at *path* and return its ratingKey (see `FakePlex.add_item`)."""
        values, tags = self.schema.initial(fields)
        now = int(time.time())
        if section_key not in self.sections:
            raise KeyError(f"no section {section_key}")
        # Two sections may hold the same file (that makes a path ambiguous); one may not.
        if any(i.path == path and i.section_key == section_key for i in self.items.values()):
            raise ValueError(f"an item of section {section_key} already has the file {path}")
        rating_key = self._new_rating_key()
        self.part_ids[rating_key] = self._next_part_id
        self._next_part_id += 1
        self.items[rating_key] = FakeItem(
            rating_key=rating_key,
            section_key=section_key,
            path=path,
            title=title if title is not None else title_from(path),
            values=values,
            tags=tags,
            scanned=scanned,
            added_at=now,
            updated_at=now,
        )
        return rating_key

    def rematch(self, rating_key: int) -> int:
        """Give an item a new ratingKey and return it (see `FakePlex.rematch`)."""
        item = self.items.pop(rating_key)
        new_key = self._new_rating_key()
        self.part_ids[new_key] = self.part_ids.pop(rating_key)
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

    def refresh(self, section: Section, folder: str | None, delay: float) -> None:
        """Start a scan of *folder* (or the whole section) that completes after *delay* s."""
        reached = frozenset(
            key
            for key, item in self.items.items()
            if item.section_key == section.key
            and not item.scanned
            and (folder is None or _covers(folder, item.path))
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
