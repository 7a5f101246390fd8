"""An item's fields: which the fake knows, the item that holds them and the edit that changes
them.

Everything here follows `shell.fields.FIELDS` (or the rows a test gives `FakePlex`): a `Schema`
sorts the rows, a `FakeItem` keeps each field under its key, and an `Edit` reads Plex's edit
parameters by each row's Plex name. A bad edit is a ValueError; the library answers it with 400.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

import attrs
from attrs import define, field, frozen

from shell.fields import Field, Kind

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

TITLE: Final = "title"
"""The field every Plex item has a value of: `FakeItem.title`, not one of its `values`."""


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
    """The fields of one value except the title and images: `FakeItem.values` (a rating is
    kept as the text Plex shows, and set through `/:/rate` only)."""
    image_fields: tuple[Field, ...] = field(init=False)
    """The image fields: `FakeItem.images`, set by an upload, locked by an edit."""
    tag_fields: tuple[Field, ...] = field(init=False)
    """The fields that hold tags: `FakeItem.tags`."""
    elements: dict[str, str] = field(init=False)
    """The XML element of each field of tags, by key."""
    by_plex: dict[str, Field] = field(init=False)
    """Each field by its Plex name, as edits name it."""

    @value_fields.default
    def _value_fields(self) -> tuple[Field, ...]:
        return tuple(
            f for f in self.fields if not f.is_list and f.kind is not Kind.IMAGE and f.key != TITLE
        )

    @image_fields.default
    def _image_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.kind is Kind.IMAGE)

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
    if value is not None and spec.kind is Kind.RATING:
        return plex_rating(value)
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
    """The item's first file: the first part of its first version."""
    title: str
    """Plex always has one: an item it knows nothing about is named after its file."""
    values: dict[str, str | None]
    """Every other field of one value (summary, studio, ...), None where it has none."""
    tags: dict[str, list[str]]
    """Every field of tags (performers, genres, ...), in order."""
    locked: set[str] = field(factory=set)
    """The fields Plex's agents must leave alone."""
    images: dict[str, bytes] = field(factory=dict)
    """The bytes last uploaded to each image field (poster, art), by key."""
    scanned: bool = True
    added_at: int = 0
    updated_at: int = 0
    more_parts: tuple[str, ...] = ()
    """Further files of the first version: a film split in parts (``cd1``, ``cd2``)."""
    more_versions: tuple[tuple[str, ...], ...] = ()
    """Further versions of the film (another cut or quality), each its files in order."""

    @property
    def versions(self) -> tuple[tuple[str, ...], ...]:
        """Each version (a `<Media>`) as its files (its `<Part>`s), the first one first."""
        return ((self.path, *self.more_parts), *self.more_versions)

    @property
    def files(self) -> tuple[str, ...]:
        """Every file of every version."""
        return tuple(file for version in self.versions for file in version)

    def copy(self) -> FakeItem:
        """An independent snapshot, so assertions never race the server's threads."""
        return attrs.evolve(
            self,
            values=dict(self.values),
            tags={name: list(tags) for name, tags in self.tags.items()},
            locked=set(self.locked),
            images=dict(self.images),
        )


_EDITABLE: Final = frozenset({Kind.TEXT, Kind.PROSE, Kind.DATE})
"""The kinds an edit's ``<plex>.value`` sets; Plex ignores it for the others."""
_SET_TAG = re.compile(r"(?P<field>[A-Za-z]+)\[(?P<index>\d+)\]\.tag\.tag")
_REMOVE_TAGS = re.compile(r"(?P<field>[A-Za-z]+)\[\]\.tag\.tag-")


@frozen
class Edit:
    """The changes one PUT edit asks for, each field by its key, checked before any item is
    touched: a bad one is a ValueError.
    """

    values: dict[str, str | None]
    """The new value of each field it sets (None clears it)."""
    locks: dict[str, bool]
    """Whether each field it locks or unlocks is now locked."""
    set_tags: dict[str, list[str]]
    """The exact new tags of each field of tags it sets."""
    remove_tags: dict[str, list[str]]
    """The tags it removes from each field of tags."""

    @classmethod
    def parse(cls, query: Mapping[str, str], schema: Schema) -> Edit:
        """Read Plex's edit parameters; other parameters are ignored, as Plex ignores them."""
        values: dict[str, str | None] = {}
        locks: dict[str, bool] = {}
        indexed: dict[str, list[tuple[int, str]]] = {}
        remove_tags: dict[str, list[str]] = {}
        for name, value in query.items():
            plex_field, _, suffix = name.partition(".")
            spec = schema.by_plex.get(plex_field)
            if spec is not None and suffix == "value" and spec.kind in _EDITABLE:
                values[spec.key] = _field_value(spec, value)
            elif spec is not None and suffix == "locked":
                if value not in {"0", "1"}:
                    raise ValueError(f"{name} must be 0 or 1")
                locks[spec.key] = value == "1"
            elif (match := _SET_TAG.fullmatch(name)) and (key := _tags_key(schema, match)):
                indexed.setdefault(key, []).append((int(match["index"]), value))
            elif (match := _REMOVE_TAGS.fullmatch(name)) and (key := _tags_key(schema, match)):
                # plexapi quotes each tag, joins them with commas, then quotes the whole value:
                # after the query is decoded once, split on commas and decode each tag again.
                remove_tags[key] = [unquote(tag) for tag in value.split(",")]
        set_tags = {
            # In index order, without empty names; Plex keeps a tag once.
            key: list(dict.fromkeys(value for _, value in sorted(entries) if value))
            for key, entries in indexed.items()
        }
        return cls(values=values, locks=locks, set_tags=set_tags, remove_tags=remove_tags)

    def apply(self, item: FakeItem, now: int) -> None:
        """Change *item*: values, then the exact tag lists, then removals, then locks."""
        for key, value in self.values.items():
            if key != TITLE:
                item.values[key] = value
            else:  # Plex falls back to the file name
                item.title = title_from(item.path) if value is None else value
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
        raise ValueError(f"{spec.plex} must be YYYY-MM-DD")
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


def plex_rating(value: str | float) -> str:
    """A rating as Plex writes it in `userRating` ("7.5", "10.0"); ValueError outside 0..10."""
    rating = float(value)
    if not 0 <= rating <= 10:
        raise ValueError(f"a rating is from 0 to 10, got {value}")
    return str(rating)


def title_from(path: str) -> str:
    """The title Plex gives a file it knows nothing about: its name without the extension."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name
