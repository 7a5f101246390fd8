"""The metadata fields a job can carry: the one list, from which everything else is derived.

Each row says what a host calls the field, what kind of value it holds, what Plex calls it and
how the command line spells it. Validation (``shell.payload``), the Plex edit (``shell.plex``),
the ``plexsync enqueue`` options (``shell.cli.parser``) and the fake Plex server the tests run
against all read this table, so a new field is one new row here (and, if it is of a new kind, the
code that knows that kind).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from attrs import frozen


class Kind(enum.Enum):
    """What a field holds, which decides how it is checked and how Plex is told."""

    TEXT = "text"
    """One line of text: a scalar Plex field, sent as ``<plex>.value``."""
    PROSE = "prose"
    """Text that may hold newlines and tabs (a summary); otherwise as ``TEXT``."""
    DATE = "date"
    """A calendar date written YYYY-MM-DD; a scalar Plex field."""
    TAGS = "tags"
    """A list of names: a Plex tag field, set exactly (``<plex>[i].tag.tag``)."""
    RATING = "rating"
    """A number from 0 to 10: the user's rating, set through Plex's rating endpoint
    (``PUT /:/rate``), not the edit; it has no lock."""
    IMAGE = "image"
    """A local image file: uploaded to ``/library/metadata/<id>/<endpoint>`` only when its
    bytes differ from those last uploaded to that item, then locked (``<plex>.locked``)."""


@frozen(kw_only=True)
class Field:
    """One metadata field.

    ``key`` is the host's name (in ``enqueue``'s metadata and in JSON), ``plex`` Plex's field
    name (``title``, ``genre``), ``element`` the XML element a tag field's tags appear as in a
    Plex item (``Genre``, ``Role``), ``endpoint`` where an image field is uploaded
    (``posters``), ``flag`` the ``plexsync enqueue`` option.
    """

    key: str
    kind: Kind
    plex: str
    flag: str
    help: str
    element: str | None = None
    endpoint: str | None = None

    @property
    def is_list(self) -> bool:
        """Whether the field holds a list of names."""
        return self.kind is Kind.TAGS


FIELDS: Final[tuple[Field, ...]] = (
    Field(key="title", kind=Kind.TEXT, plex="title", flag="--title", help="the title"),
    Field(key="summary", kind=Kind.PROSE, plex="summary", flag="--summary", help="the description"),
    Field(key="studio", kind=Kind.TEXT, plex="studio", flag="--studio", help="the studio"),
    Field(key="tagline", kind=Kind.TEXT, plex="tagline", flag="--tagline", help="the tagline"),
    Field(
        key="original_title",
        kind=Kind.TEXT,
        plex="originalTitle",
        flag="--original-title",
        help="the original title (Stash's studio code goes here)",
    ),
    Field(
        key="originally_available_at",
        kind=Kind.DATE,
        plex="originallyAvailableAt",
        flag="--date",
        help="the release date, YYYY-MM-DD",
    ),
    Field(
        key="performers",
        kind=Kind.TAGS,
        plex="actor",
        element="Role",
        flag="--performer",
        help="a performer (repeatable)",
    ),
    Field(
        key="genres",
        kind=Kind.TAGS,
        plex="genre",
        element="Genre",
        flag="--genre",
        help="a genre (repeatable)",
    ),
    Field(
        key="collections",
        kind=Kind.TAGS,
        plex="collection",
        element="Collection",
        flag="--collection",
        help="a collection (repeatable)",
    ),
    Field(
        key="labels",
        kind=Kind.TAGS,
        plex="label",
        element="Label",
        flag="--label",
        help="a label (repeatable)",
    ),
    Field(
        key="user_rating",
        kind=Kind.RATING,
        plex="userRating",
        flag="--user-rating",
        help="the user's rating, 0 to 10",
    ),
    Field(
        key="poster",
        kind=Kind.IMAGE,
        plex="thumb",
        endpoint="posters",
        flag="--poster",
        help="a local image file for the poster",
    ),
    Field(
        key="art",
        kind=Kind.IMAGE,
        plex="art",
        endpoint="arts",
        flag="--art",
        help="a local image file for the background art",
    ),
)
"""Every field a job may set, in the order they are shown and sent."""

BY_KEY: Final[Mapping[str, Field]] = {f.key: f for f in FIELDS}
PATH_KEY: Final = "path"
"""The one key every job must carry: the media file, as the host sees it."""
KNOWN_KEYS: Final = (PATH_KEY, *BY_KEY)
LIST_KEYS: Final = tuple(f.key for f in FIELDS if f.is_list)
