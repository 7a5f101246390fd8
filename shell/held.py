"""What Plex holds for an item, and how a job differs from it, for hosts that look before they
queue (the Stash plugin's reconcile task does).

``PlexServerGateway.held`` reads items in full (``/library/metadata/<ratingKeys>``, a hundred a
request) and gives a ``Held`` of each: the item's XML, and the digests of the images plexsync
last uploaded to it (from the queue's database: Plex shows an image only by a URL that changes
with every upload). ``differences`` then says, as a pure function, what applying a job would
change: every field and lock as the read-back after an edit compares them
(``shell.read_back.differences``), and each image by its bytes, an image plexsync never
uploaded to the item being another one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from attrs import field, frozen

from shell import read_back
from shell.fields import FIELDS, Kind
from shell.payload import Metadata


@frozen(kw_only=True)
class Held:
    """What Plex holds for one item."""

    rating_key: int
    item: ET.Element = field(eq=False)
    """The complete ``<Video>``, as ``/library/metadata/<ratingKey>`` answers it."""
    images: Mapping[str, str] = field(factory=dict)
    """For each image field, the SHA-256 (hex) of the bytes plexsync last uploaded to the item,
    if it ever did."""


def differences(
    metadata: Metadata, held: Held, image_digests: Mapping[str, str] | None = None
) -> list[str]:
    """How *held* differs from what applying *metadata* would leave, one phrase each; empty
    when the job would change nothing. *image_digests* holds, by field key, the SHA-256 of each
    image file the job carries (an image without one differs).
    """
    digests = image_digests or {}
    found = read_back.differences(metadata, held.item)
    for spec in FIELDS:
        if spec.kind is Kind.IMAGE and metadata.get(spec.key) is not None:
            digest = digests.get(spec.key)
            if digest is None or held.images.get(spec.key) != digest:
                found.append(f"{spec.key} is another image")
    return found
