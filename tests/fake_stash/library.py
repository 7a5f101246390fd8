"""The fake Stash's library: scenes and what they point at, in memory, queried as Stash does.

Rules taken from Stash v0.30.1 (STASH.md, and Stash's Go source where STASH.md is silent):

1. Timestamps are RFC3339 strings with second precision in the server's local offset
   (`2025-01-02T09:00:00+10:00`), stored and compared **as text**: an `updated_at` filter or
   sort compares strings, not instants.
2. `findScenes` without `sort` has no ORDER BY; the fake returns such pages in a shuffled order
   so that a client relying on it fails visibly. Every sort ends with a tie-break on the title
   (or, without one, the id) in natural case-insensitive order, ascending.
3. `per_page` defaults to 25, a negative value returns everything, 0 returns nothing; a page
   below 1 is page 1. `ids` ignores the filters and the paging, keeps the order asked, and fails
   whole if any id is missing.
4. Text fields Stash keeps as Go strings (title, code, details, director, ...) come back as ""
   when empty, never null; `date` and `rating100` come back null.
5. Every change that Stash follows with a hook appends a `HookEvent` to `hooks`: the event a
   plugin would be started for, with the `input` Stash would put in `hookContext`.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from tests.fake_stash.gojson import GoStruct

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

SCENE_UPDATE_INPUT_KEYS: tuple[str, ...] = (
    "clientMutationId",
    "id",
    "title",
    "code",
    "details",
    "director",
    "url",
    "urls",
    "date",
    "rating100",
    "o_counter",
    "organized",
    "studio_id",
    "gallery_ids",
    "performer_ids",
    "movies",
    "groups",
    "tag_ids",
    "cover_image",
    "stash_ids",
    "resume_time",
    "play_duration",
    "play_count",
    "primary_file_id",
)
"""The keys of a hook's `input` after `sceneUpdate`: Stash's Go struct `SceneUpdateInput`, in its
declaration order (which puts `movies` before `groups`, unlike the GraphQL schema)."""

FORM_FIELDS: tuple[str, ...] = (
    "id",
    "title",
    "code",
    "urls",
    "date",
    "director",
    "rating100",
    "studio_id",
    "gallery_ids",
    "performer_ids",
    "groups",
    "tag_ids",
    "stash_ids",
    "details",
)
"""What the UI's scene edit form sends on Save, changed or not. STASH.md says "every editable
field"; this exact list is the fake's guess (unsure)."""

SCENE_SORTS: frozenset[str] = frozenset(
    {
        "bitrate",
        "created_at",
        "code",
        "date",
        "file_count",
        "filesize",
        "duration",
        "file_mod_time",
        "framerate",
        "group_scene_number",
        "id",
        "interactive",
        "interactive_speed",
        "last_o_at",
        "last_played_at",
        "movie_scene_number",
        "o_counter",
        "organized",
        "performer_count",
        "play_count",
        "play_duration",
        "resume_time",
        "path",
        "perceptual_similarity",
        "random",
        "rating",
        "studio",
        "tag_count",
        "title",
        "updated_at",
        "performer_age",
    }
)
"""The scene sorts Stash v0.30.1 accepts (`resolution` came later); any other is `invalid sort`."""

MAX_HOOK_DEPTH = 10
"""How many times the same (plugin, hook) may be on one call chain before Stash stops re-running
it (v0.25 and later)."""

_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_RANDOM_SEED = re.compile(r"random_(?P<seed>.*)")
_DIGITS = re.compile(r"(\d+)")


class StashError(Exception):
    """A resolver error: Stash answers 200 with this message in `errors`."""


@dataclass
class StashID:
    """A scene's link to a stash-box entry."""

    endpoint: str
    stash_id: str
    updated_at: str


@dataclass
class VideoFile:
    """A video file; `fingerprints` maps a type ("oshash", "md5", "phash") to its value."""

    id: int
    path: str
    size: int
    created_at: str
    updated_at: str
    mod_time: str
    duration: float = 600.0
    width: int = 1920
    height: int = 1080
    format: str = "mp4"
    video_codec: str = "h264"
    audio_codec: str = "aac"
    frame_rate: float = 30.0
    bit_rate: int = 8_000_000
    fingerprints: dict[str, str] = field(default_factory=dict)

    @property
    def basename(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def folder(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""


@dataclass
class Studio:
    """A studio; `parent_id` points at its parent studio."""

    id: int
    name: str
    created_at: str
    updated_at: str
    parent_id: int | None = None
    urls: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    details: str = ""


@dataclass
class Performer:
    """A performer; `gender` is a GenderEnum name or None."""

    id: int
    name: str
    created_at: str
    updated_at: str
    disambiguation: str = ""
    gender: str | None = None
    alias_list: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


@dataclass
class Tag:
    """A tag."""

    id: int
    name: str
    created_at: str
    updated_at: str
    sort_name: str = ""
    description: str = ""
    aliases: list[str] = field(default_factory=list)


@dataclass
class Group:
    """A group (called a movie before v0.27; `Scene.movies` still shows groups as movies)."""

    id: int
    name: str
    created_at: str
    updated_at: str
    date: str | None = None
    studio_id: int | None = None
    synopsis: str = ""
    director: str = ""
    aliases: str = ""
    duration: int | None = None
    rating100: int | None = None
    urls: list[str] = field(default_factory=list)


@dataclass
class Scene:
    """A scene; `file_ids` lists its files with the primary one first, `groups` holds
    (group id, scene index) pairs, and `cover` is the cover image (None: no cover yet).
    """

    id: int
    created_at: str
    updated_at: str
    title: str = ""
    code: str = ""
    details: str = ""
    director: str = ""
    urls: list[str] = field(default_factory=list)
    date: str | None = None
    rating100: int | None = None
    organized: bool = False
    studio_id: int | None = None
    performer_ids: list[int] = field(default_factory=list)
    tag_ids: list[int] = field(default_factory=list)
    groups: list[tuple[int, int | None]] = field(default_factory=list)
    file_ids: list[int] = field(default_factory=list)
    stash_ids: list[StashID] = field(default_factory=list)
    cover: bytes | None = None


@dataclass(frozen=True)
class HookEvent:
    """A hook Stash would run after a change: what a plugin's `hookContext` would hold.

    `input` is the Go value Stash would marshal (dicts in Go struct order; see
    `tests.fake_stash.plugin_input`); `visited` lists the (plugin id, hook type) pairs already on
    the call chain of the request that made the change (empty unless it came with a plugin's
    session cookie).
    """

    type: str
    id: int
    input: Any
    input_fields: tuple[str, ...] | None
    visited: tuple[tuple[str, str], ...] = ()

    def runs_for(self, plugin_id: str) -> bool:
        """Whether Stash would start *plugin_id*'s hook for this event (loop protection)."""
        depth = sum(1 for visited in self.visited if visited == (plugin_id, self.type))
        return depth < MAX_HOOK_DEPTH


@dataclass
class Job:
    """An entry of Stash's job queue (`jobQueue`)."""

    id: int
    description: str
    status: str = "RUNNING"
    progress: float | None = None
    sub_tasks: list[str] | None = None
    add_time: str = ""
    start_time: str | None = None
    end_time: str | None = None
    error: str | None = None


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key close to Stash's NATURAL_CI collation: digit runs by value, text casefolded."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in _DIGITS.split(text)
        if part
    )


class Library:
    """Scenes, studios, performers, tags, groups, files, jobs and plugin settings.

    Thread-safe: every method takes `lock`, which the GraphQL layer also holds while it executes
    a request, so a request sees one consistent state. Ids count from 1 per kind, like Stash's.
    """

    def __init__(
        self,
        *,
        utc_offset: timedelta = timedelta(hours=10),
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self.lock = threading.RLock()
        self.tz = timezone(utc_offset)
        self._clock = clock
        self._random = random.Random(seed)
        self.scenes: dict[int, Scene] = {}
        self.files: dict[int, VideoFile] = {}
        self.studios: dict[int, Studio] = {}
        self.performers: dict[int, Performer] = {}
        self.tags: dict[int, Tag] = {}
        self.groups: dict[int, Group] = {}
        self.jobs: list[Job] = []
        self.plugin_settings: dict[str, dict[str, Any]] = {}
        self.hooks: list[HookEvent] = []
        """Every hook Stash would have run, oldest first."""
        self._next_ids: dict[str, int] = {}

    # ------------------------------------------------------------------ time

    def now(self) -> float:
        """The fake's clock, in epoch seconds."""
        return self._clock()

    def timestamp(self, at: float | datetime | None = None) -> str:
        """*at* (default: now) as Stash stores it: RFC3339, whole seconds, local offset."""
        if at is None:
            at = self.now()
        moment = at if isinstance(at, datetime) else datetime.fromtimestamp(at, UTC)
        return rfc3339(moment.astimezone(self.tz).replace(microsecond=0))

    # ------------------------------------------------------------------ related objects

    def _next(self, kind: str) -> int:
        self._next_ids[kind] = self._next_ids.get(kind, 0) + 1
        return self._next_ids[kind]

    def add_studio(
        self,
        name: str,
        *,
        parent: int | None = None,
        urls: Iterable[str] = (),
        aliases: Iterable[str] = (),
        details: str = "",
    ) -> int:
        """Add a studio (with an optional parent studio) and return its id."""
        with self.lock:
            if parent is not None and parent not in self.studios:
                raise KeyError(f"no studio {parent}")
            stamp = self.timestamp()
            studio_id = self._next("studio")
            self.studios[studio_id] = Studio(
                studio_id, name, stamp, stamp, parent, list(urls), list(aliases), details
            )
            return studio_id

    def add_performer(
        self,
        name: str,
        *,
        disambiguation: str = "",
        gender: str | None = None,
        aliases: Iterable[str] = (),
        urls: Iterable[str] = (),
    ) -> int:
        """Add a performer and return its id."""
        with self.lock:
            stamp = self.timestamp()
            performer_id = self._next("performer")
            self.performers[performer_id] = Performer(
                performer_id, name, stamp, stamp, disambiguation, gender, list(aliases), list(urls)
            )
            return performer_id

    def add_tag(
        self, name: str, *, aliases: Iterable[str] = (), sort_name: str = "", description: str = ""
    ) -> int:
        """Add a tag and return its id."""
        with self.lock:
            stamp = self.timestamp()
            tag_id = self._next("tag")
            self.tags[tag_id] = Tag(
                tag_id, name, stamp, stamp, sort_name, description, list(aliases)
            )
            return tag_id

    def add_group(
        self,
        name: str,
        *,
        date: str | None = None,
        studio: int | None = None,
        synopsis: str = "",
        urls: Iterable[str] = (),
    ) -> int:
        """Add a group (a movie, in Stash before v0.27) and return its id."""
        with self.lock:
            _check_date(date)
            stamp = self.timestamp()
            group_id = self._next("group")
            self.groups[group_id] = Group(
                group_id, name, stamp, stamp, date, studio, synopsis, urls=list(urls)
            )
            return group_id

    def rename(self, kind: str, object_id: int, name: str) -> HookEvent:
        """Rename a studio, performer, tag or group (*kind* is "Studio", "Performer", "Tag" or
        "Group"), as the UI does: `<kind>.Update.Post` fires with that object's id; no scene
        hook fires and no scene's `updated_at` changes.

        The event's input is abbreviated to `id` and `name`: Stash sends the whole
        `<kind>UpdateInput` with the other keys null.
        """
        tables: dict[str, Mapping[int, Studio | Performer | Tag | Group]] = {
            "Studio": self.studios,
            "Performer": self.performers,
            "Tag": self.tags,
            "Group": self.groups,
        }
        with self.lock:
            thing = tables[kind][object_id]
            thing.name = name
            thing.updated_at = self.timestamp()
            event = HookEvent(
                f"{kind}.Update.Post",
                object_id,
                GoStruct(id=str(object_id), name=name),
                ("id", "name"),
            )
            self.hooks.append(event)
            return event

    # ------------------------------------------------------------------ scenes

    def add_scene(
        self,
        *,
        paths: Sequence[str] = (),
        title: str = "",
        code: str = "",
        details: str = "",
        director: str = "",
        date: str | None = None,
        rating100: int | None = None,
        organized: bool = False,
        urls: Iterable[str] = (),
        studio: int | None = None,
        performers: Iterable[int] = (),
        tags: Iterable[int] = (),
        groups: Iterable[tuple[int, int | None]] = (),
        stash_ids: Iterable[StashID] = (),
        cover: bytes | None = None,
        updated_at: str | datetime | None = None,
    ) -> int:
        """Add a scene with a file at each of *paths* (the first is primary), as a scan does,
        and return its id. `Scene.Create.Post` fires with a null input.
        """
        with self.lock:
            stamp = self.timestamp()
            scene_id = self._next("scene")
            scene = Scene(scene_id, created_at=stamp, updated_at=stamp, cover=cover)
            self.scenes[scene_id] = scene
            for path in paths:
                self._add_file(scene, path)
            self._apply(
                scene,
                {
                    "title": title,
                    "code": code,
                    "details": details,
                    "director": director,
                    "date": date,
                    "rating100": rating100,
                    "organized": organized,
                    "urls": list(urls),
                    "studio": studio,
                    "performers": list(performers),
                    "tags": list(tags),
                    "groups": list(groups),
                },
            )
            scene.stash_ids = list(stash_ids)
            if updated_at is not None:
                self.set_updated_at(scene_id, updated_at)
            self.hooks.append(HookEvent("Scene.Create.Post", scene_id, None, None))
            return scene_id

    def edit_scene(
        self,
        scene_id: int,
        *,
        form: bool = False,
        visited: tuple[tuple[str, str], ...] = (),
        **changes: Any,
    ) -> HookEvent:
        """Change a scene as `sceneUpdate` does, bump its `updated_at`, and return (and record)
        the `Scene.Update.Post` event.

        *changes* use `add_scene`'s names (title, details, studio, performers, tags, groups, ...).
        The event's input has every SceneUpdateInput key, null unless sent; `inputFields` lists
        the keys sent, shuffled (Stash reads them from a Go map). With *form*, the keys are those
        the UI's edit form sends whether changed or not (`FORM_FIELDS`).
        """
        with self.lock:
            scene = self._scene(scene_id)
            self._apply(scene, changes)
            scene.updated_at = self.timestamp()
            sent = dict(_update_input(changes))
            if form:
                sent = {**_update_input(_form_values(scene)), **sent}
            sent["id"] = str(scene_id)
            return self._fire_update(scene_id, sent, visited)

    def _fire_update(
        self, scene_id: int, sent: Mapping[str, Any], visited: tuple[tuple[str, str], ...]
    ) -> HookEvent:
        fields = list(sent)
        self._random.shuffle(fields)
        hook_input = GoStruct(
            (key, _go_input_value(key, sent.get(key))) for key in SCENE_UPDATE_INPUT_KEYS
        )
        event = HookEvent("Scene.Update.Post", scene_id, hook_input, tuple(fields), visited)
        self.hooks.append(event)
        return event

    def update_from_graphql(
        self, values: Mapping[str, Any], visited: tuple[tuple[str, str], ...]
    ) -> Scene:
        """Carry out a `sceneUpdate` mutation's *values* (the keys the client sent)."""
        with self.lock:
            scene_id = _parse_id(values["id"])
            scene = self.scenes.get(scene_id)
            if scene is None:
                raise StashError(f"scene with id {scene_id} not found")
            changes = {
                _FROM_INPUT[key][0]: _FROM_INPUT[key][1](value)
                for key, value in values.items()
                if key in _FROM_INPUT
            }
            self._apply(scene, changes)
            scene.updated_at = self.timestamp()
            self._fire_update(scene_id, dict(values), visited)
            return scene

    def add_file(self, scene_id: int, path: str, *, primary: bool = False) -> HookEvent:
        """Add a file to a scene as a scan does: `updated_at` moves and `Scene.Update.Post`
        fires with a null input.
        """
        with self.lock:
            scene = self._scene(scene_id)
            file_id = self._add_file(scene, path)
            if primary:
                scene.file_ids.remove(file_id)
                scene.file_ids.insert(0, file_id)
            scene.updated_at = self.timestamp()
            event = HookEvent("Scene.Update.Post", scene_id, None, None)
            self.hooks.append(event)
            return event

    def generate_cover(self, scene_id: int, image: bytes) -> None:
        """Give a scene a cover as the Generate task does: `updated_at` moves, no hook fires."""
        with self.lock:
            scene = self._scene(scene_id)
            scene.cover = image
            scene.updated_at = self.timestamp()

    def set_updated_at(self, scene_id: int, value: str | datetime | float) -> None:
        """Set a scene's `updated_at` without any hook, as Auto Tag does: a string is stored
        as given (to test odd formats), a datetime or epoch seconds in the fake's format.
        """
        with self.lock:
            scene = self._scene(scene_id)
            scene.updated_at = value if isinstance(value, str) else self.timestamp(value)

    def delete_scene(
        self,
        scene_id: int,
        *,
        delete_file: bool | None = None,
        delete_generated: bool | None = None,
    ) -> HookEvent:
        """Delete a scene as `sceneDestroy` does and return (and record) `Scene.Destroy.Post`."""
        with self.lock:
            scene = self.scenes.pop(scene_id)
            primary = self.files.get(scene.file_ids[0]) if scene.file_ids else None
            for file_id in scene.file_ids:
                self.files.pop(file_id, None)
            event = HookEvent(
                "Scene.Destroy.Post",
                scene_id,
                GoStruct(
                    id=str(scene_id),
                    delete_file=delete_file,
                    delete_generated=delete_generated,
                    checksum=primary.fingerprints.get("md5", "") if primary else "",
                    oshash=primary.fingerprints.get("oshash", "") if primary else "",
                    path=primary.path if primary else "",
                ),
                None,
            )
            self.hooks.append(event)
            return event

    def scene(self, scene_id: int) -> Scene:
        """The scene with *scene_id* (the stored object: hold `lock` while reading it)."""
        with self.lock:
            return self._scene(scene_id)

    def _scene(self, scene_id: int) -> Scene:
        try:
            return self.scenes[scene_id]
        except KeyError:
            raise KeyError(f"no scene {scene_id}") from None

    def _add_file(self, scene: Scene, path: str) -> int:
        if any(f.path == path for f in self.files.values()):
            raise ValueError(f"a scene already has the file {path}")
        stamp = self.timestamp()
        file_id = self._next("file")
        self.files[file_id] = VideoFile(
            file_id,
            path,
            size=1_000_000 + file_id,
            created_at=stamp,
            updated_at=stamp,
            mod_time=stamp,
            fingerprints={"oshash": f"{file_id:016x}", "md5": f"{file_id:032x}"},
        )
        scene.file_ids.append(file_id)
        return file_id

    def _apply(self, scene: Scene, changes: Mapping[str, Any]) -> None:
        """Set the fields in *changes* (add_scene's names), checking references first."""
        unknown = set(changes) - {
            "title",
            "code",
            "details",
            "director",
            "date",
            "rating100",
            "organized",
            "urls",
            "studio",
            "performers",
            "tags",
            "groups",
        }
        if unknown:
            raise TypeError(f"unknown scene fields: {sorted(unknown)}")
        _check_date(changes.get("date"))
        rating = changes.get("rating100")
        if rating is not None and not 1 <= rating <= 100:
            raise StashError(f"rating100 must be between 1 and 100: {rating}")
        self._check_refs(changes)
        for name in ("title", "code", "details", "director"):
            if name in changes:
                setattr(scene, name, changes[name] or "")
        for name in ("date", "rating100"):
            if name in changes:
                setattr(scene, name, changes[name])
        if "organized" in changes:
            scene.organized = bool(changes["organized"])
        if "urls" in changes:
            scene.urls = [u.strip() for u in changes["urls"] or ()]
        if "studio" in changes:
            scene.studio_id = changes["studio"]
        if "performers" in changes:
            scene.performer_ids = list(dict.fromkeys(changes["performers"] or ()))
        if "tags" in changes:
            scene.tag_ids = list(dict.fromkeys(changes["tags"] or ()))
        if "groups" in changes:
            scene.groups = [(g, index) for g, index in changes["groups"] or ()]

    def _check_refs(self, changes: Mapping[str, Any]) -> None:
        studio = changes.get("studio")
        if studio is not None and studio not in self.studios:
            raise StashError(f"studio with id {studio} not found")
        for name, table in (("performers", self.performers), ("tags", self.tags)):
            for ref in changes.get(name) or ():
                if ref not in table:
                    raise StashError(f"{name[:-1]} with id {ref} not found")
        for group_id, _ in changes.get("groups") or ():
            if group_id not in self.groups:
                raise StashError(f"group with id {group_id} not found")

    # ------------------------------------------------------------------ queries

    def find_scene(self, scene_id: str | None, checksum: str | None) -> Scene | None:
        """`findScene`: by id (an unknown id gives null), else by a file's MD5 checksum."""
        with self.lock:
            if scene_id is not None:
                return self.scenes.get(_parse_id(scene_id))
            if checksum is not None:
                for scene in self.scenes.values():
                    if any(
                        self.files[f].fingerprints.get("md5") == checksum for f in scene.file_ids
                    ):
                        return scene
            return None

    def find_scenes(
        self,
        find_filter: Mapping[str, Any] | None,
        scene_filter: Mapping[str, Any] | None,
        ids: Sequence[str] | None,
        scene_ids: Sequence[int] | None,
    ) -> tuple[list[Scene], int, float, float]:
        """`findScenes`: (the page of scenes, count, total duration, total size)."""
        with self.lock:
            if ids:
                scene_ids = [_parse_id(i, "converting ids") for i in ids]
            if scene_ids:
                found = []
                for scene_id in scene_ids:
                    scene = self.scenes.get(scene_id)
                    if scene is None:
                        raise StashError(f"scene with id {scene_id} not found")
                    found.append(scene)
                return (found, len(found), *self._totals(found))
            find_filter = find_filter or {}
            if scene_filter:
                _validate_filter(scene_filter)
            matched = [
                s
                for s in self.scenes.values()
                if scene_filter is None or self._matches(s, scene_filter)
            ]
            ordered = self._sorted(matched, find_filter.get("sort"), find_filter.get("direction"))
            return (self._page(ordered, find_filter), len(matched), *self._totals(matched))

    def _totals(self, scenes: Iterable[Scene]) -> tuple[float, float]:
        primaries = [self.files[s.file_ids[0]] for s in scenes if s.file_ids]
        return float(sum(f.duration for f in primaries)), float(sum(f.size for f in primaries))

    def _matches(self, scene: Scene, criteria: Mapping[str, Any]) -> bool:
        own = True
        if (id_criterion := criteria.get("id")) is not None:
            own = own and _compare_number(scene.id, id_criterion)
        if (organized := criteria.get("organized")) is not None:
            own = own and scene.organized == organized
        for name in ("created_at", "updated_at"):
            if (criterion := criteria.get(name)) is not None:
                own = own and self._compare_timestamp(getattr(scene, name), criterion)
        if (sub := criteria.get("AND")) is not None:
            return own and self._matches(scene, sub)
        if (sub := criteria.get("OR")) is not None:
            return own or self._matches(scene, sub)
        if (sub := criteria.get("NOT")) is not None:
            return own and not self._matches(scene, sub)
        return own

    def _compare_timestamp(self, stored: str, criterion: Mapping[str, Any]) -> bool:
        """Stash's timestamp criterion: the stored text against the given text, as SQLite
        compares two strings; BETWEEN without value2 ends a day after now.
        """
        value: str = criterion["value"]
        upper: str = criterion.get("value2") or rfc3339(
            datetime.fromtimestamp(self.now() + 86400, self.tz).replace(microsecond=0)
        )
        return _compare(stored, value, upper, criterion["modifier"], "date")

    def _sorted(self, scenes: list[Scene], sort: str | None, direction: str | None) -> list[Scene]:
        if not sort:
            # Stash sends no ORDER BY: SQLite's order is unspecified. Make it visibly so.
            shuffled = sorted(scenes, key=lambda s: s.id)
            self._random.shuffle(shuffled)
            return shuffled
        if sort not in SCENE_SORTS and not _RANDOM_SEED.fullmatch(sort):
            raise StashError(f"invalid sort: {sort}")
        if match := _RANDOM_SEED.fullmatch(sort):
            if not match["seed"].isdigit():
                raise StashError(f"invalid random seed: {match['seed']}")
            return self._shuffled(scenes, int(match["seed"]))
        if sort == "random":
            return self._shuffled(scenes, self._random.randrange(10**8))
        key = self._sort_key(sort)
        # The tie-break first, then a stable sort on the key: ties keep the tie-break's order,
        # which stays ascending whatever the direction.
        ordered = sorted(scenes, key=lambda s: natural_key(s.title or str(s.id)))
        return sorted(ordered, key=key, reverse=direction == "DESC")

    def _shuffled(self, scenes: list[Scene], seed: int) -> list[Scene]:
        # Stash orders by a hash of id and seed; any fixed permutation per seed stands for it.
        return sorted(scenes, key=lambda s: random.Random(seed * 1_000_003 + s.id).random())

    def _sort_key(self, sort: str) -> Callable[[Scene], Any]:
        def primary(scene: Scene) -> VideoFile | None:
            return self.files[scene.file_ids[0]] if scene.file_ids else None

        def nullable(value: Any) -> tuple[int, Any]:
            # SQLite puts NULL before every value in ascending order.
            return (0, 0) if value is None else (1, value)

        def by_title(scene: Scene) -> Any:
            file = primary(scene)
            title = scene.title or (file.basename if file else "")
            return (natural_key(title), natural_key(file.folder if file else ""))

        def by_path(scene: Scene) -> Any:
            file = primary(scene)
            # Stash concatenates folder and basename without a separator.
            return natural_key(file.folder + file.basename if file else "")

        keys: dict[str, Callable[[Scene], Any]] = {
            "id": lambda s: s.id,
            "title": by_title,
            "path": by_path,
            "code": lambda s: nullable(s.code or None),
            "date": lambda s: nullable(s.date),
            "rating": lambda s: nullable(s.rating100),
            "organized": lambda s: s.organized,
            "created_at": lambda s: s.created_at,
            "updated_at": lambda s: s.updated_at,
            "filesize": lambda s: nullable(f.size if (f := primary(s)) else None),
            "duration": lambda s: nullable(f.duration if (f := primary(s)) else None),
            "file_count": lambda s: len(s.file_ids),
            "tag_count": lambda s: len(s.tag_ids),
            "performer_count": lambda s: len(s.performer_ids),
            "studio": lambda s: nullable(self.studios[s.studio_id].name if s.studio_id else None),
        }
        if sort not in keys:
            raise StashError(
                f"fake Stash: sort {sort!r} is valid in Stash but not implemented here"
            )
        return keys[sort]

    @staticmethod
    def _page(scenes: list[Scene], find_filter: Mapping[str, Any]) -> list[Scene]:
        per_page = find_filter.get("per_page")
        if per_page is None:
            per_page = 25
        if per_page < 0:
            return scenes
        page = max(find_filter.get("page") or 1, 1)
        start = (page - 1) * per_page
        return scenes[start : start + per_page]

    # ------------------------------------------------------------------ plugin settings

    def configure_plugin(self, plugin_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """`configurePlugin`: replace the plugin's whole settings map and return it."""
        with self.lock:
            self.plugin_settings[plugin_id] = dict(values)
            return dict(values)

    def plugin_config(self, include: Sequence[str] | None) -> dict[str, dict[str, Any]]:
        """`configuration { plugins(include) }`: a plugin whose settings are empty is absent."""
        with self.lock:
            if not include:
                return {k: dict(v) for k, v in self.plugin_settings.items()}
            return {
                k: dict(self.plugin_settings[k]) for k in include if self.plugin_settings.get(k)
            }


def rfc3339(moment: datetime) -> str:
    """*moment* as Go's RFC3339 (and RFC3339Nano) print it: "Z" for UTC, fraction trimmed."""
    text = moment.isoformat()
    if "." in text:
        head, rest = text.split(".", 1)
        digits, offset = rest[:6], rest[6:]
        digits = digits.rstrip("0")
        text = f"{head}.{digits}{offset}" if digits else f"{head}{offset}"
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def unix_seconds(stamp: str) -> int:
    """The epoch seconds of an RFC3339 timestamp (what a screenshot URL's `t` holds)."""
    return int(datetime.fromisoformat(stamp).timestamp())


def _check_date(date: str | None) -> None:
    if date is not None and not _DATE.fullmatch(date):
        raise StashError(f"invalid date: {date} (Stash takes YYYY, YYYY-MM or YYYY-MM-DD)")


def _parse_id(value: Any, context: str = "") -> int:
    """Stash's strconv.Atoi on an ID: a non-number is a resolver error."""
    try:
        return int(str(value), 10)
    except ValueError:
        prefix = f"{context}: " if context else ""
        raise StashError(f'{prefix}strconv.Atoi: parsing "{value}": invalid syntax') from None


def _validate_filter(criteria: Mapping[str, Any]) -> None:
    present = [name for name in ("AND", "OR", "NOT") if criteria.get(name) is not None]
    if len(present) > 1:
        raise StashError(f"cannot have {present[0]} and {present[1]} in the same filter")
    if present:
        _validate_filter(criteria[present[0]])


_COMPARISONS: dict[str, Callable[[Any, Any, Any], bool]] = {
    "EQUALS": lambda actual, value, _: actual == value,
    "NOT_EQUALS": lambda actual, value, _: actual != value,
    "GREATER_THAN": lambda actual, value, _: actual > value,
    "LESS_THAN": lambda actual, value, _: actual < value,
    "BETWEEN": lambda actual, value, upper: value <= actual <= upper,
    "NOT_BETWEEN": lambda actual, value, upper: not value <= actual <= upper,
    "IS_NULL": lambda actual, _, __: actual is None,
    "NOT_NULL": lambda actual, _, __: actual is not None,
}
"""How Stash's SQL compares a stored value with a criterion's value (and value2), by modifier."""


def _compare(actual: Any, value: Any, upper: Any, modifier: str, kind: str) -> bool:
    comparison = _COMPARISONS.get(modifier)
    if comparison is None:
        raise StashError(f"unsupported {kind} modifier type {modifier}")
    return comparison(actual, value, upper)


def _compare_number(actual: int, criterion: Mapping[str, Any]) -> bool:
    value: int = criterion["value"]
    upper: int = criterion.get("value2") or 0
    return _compare(actual, value, upper, criterion["modifier"], "numeric")


def _update_input(changes: Mapping[str, Any]) -> dict[str, Any]:
    """*changes* (add_scene's names) as the SceneUpdateInput keys and values a client sends."""
    sent: dict[str, Any] = {}
    for name, value in changes.items():
        match name:
            case "studio":
                sent["studio_id"] = None if value is None else str(value)
            case "performers" | "tags":
                sent[f"{name[:-1]}_ids"] = [str(v) for v in value]
            case "groups":
                sent["groups"] = [{"group_id": str(g), "scene_index": i} for g, i in value]
            case _:
                sent[name] = value
    return sent


def _ids(values: Iterable[Any] | None) -> list[int]:
    return [_parse_id(v) for v in values or ()]


_FROM_INPUT: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "title": ("title", lambda v: v),
    "code": ("code", lambda v: v),
    "details": ("details", lambda v: v),
    "director": ("director", lambda v: v),
    "urls": ("urls", lambda v: v),
    "date": ("date", lambda v: v),
    "rating100": ("rating100", lambda v: v),
    "organized": ("organized", lambda v: v),
    "studio_id": ("studio", lambda v: None if v is None else _parse_id(v)),
    "performer_ids": ("performers", _ids),
    "tag_ids": ("tags", _ids),
    "groups": (
        "groups",
        lambda v: [(_parse_id(g["group_id"]), g.get("scene_index")) for g in v or ()],
    ),
}
"""SceneUpdateInput keys the fake carries out: the add_scene name and the value converter."""


def _go_input_value(key: str, value: Any) -> Any:
    """A SceneUpdateInput value as Stash's Go structs hold it (list items as structs)."""
    if key in {"groups", "movies"} and value is not None:
        id_key = "group_id" if key == "groups" else "movie_id"
        return [
            GoStruct([(id_key, g[id_key]), ("scene_index", g.get("scene_index"))]) for g in value
        ]
    if key == "stash_ids" and value is not None:
        return [
            GoStruct(stash_id=s["stash_id"], endpoint=s["endpoint"], updated_at=s.get("updated_at"))
            for s in value
        ]
    return value


def _form_values(scene: Scene) -> dict[str, Any]:
    return {
        "gallery_ids": [],
        "stash_ids": [
            {"stash_id": s.stash_id, "endpoint": s.endpoint, "updated_at": s.updated_at}
            for s in scene.stash_ids
        ],
        "title": scene.title,
        "code": scene.code,
        "urls": list(scene.urls),
        "date": scene.date,
        "director": scene.director,
        "rating100": scene.rating100,
        "studio": scene.studio_id,
        "performers": list(scene.performer_ids),
        "groups": list(scene.groups),
        "tags": list(scene.tag_ids),
        "details": scene.details,
    }
