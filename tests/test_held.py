"""What Plex holds, read from an item's XML, and how a job differs from it (`shell.held`): pure
functions, table-driven.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import attrs
import pytest

from shell.held import Held, differences, held_from_xml
from shell.payload import Metadata

ITEM = """<Video ratingKey="1042" title="A" summary="Line one.&#10;Line two." studio="Studio"
  originallyAvailableAt="2024-05-01" userRating="8.0" thumb="/library/metadata/1042/thumb/9">
  <Media><Part file="/media/a.mp4"/></Media>
  <Role tag="Ann"/><Role tag="Bob"/><Genre tag="Drama"/><Collection tag="Box Set"/>
  <Field name="title" locked="1"/><Field name="summary" locked="1"/>
  <Field name="actor" locked="1"/><Field name="genre" locked="1"/>
  <Field name="thumb" locked="1"/><Field name="studio" locked="0"/><Field name="year" locked="1"/>
</Video>"""


def test_an_items_xml_becomes_its_values_tags_locks_and_uploaded_images() -> None:
    """Text, dates and ratings come from attributes, tags from their elements (an empty list
    when there are none), locks from locked Field elements; Plex's other fields are ignored.
    """
    held = held_from_xml(ET.fromstring(ITEM), {"poster": "ab" * 32})  # noqa: S314 - our own text

    assert held == Held(
        rating_key=1042,
        values={
            "title": "A",
            "summary": "Line one.\nLine two.",
            "studio": "Studio",
            "originally_available_at": "2024-05-01",
            "performers": ("Ann", "Bob"),
            "genres": ("Drama",),
            "collections": ("Box Set",),
            "labels": (),
            "user_rating": 8.0,
        },
        locked=frozenset({"title", "summary", "performers", "genres", "poster"}),
        images={"poster": "ab" * 32},
    )


def test_an_unreadable_rating_is_no_rating() -> None:
    """A userRating that is not a number reads as none, never as a failure."""
    held = held_from_xml(ET.fromstring('<Video ratingKey="1" userRating="high"/>'))  # noqa: S314

    assert "user_rating" not in held.values


SYNCED = Held(
    rating_key=1,
    values={
        "title": "A",
        "summary": "One.\nTwo.",
        "user_rating": 8.0,
        "genres": ("Drama", "Noir"),
        "performers": (),
    },
    locked=frozenset({"title", "summary", "genres", "performers", "poster"}),
    images={"poster": "d1"},
)
"""An item as plexsync left it after the job of `job()`."""


def job(**changes: Any) -> Metadata:
    """The job that left `SYNCED`, with *changes* (None leaves a field alone)."""
    fields: dict[str, Any] = {
        "title": "A",
        "summary": "One.\nTwo.",
        "user_rating": 8.0,
        "genres": ("Drama", "Noir"),
        "performers": (),
        "poster": "/images/d1.jpg",
    }
    return Metadata("/media/a.mp4", **(fields | changes))


def item(*, unlocked: frozenset[str] = frozenset(), without: str = "", **images: str) -> Held:
    """`SYNCED` with the fields *unlocked*, the value of *without* gone, *images* instead."""
    values = {k: v for k, v in SYNCED.values.items() if k != without}
    return attrs.evolve(
        SYNCED, values=values, locked=SYNCED.locked - unlocked, images=images or SYNCED.images
    )


@pytest.mark.parametrize(
    ("metadata", "held", "expected"),
    [
        (job(), SYNCED, []),
        (job(title="B"), SYNCED, ["title is 'A', not 'B'"]),
        (job(title="  A "), SYNCED, []),
        (job(summary="One.\r\nTwo.\r\n"), SYNCED, []),
        (job(studio="Studio"), SYNCED, ["studio is empty, not 'Studio'", "studio not locked"]),
        (Metadata("/media/a.mp4", title="A"), Held(rating_key=1, values={"summary": "Z"},
            locked=frozenset({"title"})), ["title is empty, not 'A'"]),
        (job(genres=("noir", "DRAMA")), SYNCED, []),
        (job(genres=("Drama", "Crime")), SYNCED,
            ["genres lack 'Crime'", "genres also have 'Noir'"]),
        (job(genres=()), SYNCED, ["genres also have 'Drama', 'Noir'"]),
        (job(performers=("Ann",)), SYNCED, ["performers lack 'Ann'"]),
        (job(user_rating=8.04), SYNCED, []),
        (job(user_rating=7.5), SYNCED, ["user_rating is 8, not 7.5"]),
        (job(), item(without="user_rating"), ["user_rating is none, not 8"]),
        (job(), item(unlocked=frozenset({"user_rating"})), []),
        (job(poster="/images/d2.jpg"), SYNCED, ["poster is another image"]),
        (job(), item(unlocked=frozenset({"title"})), ["title not locked"]),
        (job(), item(poster="d0"), ["poster is another image"]),
    ],
)  # fmt: skip
def test_a_job_differs_from_an_item_where_applying_it_would_change_something(
    metadata: Metadata, held: Held, expected: list[str]
) -> None:
    """Text compares with line ends and blanks evened out, tags as sets without case, ratings
    to a tenth, images by the digest last uploaded; every field set but the rating must be
    locked; a field the job leaves alone is never compared.
    """
    digests = {"poster": "d2" if metadata.get("poster") == "/images/d2.jpg" else "d1"}

    assert differences(metadata, held, digests) == expected


def test_an_image_whose_digest_is_unknown_differs() -> None:
    """A job's image that could not be hashed is taken as another image (it will be uploaded)."""
    assert differences(job(), SYNCED, {}) == ["poster is another image"]
