"""What the fake says: Plex's XML document for each endpoint, and its HTML error page.

Each document is built from the library as it is (sections, items, scans) and rendered the way
plexapi reads it: a `<MediaContainer>` of `<Directory>` sections or `<Video>` items, with tag
elements and `<Field locked>` taken from the item's fields.
"""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Final
from xml.etree import ElementTree as ET

if TYPE_CHECKING:
    from tests.fake_plex.items import FakeItem
    from tests.fake_plex.library import Library, Section

VERSION: Final = "1.40.0.0000"
"""The Plex server version the fake claims to be."""

XML_CONTENT_TYPE: Final = "text/xml;charset=utf-8"
HTML_CONTENT_TYPE: Final = "text/html;charset=utf-8"

RELEASE_DATE: Final = "originallyAvailableAt"
"""The field (by Plex's name) from which Plex derives an item's `year`."""

LISTING_TAG_LIMITS: Final[dict[str, int]] = {"genre": 2, "collection": 1, "label": 0, "actor": 3}
"""How many tags of each field (by Plex's name) a section listing shows: like the real server,
only a few; none of a field not named here.
"""


def element(tag: str, parent: ET.Element | None = None, /, **attributes: object) -> ET.Element:
    """An XML element whose attributes skip None, as Plex omits empty attributes.

    Positional-only, so that a tag element's own `tag` attribute can be passed by keyword.
    """
    values = {name: str(value) for name, value in attributes.items() if value is not None}
    return ET.Element(tag, values) if parent is None else ET.SubElement(parent, tag, values)


def document(root: ET.Element) -> bytes:
    """*root* as a whole XML document, declaration included."""
    written: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return written


def phrase(status: int) -> str:
    """The reason phrase for *status*."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        # A proxy status such as Cloudflare's 520 is unknown to http; the line is still sent.
        return "Unknown"


def error_page(status: int, detail: str = "") -> bytes:
    """The small HTML page Plex sends with an error status."""
    title = phrase(status)
    return (
        f"<html><head><title>{title}</title></head>"
        f"<body><h1>{status} {title}</h1>{detail}</body></html>"
    ).encode()


def server_root(friendly_name: str, machine_identifier: str) -> ET.Element:
    """GET /: what `PlexServer` reads when it connects."""
    return element(
        "MediaContainer",
        size=0,
        allowSync=0,
        friendlyName=friendly_name,
        machineIdentifier=machine_identifier,
        version=VERSION,
        myPlex=0,
        multiuser=0,
        platform="Linux",
        platformVersion="fake",
        transcoderActiveVideoSessions=0,
        updatedAt=int(time.time()),
    )


def identity(machine_identifier: str) -> ET.Element:
    """GET /identity: the cheap health check."""
    return element(
        "MediaContainer",
        size=0,
        claimed=0,
        machineIdentifier=machine_identifier,
        version=VERSION,
    )


def library_root() -> ET.Element:
    """GET /library."""
    # Real Plex lists entry points here; plexapi reads only the container and then asks
    # /library/sections for the sections themselves.
    root = element(
        "MediaContainer",
        size=1,
        allowSync=0,
        identifier="com.plexapp.plugins.library",
        mediaTagPrefix="/system/bundle/media/flags/",
        title1="Plex Library",
    )
    element("Directory", root, key="sections", title="Library Sections")
    return root


def sections(library: Library) -> ET.Element:
    """GET /library/sections: every section, with its folders and whether it is scanning."""
    root = element("MediaContainer", size=len(library.sections), allowSync=0, title1="Plex Library")
    for section in library.sections.values():
        refreshing = any(scan.section_key == section.key for scan in library.scans)
        directory = element(
            "Directory",
            root,
            allowSync=1,
            key=section.key,
            type=section.kind,
            title=section.title,
            agent="tv.plex.agents.movie",
            scanner="Plex Movie",
            language="en-US",
            uuid=section.uuid,
            refreshing=int(refreshing),
            updatedAt=section.scanned_at,
            createdAt=section.created_at,
            scannedAt=section.scanned_at,
        )
        for number, location in enumerate(section.locations, start=1):
            element("Location", directory, id=section.key * 100 + number, path=location)
    return root


def activities(library: Library) -> ET.Element:
    """GET /activities: the scans under way."""
    root = element("MediaContainer", size=len(library.scans))
    for scan in library.scans:
        activity = element(
            "Activity",
            root,
            uuid=scan.uuid,
            type="library.update.section",
            cancellable=0,
            userID=1,
            title=f"Scanning {library.sections[scan.section_key].title}",
            progress=0,
        )
        element("Context", activity, librarySectionID=scan.section_key)
    return root


def listing(
    library: Library, section: Section, items: list[FakeItem], start: int, size: int
) -> ET.Element:
    """GET /library/sections/<id>/all: the page of *items* from *start*, of *size* at most."""
    page = items[start : start + size]
    root = element(
        "MediaContainer",
        size=len(page),
        totalSize=len(items),
        offset=start,
        allowSync=1,
        identifier="com.plexapp.plugins.library",
        librarySectionID=section.key,
        librarySectionTitle=section.title,
        librarySectionUUID=section.uuid,
        title1=section.title,
        viewGroup="movie",
    )
    for item in page:
        _video(root, library, item, full=False)
    return root


def metadata(library: Library, items: list[FakeItem]) -> ET.Element:
    """GET /library/metadata/<keys>: the items complete."""
    keys = {item.section_key for item in items}
    # fetchItems stamps the container's section on every item: only name it if it is one.
    section = library.sections[keys.pop()] if len(keys) == 1 else None
    root = element(
        "MediaContainer",
        size=len(items),
        allowSync=1,
        identifier="com.plexapp.plugins.library",
        librarySectionID=section and section.key,
        librarySectionTitle=section and section.title,
        librarySectionUUID=section and section.uuid,
    )
    for item in items:
        _video(root, library, item, full=True)
    return root


def _video(parent: ET.Element, library: Library, item: FakeItem, *, full: bool) -> None:
    """An item as a `<Video>`: complete, or as a listing shows it (few tags, no text)."""
    schema = library.schema
    section = library.sections[item.section_key]
    details: dict[str, str | None] = {}
    if full:
        details = {f.plex: item.values[f.key] for f in schema.value_fields}
        released = details.get(RELEASE_DATE)
        details["year"] = released and released[:4]
    video = element(
        "Video",
        parent,
        ratingKey=item.rating_key,
        key=f"/library/metadata/{item.rating_key}",
        guid=f"local://{item.rating_key}",
        type="movie",
        title=item.title,
        librarySectionID=section.key,
        librarySectionTitle=section.title,
        librarySectionKey=f"/library/sections/{section.key}",
        addedAt=item.added_at,
        updatedAt=item.updated_at,
        **details,
    )
    part_id = library.part_ids[item.rating_key]
    media = element("Media", video, id=part_id)
    element("Part", media, id=part_id, key=f"/library/parts/{part_id}/file", file=item.path)
    for spec in schema.tag_fields:
        tags = item.tags[spec.key]
        for value in tags if full else tags[: LISTING_TAG_LIMITS.get(spec.plex, 0)]:
            element(schema.elements[spec.key], video, tag=value)
    if full:
        for spec in schema.fields:
            if spec.key in item.locked:
                element("Field", video, name=spec.plex, locked=1)
