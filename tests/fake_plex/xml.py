"""What the fake says: Plex's XML document for each endpoint, and its HTML error page.

Each document is built from the library as it is (sections, items, scans) in the shapes a real
server sends: a `<MediaContainer>` of `<Directory>` sections of every kind, each with its
`<Location>`s; `<Video>` items whose versions are `<Media>` holding one `<Part>` per file, with
tag elements (a few in a listing, all in a full item) and `<Field locked>` from the item's fields;
shows and artists as `<Directory>` entries without any `<Media>`.
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
NO_BODY_CONTENT_TYPE: Final = HTML_CONTENT_TYPE
"""How Plex labels a 200 without a body (its answer to an edit or a scan request): as HTML,
not XML, which a client must not take for a web page."""

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


SECTION_LOOKS: Final[dict[str, dict[str, str]]] = {
    "movie": {
        "agent": "com.plexapp.agents.imdb",
        "scanner": "Plex Movie Scanner",
        "art": "/:/resources/movie-fanart.jpg",
        "thumb": "/:/resources/movie.png",
        "title2": "All Movies",
    },
    "show": {
        "agent": "com.plexapp.agents.thetvdb",
        "scanner": "Plex Series Scanner",
        "art": "/:/resources/show-fanart.jpg",
        "thumb": "/:/resources/show.png",
        "title2": "All Shows",
    },
    "artist": {
        "agent": "tv.plex.agents.music",
        "scanner": "Plex Music",
        "art": "/:/resources/artist-fanart.jpg",
        "thumb": "/:/resources/artist.png",
        "title2": "All Artists",
    },
}
"""What a real server says of each kind of section: its agent, scanner and artwork."""

MEDIA_TAG_VERSION: Final = 1700000000
"""The version stamp of Plex's media flags, on every library container."""


def sections(library: Library) -> ET.Element:
    """GET /library/sections: every section, by key, with its folders and whether it scans."""
    root = element(
        "MediaContainer",
        size=len(library.sections),
        allowSync=0,
        identifier="com.plexapp.plugins.library",
        mediaTagPrefix="/system/bundle/media/flags/",
        mediaTagVersion=MEDIA_TAG_VERSION,
        title1="Plex Library",
    )
    for key in sorted(library.sections):
        section = library.sections[key]
        looks = SECTION_LOOKS[section.kind]
        refreshing = any(scan.section_key == section.key for scan in library.scans)
        directory = element(
            "Directory",
            root,
            allowSync=1,
            art=looks["art"],
            composite=f"/library/sections/{section.key}/composite/{section.scanned_at}",
            filters=1,
            refreshing=int(refreshing),
            thumb=looks["thumb"],
            key=section.key,
            type=section.kind,
            title=section.title,
            agent=looks["agent"],
            scanner=looks["scanner"],
            language="en",
            uuid=section.uuid,
            updatedAt=section.scanned_at,
            createdAt=section.created_at,
            scannedAt=section.scanned_at,
            content=1,
            directory=1,
            contentChangedAt=section.scanned_at,
            hidden=0,
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
    library: Library,
    section: Section,
    items: list[FakeItem],
    start: int,
    size: int,
    *,
    with_media: bool = True,
) -> ET.Element:
    """GET /library/sections/<id>/all of a movie section: the page of *items* from *start*, of
    *size* at most; each item with its versions and files unless *with_media* is False.
    """
    page = items[start : start + size]
    root = _listing_container(section, size=len(page), total=len(items), offset=start)
    for item in page:
        _video(root, library, item, full=False, with_media=with_media)
    return root


def entries(section: Section, start: int, size: int) -> ET.Element:
    """GET /library/sections/<id>/all of a show or music section: its shows or artists, which
    (like every show and artist) have no `<Media>` of their own.
    """
    page = section.entries[start : start + size]
    root = _listing_container(section, size=len(page), total=len(section.entries), offset=start)
    for entry in page:
        key = f"/library/metadata/{entry.rating_key}"
        directory = element(
            "Directory",
            root,
            ratingKey=entry.rating_key,
            key=f"{key}/children",
            guid=f"{SECTION_LOOKS[section.kind]['agent']}://{entry.rating_key}?lang=en",
            type=section.kind,
            title=entry.title,
            thumb=f"{key}/thumb/{section.created_at}",
            addedAt=section.created_at,
            updatedAt=section.scanned_at,
            childCount=1 if section.kind == "show" else None,
            leafCount=10 if section.kind == "show" else None,
            viewedLeafCount=0 if section.kind == "show" else None,
        )
        element("Genre", directory, tag="Drama")
    return root


def _listing_container(section: Section, *, size: int, total: int, offset: int) -> ET.Element:
    looks = SECTION_LOOKS[section.kind]
    return element(
        "MediaContainer",
        size=size,
        totalSize=total,
        offset=offset,
        allowSync=1,
        art=looks["art"],
        identifier="com.plexapp.plugins.library",
        librarySectionID=section.key,
        librarySectionTitle=section.title,
        librarySectionUUID=section.uuid,
        mediaTagPrefix="/system/bundle/media/flags/",
        mediaTagVersion=MEDIA_TAG_VERSION,
        nocache=1,
        sortAsc=1,
        thumb=looks["thumb"],
        title1=section.title,
        title2=looks["title2"],
        viewGroup=section.kind,
        viewMode=131122,
    )


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
        mediaTagPrefix="/system/bundle/media/flags/",
        mediaTagVersion=MEDIA_TAG_VERSION,
    )
    for item in items:
        _video(root, library, item, full=True, with_media=True)
    return root


QUALITIES: Final = (
    {
        "width": 1920,
        "height": 800,
        "videoResolution": "1080",
        "videoCodec": "h264",
        "bitrate": 8000,
    },
    {
        "width": 3840,
        "height": 1600,
        "videoResolution": "4k",
        "videoCodec": "hevc",
        "bitrate": 24000,
    },
    {"width": 1280, "height": 544, "videoResolution": "720", "videoCodec": "h264", "bitrate": 4000},
)
"""How each version of an item is encoded, in turn: versions of one film differ."""

DURATION_MS: Final = 7_200_000
"""Every film in the fake runs two hours."""


def _video(
    parent: ET.Element, library: Library, item: FakeItem, *, full: bool, with_media: bool
) -> None:
    """An item as a `<Video>`: complete, or as a listing shows it (only a few tags)."""
    schema = library.schema
    section = library.sections[item.section_key]
    key = f"/library/metadata/{item.rating_key}"
    details: dict[str, str | None] = {f.plex: item.values[f.key] for f in schema.value_fields}
    released = details.get(RELEASE_DATE)
    # Plex shows an image by its URL, which changes with it (a new upload, a new updatedAt).
    images = {"thumb": f"{key}/thumb/{item.updated_at}", "art": f"{key}/art/{item.updated_at}"}
    for spec in schema.image_fields:
        if spec.key in item.images:
            images[spec.plex] = f"{key}/{spec.plex}/{item.updated_at}"
    video = element(
        "Video",
        parent,
        ratingKey=item.rating_key,
        key=key,
        guid=f"{SECTION_LOOKS['movie']['agent']}://tt{item.rating_key:07d}?lang=en",
        type="movie",
        title=item.title,
        librarySectionID=section.key,
        librarySectionTitle=section.title,
        librarySectionKey=f"/library/sections/{section.key}",
        year=released and released[:4],
        duration=DURATION_MS,
        addedAt=item.added_at,
        updatedAt=item.updated_at,
        **images,
        **details,
    )
    if with_media:
        _media(video, library, item, full=full)
    for spec in schema.tag_fields:
        tags = item.tags[spec.key]
        for value in tags if full else tags[: LISTING_TAG_LIMITS.get(spec.plex, 0)]:
            tag_id = library.tag_id(spec.plex, value)
            element(
                schema.elements[spec.key],
                video,
                id=tag_id,
                filter=f"{spec.plex}={tag_id}",
                tag=value,
            )
    if full:
        for spec in schema.fields:
            if spec.key in item.locked:
                element("Field", video, name=spec.plex, locked=1)


def _media(video: ET.Element, library: Library, item: FakeItem, *, full: bool) -> None:
    """Each version of *item* as a `<Media>` holding its files as `<Part>`s (and, in a full
    item, each file's streams).
    """
    ids = library.media_ids[item.rating_key]
    for number, (version, version_ids) in enumerate(zip(item.versions, ids, strict=True)):
        quality = QUALITIES[number % len(QUALITIES)]
        container = _extension(version[0])
        media = element(
            "Media",
            video,
            id=version_ids.media,
            duration=DURATION_MS,
            aspectRatio="2.40",
            audioChannels=6,
            audioCodec="eac3",
            container=container,
            videoFrameRate="24p",
            videoProfile="main",
            **quality,
        )
        for file, part_id in zip(version, version_ids.parts, strict=True):
            part = element(
                "Part",
                media,
                id=part_id,
                key=f"/library/parts/{part_id}/{item.added_at}/file.{_extension(file)}",
                duration=DURATION_MS // len(version),
                file=file,
                size=1_500_000_000,
                container=_extension(file),
                videoProfile="main",
            )
            if full:
                element(
                    "Stream",
                    part,
                    id=part_id * 10 + 1,
                    streamType=1,
                    codec=quality["videoCodec"],
                    index=0,
                    height=quality["height"],
                    width=quality["width"],
                )
                element(
                    "Stream",
                    part,
                    id=part_id * 10 + 2,
                    streamType=2,
                    codec="eac3",
                    channels=6,
                    index=1,
                    selected=1,
                )


def _extension(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else "mkv"
