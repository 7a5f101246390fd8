"""A Stash scene as plexsync's metadata: a pure function of the scene (as Stash's GraphQL API
returns it), the sync options and the poster file, if one was downloaded.

What goes where (each a toggle in ``SyncOptions``):

| Stash | plexsync (Plex) |
| --- | --- |
| the primary file's path | ``path`` (matched through the path mappings, as for any host) |
| title | ``title`` |
| details | ``summary`` |
| studio | ``studio``; its parent studio also a collection (``studio_collection``) |
| date (YYYY-MM and YYYY too, since v0.30: completed to the 1st) | ``originally_available_at`` |
| code | ``original_title`` |
| performers | ``performers`` (Plex's actors) |
| tags | ``genres`` |
| groups (movies before v0.27) | ``collections`` |
| rating100 (1-100) | ``user_rating`` (0-10) |
| the screenshot (cover) | ``poster``, and optionally ``art`` |

Stash's URLs have no place in a Plex movie, so they are not synced. An empty text field in Stash
leaves Plex's alone (a job cannot clear a text field); an empty list empties Plex's. Text is
made fit for a job: control characters dropped, over-long values cut, empty tag names skipped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from attrs import fields, frozen
from returns.result import Failure, Result, Success

from shell.payload import MAX_SUMMARY, MAX_TAG, MAX_TAGS, MAX_TEXT

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_PROSE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_DATE: Final = re.compile(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")


@frozen(kw_only=True)
class SyncOptions:
    """Which parts of a scene go to Plex. Every one is on by default but ``art``."""

    title: bool = True
    summary: bool = True
    studio: bool = True
    studio_collection: bool = True
    """The studio's parent studio as a collection (as the plugin plexsync replaces does)."""
    date: bool = True
    code: bool = True
    performers: bool = True
    tags: bool = True
    groups: bool = True
    rating: bool = True
    poster: bool = True
    art: bool = False
    """The screenshot as background art too (Stash has no other still image of a scene)."""

    @property
    def images(self) -> bool:
        """Whether the screenshot is wanted at all."""
        return self.poster or self.art


OPTION_NAMES: Final = tuple(f.name for f in fields(SyncOptions))


@frozen(kw_only=True)
class Mapped:
    """A scene ready to enqueue: its key, its metadata, and anything worth telling the user."""

    key: str
    metadata: Mapping[str, object]
    notes: tuple[str, ...] = ()


def scene_key(scene_id: object) -> str:
    """The queue key of a Stash scene."""
    return f"scene:{scene_id}"


def map_scene(
    scene: Mapping[str, Any], options: SyncOptions, *, image: str | None = None
) -> Result[Mapped, str]:
    """The job for *scene*, or why there is none (a scene without a file).

    *image* is a local copy of the scene's cover, if one was fetched (a scene without a cover
    has none); it becomes the poster and, if asked, the background art.
    """
    scene_id = scene.get("id")
    files = [f for f in scene.get("files") or () if isinstance(f, Mapping) and f.get("path")]
    if not files:
        return Failure(f"scene {scene_id} has no file, so nothing in Plex to match")
    path = str(files[0]["path"])
    notes: list[str] = []
    if len(files) > 1:
        notes.append(
            f"scene {scene_id} has {len(files)} files; syncing the primary one only, {path}"
        )
    metadata: dict[str, object] = {"path": path}
    _put(metadata, "title", options.title, _text(scene.get("title"), MAX_TEXT))
    _put(metadata, "summary", options.summary, _text(scene.get("details"), MAX_SUMMARY, prose=True))
    studio = scene.get("studio") if isinstance(scene.get("studio"), Mapping) else None
    _put(metadata, "studio", options.studio, _text(studio and studio.get("name"), MAX_TEXT))
    _put(metadata, "original_title", options.code, _text(scene.get("code"), MAX_TEXT))
    if options.date and (date := _full_date(scene.get("date"))) is not None:
        metadata["originally_available_at"] = date
        if date != scene.get("date"):
            notes.append(f"scene {scene_id}'s date {scene.get('date')} is sent as {date}")
    if options.performers:
        metadata["performers"] = _names(scene.get("performers"))
    if options.tags:
        metadata["genres"] = _names(scene.get("tags"))
    if options.groups or options.studio_collection:
        metadata["collections"] = _collections(scene, studio, options)
    rating = scene.get("rating100")
    if options.rating and isinstance(rating, int) and not isinstance(rating, bool):
        metadata["user_rating"] = min(max(rating, 0), 100) / 10
    if image is not None:
        _put(metadata, "poster", options.poster, image)
        _put(metadata, "art", options.art, image)
    return Success(Mapped(key=scene_key(scene_id), metadata=metadata, notes=tuple(notes)))


def _put(metadata: dict[str, object], key: str, wanted: bool, value: str | None) -> None:
    if wanted and value is not None:
        metadata[key] = value


def _text(value: object, limit: int, *, prose: bool = False) -> str | None:
    """*value* fit for a job's text field, or None when there is nothing to send."""
    if not isinstance(value, str):
        return None
    cleaned = (_CONTROL_IN_PROSE if prose else _CONTROL).sub("", value)
    cleaned = _SURROGATE.sub("\ufffd", cleaned).strip()
    return cleaned[:limit] or None


def _names(items: object) -> list[str]:
    """The distinct names of Stash objects (``{name: ...}``), in order, fit for a tag list."""
    names: list[str] = []
    for item in items if isinstance(items, Sequence) else ():
        name = _text(item.get("name") if isinstance(item, Mapping) else None, MAX_TAG)
        if name is not None and name not in names:
            names.append(name)
    return names[:MAX_TAGS]


def _collections(
    scene: Mapping[str, Any], studio: Mapping[str, Any] | None, options: SyncOptions
) -> list[str]:
    """The groups' names, then the parent studio's, as the options ask."""
    collections: list[str] = []
    if options.groups:
        collections += _names(_groups(scene))
    parent = studio and studio.get("parent_studio")
    if options.studio_collection and isinstance(parent, Mapping):
        collections += _names([parent])
    return list(dict.fromkeys(collections))


def _groups(scene: Mapping[str, Any]) -> list[Any]:
    """The scene's groups (``groups``, v0.27+) or, from an older Stash, its movies."""
    if "groups" in scene:
        return [g.get("group") for g in scene.get("groups") or () if isinstance(g, Mapping)]
    return [m.get("movie") for m in scene.get("movies") or () if isinstance(m, Mapping)]


def _full_date(value: object) -> str | None:
    """A Stash date as Plex needs one: YYYY-MM-DD, a month or year completed to its first day."""
    if not isinstance(value, str) or not (match := _DATE.fullmatch(value)):
        return None
    year, month, day = match.group(1), match.group(2) or "01", match.group(3) or "01"
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None
