"""What Plex holds for an item, in the terms of ``shell.fields``, and how a job differs from it.

``PlexServerGateway.held`` reads items (``/library/metadata/<ratingKeys>``, complete, a hundred
a request) and builds a ``Held`` of each with ``held_from_xml``; ``differences`` then says, as a
pure function, whether applying a job would change anything. A host uses both to find the items
that need a job (the Stash plugin's reconcile task does), without knowing Plex's XML.

What counts as a difference is what applying the job would change:

* a text or date field: its value, compared with line endings and surrounding blanks evened
  out (Windows line ends count as Unix ones);
* a tag field: the set of names, without regard to order or case (Plex reuses a tag it already
  has under another case);
* the rating: its value, to a tenth;
* an image: Plex shows an image only by a URL that changes with every upload, so the bytes are
  compared with those plexsync last uploaded to the item (the queue's ``uploaded_images``);
  an image plexsync never uploaded there differs;
* every field the job sets but the rating must also be locked, as applying the job leaves it.

Fields the job leaves alone are not compared.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Final

from attrs import field, frozen

from shell.fields import FIELDS, Field, Kind
from shell.payload import Metadata

HeldValue = str | float | tuple[str, ...]
"""A value Plex shows: text or a date, a rating, or tag names (as ``shell.payload.Value``)."""

RATING_TOLERANCE: Final = 0.05
"""Ratings this close are the same (Plex writes them with one decimal)."""
_SHOWN: Final = 40
"""Characters of a value quoted in a difference."""


@frozen(kw_only=True)
class Held:
    """What Plex holds for one item."""

    rating_key: int
    values: Mapping[str, HeldValue] = field(factory=dict)
    """Each field's value by key, when Plex has one; tag fields always (maybe empty). Image
    fields are never here: see ``images``."""
    locked: frozenset[str] = frozenset()
    """The keys of the fields Plex has locked."""
    images: Mapping[str, str] = field(factory=dict)
    """For each image field, the SHA-256 (hex) of the bytes plexsync last uploaded to the item,
    if it ever did."""


def held_from_xml(video: ET.Element, images: Mapping[str, str] | None = None) -> Held:
    """The ``Held`` of a complete ``<Video>`` (from ``/library/metadata/<ratingKey>``), with
    *images* the digests of the images plexsync last uploaded to it.
    """
    values: dict[str, HeldValue] = {}
    for spec in FIELDS:
        if spec.kind is Kind.TAGS:
            assert spec.element is not None  # noqa: S101 - every tag field names its element
            values[spec.key] = tuple(
                tag.get("tag", "") for tag in video.findall(spec.element) if tag.get("tag")
            )
        elif spec.kind is Kind.RATING:
            if (rating := _number(video.get(spec.plex))) is not None:
                values[spec.key] = rating
        elif spec.kind is not Kind.IMAGE and video.get(spec.plex):
            values[spec.key] = str(video.get(spec.plex))
    by_plex = {spec.plex: spec.key for spec in FIELDS}
    locked = frozenset(
        by_plex[name]
        for lock in video.findall("Field")
        if lock.get("locked") == "1" and (name := lock.get("name", "")) in by_plex
    )
    return Held(
        rating_key=int(video.get("ratingKey", "0")),
        values=values,
        locked=locked,
        images=dict(images or {}),
    )


def differences(
    metadata: Metadata, held: Held, image_digests: Mapping[str, str] | None = None
) -> list[str]:
    """How *held* differs from what applying *metadata* would leave, one phrase each; empty
    when the job would change nothing. *image_digests* holds, by field key, the SHA-256 of each
    image file the job carries (an image without one differs).
    """
    digests = image_digests or {}
    found: list[str] = []
    for spec in FIELDS:
        wanted = metadata.get(spec.key)
        if wanted is None:
            continue
        if spec.kind is Kind.IMAGE:
            digest = digests.get(spec.key)
            if digest is None or held.images.get(spec.key) != digest:
                found.append(f"{spec.key} is another image")
        elif isinstance(wanted, tuple):
            found += _tag_differences(spec, wanted, held.values.get(spec.key))
        elif isinstance(wanted, float):
            shown = held.values.get(spec.key)
            if not isinstance(shown, float) or abs(shown - wanted) > RATING_TOLERANCE:
                now = "none" if not isinstance(shown, float) else f"{shown:g}"
                found.append(f"{spec.key} is {now}, not {wanted:g}")
        else:
            shown = held.values.get(spec.key)
            if _even(wanted) != _even(shown if isinstance(shown, str) else ""):
                now = _quoted(shown) if isinstance(shown, str) and shown else "empty"
                found.append(f"{spec.key} is {now}, not {_quoted(wanted)}")
        if spec.kind is not Kind.RATING and spec.key not in held.locked:
            found.append(f"{spec.key} not locked")
    return found


def _tag_differences(spec: Field, wanted: tuple[str, ...], shown: HeldValue | None) -> list[str]:
    names = shown if isinstance(shown, tuple) else ()
    have = {name.casefold() for name in names}
    want = {name.casefold() for name in wanted}
    found = []
    if missing := [name for name in dict.fromkeys(wanted) if name.casefold() not in have]:
        found.append(f"{spec.key} lack {', '.join(map(_quoted, missing))}")
    if extra := [name for name in names if name.casefold() not in want]:
        found.append(f"{spec.key} also have {', '.join(map(_quoted, extra))}")
    return found


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _even(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _quoted(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…")
