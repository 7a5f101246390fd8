"""How a job differs from what Plex holds (`shell.held.differences`): a pure function,
table-driven; fields and locks as the read-back compares them, images by their bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from shell.held import Held, differences
from shell.payload import Metadata

SYNCED = """<Video ratingKey="1042" title="A" userRating="8.0"
  thumb="/library/metadata/1042/thumb/1700000000">
  <Genre tag="Drama"/><Genre tag="Noir"/>
  <Field name="title" locked="1"/><Field name="genre" locked="1"/>
  <Field name="actor" locked="1"/>{thumb_lock}
</Video>"""
"""An item as plexsync leaves it after `job()`."""
LOCKED_POSTER = '<Field name="thumb" locked="1"/>'


def held(*, thumb_lock: str = LOCKED_POSTER, **images: str) -> Held:
    """The synced item, its poster lock as given, *images* as plexsync last uploaded them."""
    item = ET.fromstring(SYNCED.format(thumb_lock=thumb_lock))  # noqa: S314 - our own text
    return Held(rating_key=1042, item=item, images=images or {"poster": "d1"})


def job(**changes: Any) -> Metadata:
    """The job that left the synced item, with *changes*."""
    fields: dict[str, Any] = {
        "title": "A",
        "user_rating": 8.0,
        "genres": ("Drama", "Noir"),
        "performers": (),
        "poster": "/images/d1.jpg",
    }
    return Metadata("/media/a.mp4", **(fields | changes))


@pytest.mark.parametrize(
    ("metadata", "plex", "digests", "expected"),
    [
        (job(), held(), {"poster": "d1"}, []),
        (job(title="B"), held(), {"poster": "d1"}, ["title is 'A', not 'B'"]),
        (job(genres=("noir", "DRAMA")), held(), {"poster": "d1"}, []),
        (job(genres=()), held(), {"poster": "d1"}, ["genres still have 'Drama', 'Noir'"]),
        (job(user_rating=6.0), held(), {"poster": "d1"}, ["user_rating is 8, not 6"]),
        (job(poster="/images/d2.jpg"), held(), {"poster": "d2"}, ["poster is another image"]),
        (job(), held(poster="d0"), {"poster": "d1"}, ["poster is another image"]),
        (job(), held(), {}, ["poster is another image"]),
        (job(), Held(rating_key=1042, item=held().item), {"poster": "d1"},
            ["poster is another image"]),
        (job(), held(thumb_lock=""), {"poster": "d1"}, ["poster not locked"]),
        (job(poster=None), held(poster="d0"), {}, []),
    ],
)  # fmt: skip
def test_a_job_differs_where_applying_it_would_change_the_item(
    metadata: Metadata, plex: Held, digests: dict[str, str], expected: list[str]
) -> None:
    """Fields, tags, ratings and locks compare as the read-back compares them; an image differs
    unless the bytes plexsync last uploaded to the item are the job's (an image never uploaded
    there, or one whose bytes are unknown, differs); a job without an image compares none.
    """
    assert differences(metadata, plex, digests) == expected
