"""Plex's library as plexsync reads it: where a file is (paths, mappings, sections' folders), and
the XML of sections' listings and of full items.

Listings and items are read as XML, not as plexapi items: a plexapi item fetches itself again
whenever a list it reads is empty, so an item listed without ``<Media>`` would cost a request of
its own. ``query`` is ``PlexServer.query``; the gateway (``shell.plex``) makes every call, so that
Plex's failures are classified in one place.
"""

from __future__ import annotations

import ntpath
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import Any, Final

from plexapi.exceptions import NotFound

from core import PathMapping

INDEX_PAGE_SIZE: Final = 1000
"""Items a listing's page holds."""
FULL_ITEMS_PER_REQUEST: Final = 100
"""Items listed without their files are read in full this many a request."""
MOVIE_TYPE: Final = 1
"""Plex's number for movies, in a listing's and an edit's ``type``."""

Query = Callable[..., ET.Element]
"""``PlexServer.query``: the XML answer to a path (an empty answer, ``None``, fails where read)."""


# ---------------------------------------------------------------------------- paths
def map_path(path: str, mappings: Sequence[PathMapping]) -> str:
    """*path* as Plex sees it: the longest matching host prefix replaced by its Plex prefix.

    Prefixes match whole components; the separators of the rest follow the Plex prefix's style.
    """
    best: tuple[str, PathMapping] | None = None
    for mapping in mappings:
        prefix = mapping.host_prefix.rstrip("/\\")
        matches = path == prefix or path.startswith((prefix + "/", prefix + "\\"))
        if matches and (best is None or len(prefix) > len(best[0])):
            best = (prefix, mapping)
    if best is None:
        return path
    prefix, mapping = best
    target = mapping.plex_prefix.rstrip("/\\")
    rest = path[len(prefix) :]
    if "\\" in target and "/" not in target:
        rest = rest.replace("/", "\\")
    elif "/" in target or not target:
        rest = rest.replace("\\", "/")
    return target + rest


def folder_of(path: str) -> str:
    """The folder holding *path*, for POSIX and Windows paths alike."""
    windows = "\\" in path or (len(path) > 1 and path[1] == ":")
    return str((ntpath if windows else posixpath).dirname(path))


def holding(path: str, sections: Sequence[Any]) -> Any:  # noqa: ANN401 - a plexapi section
    """The first of *sections* with a folder that holds *path*, if any."""
    return next((s for s in sections if any(_inside(path, root) for root in s.locations)), None)


def in_folder(path: str, folders: Sequence[str]) -> bool:
    """Whether *path* lies inside one of *folders* (a library section's locations)."""
    return any(_inside(path, root) for root in folders)


def _inside(path: str, root: str) -> bool:
    trimmed = root.rstrip("/\\")
    return path.startswith((trimmed + "/", trimmed + "\\"))


# ---------------------------------------------------------------------------- XML
def list_movies(query: Query, section_key: int) -> dict[int, tuple[str, list[str]]]:
    """Every movie of a section, page by page: ratingKey -> (title, the files it lists).

    Read as XML: a plexapi item would fetch itself again to find the files of one listed
    without ``<Media>``. A server that ignores paging repeats items; each is kept once.
    """
    movies: dict[int, tuple[str, list[str]]] = {}
    start = 0
    while True:
        page = query(
            f"/library/sections/{section_key}/all?type={MOVIE_TYPE}",
            headers={
                "X-Plex-Container-Start": str(start),
                "X-Plex-Container-Size": str(INDEX_PAGE_SIZE),
            },
        )
        videos = page.findall("Video")
        for video in videos:
            movies.setdefault(
                int(video.attrib["ratingKey"]), (video.get("title", ""), _files(video))
            )
        total = int(page.get("totalSize") or page.get("size") or len(videos))
        start += INDEX_PAGE_SIZE
        if not videos or start >= total:
            return movies


def files_of_items(query: Query, rating_keys: Sequence[int]) -> dict[int, list[str]]:
    """The files of each item, read in full (one request); an item Plex no longer has has none."""
    return {key: _files(video) for key, video in full_items(query, rating_keys).items()}


def full_items(query: Query, rating_keys: Sequence[int]) -> dict[int, ET.Element]:
    """The complete ``<Video>`` of each of *rating_keys* Plex still has (one request)."""
    try:
        items = query(f"/library/metadata/{','.join(map(str, rating_keys))}?includeFields=1")
    except NotFound:  # none of them is there any more
        return {}
    return {int(video.attrib["ratingKey"]): video for video in items.findall("Video")}


def _files(video: ET.Element) -> list[str]:
    """Every file of every version of a ``<Video>``, in order."""
    return [part.attrib["file"] for part in video.iterfind("Media/Part") if part.get("file")]


def full_item(query: Query, rating_key: int) -> ET.Element:
    """The item's complete ``<Video>`` (every tag, the locked fields), as XML.

    Not a plexapi item: that would fetch itself again for every empty list read from it.
    """
    found = query(f"/library/metadata/{rating_key}?includeFields=1").find("Video")
    if found is None:
        raise NotFound(f"no item {rating_key} in Plex's answer")
    return found
