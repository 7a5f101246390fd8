"""The pure mapping from a Stash scene (as GraphQL answers it) to plexsync's metadata."""

from __future__ import annotations

from typing import Any

import pytest
from returns.result import Failure, Success

from shell.payload import parse_metadata
from shell.stash.mapping import Mapped, SyncOptions, map_scene

SCENE: dict[str, Any] = {
    "id": "7",
    "title": " A title ",
    "code": "ABC-123",
    "details": "Line one.\nLine two.\x07",
    "date": "2024-05-06",
    "rating100": 85,
    "urls": ["https://example.invalid/a"],
    "updated_at": "2025-01-02T09:00:00+10:00",
    "files": [{"path": "/data/a.mp4"}],
    "paths": {"screenshot": "http://127.0.0.1:9999/scene/7/screenshot?t=1"},
    "studio": {"name": "Studio", "parent_studio": {"name": "Network"}},
    "performers": [{"name": "Ann"}, {"name": "Bob"}, {"name": "Ann"}],
    "tags": [{"name": "Drama"}, {"name": " "}],
    "groups": [{"group": {"name": "Box Set"}, "scene_index": 1}],
}


def mapped(scene: dict[str, Any], options: SyncOptions | None = None, **kw: Any) -> Mapped:
    result = map_scene(scene, options or SyncOptions(), **kw)
    assert isinstance(result, Success), result
    return result.unwrap()


def test_every_part_of_a_scene_goes_to_its_plex_field() -> None:
    """Title, details, studio (parent as collection), date, code, performers, tags, groups,
    rating and cover each land in their field, cleaned, and the result is a valid job.
    """
    job = mapped(SCENE, image="/q/images/ab/ab.jpg")
    assert job.key == "scene:7"
    assert job.metadata == {
        "path": "/data/a.mp4",
        "title": "A title",
        "summary": "Line one.\nLine two.",
        "studio": "Studio",
        "original_title": "ABC-123",
        "originally_available_at": "2024-05-06",
        "performers": ["Ann", "Bob"],
        "genres": ["Drama"],
        "collections": ["Box Set", "Network"],
        "user_rating": 8.5,
        "poster": "/q/images/ab/ab.jpg",
    }
    assert job.notes == ()
    assert isinstance(parse_metadata(job.metadata), Success)  # plexsync accepts it as it is


def test_each_toggle_leaves_its_field_alone() -> None:
    """With every option off only the path is sent; art takes the cover when asked."""
    nothing = SyncOptions(
        title=False, summary=False, studio=False, studio_collection=False, date=False,
        code=False, performers=False, tags=False, groups=False, rating=False, poster=False,
    )  # fmt: skip
    assert mapped(SCENE, nothing, image="/i.jpg").metadata == {"path": "/data/a.mp4"}
    art = mapped(SCENE, SyncOptions(poster=False, art=True), image="/i.jpg").metadata
    assert (art.get("poster"), art["art"]) == (None, "/i.jpg")
    groups_only = mapped(SCENE, SyncOptions(studio_collection=False)).metadata
    assert groups_only["collections"] == ["Box Set"]


@pytest.mark.parametrize(
    ("date", "sent", "noted"),
    [
        ("2024-05-06", "2024-05-06", False),
        ("2024-05", "2024-05-01", True),
        ("2024", "2024-01-01", True),
        ("2024-02-30", None, False),
        (None, None, False),
    ],
)
def test_partial_dates_are_completed_and_impossible_ones_left_out(
    date: str | None, sent: str | None, noted: bool
) -> None:
    """Stash v0.30's month- and year-only dates become the 1st, with a note; others drop."""
    job = mapped({**SCENE, "date": date})
    assert job.metadata.get("originally_available_at") == sent
    assert bool(job.notes) == noted


def test_the_primary_file_is_synced_and_the_others_noted() -> None:
    """Of several files the first (Stash's primary) is the path; a note says so."""
    job = mapped({**SCENE, "files": [{"path": "/data/a.mp4"}, {"path": "/data/b.mp4"}]})
    assert job.metadata["path"] == "/data/a.mp4"
    assert job.notes == ("scene 7 has 2 files; syncing the primary one only, /data/a.mp4",)


def test_a_scene_without_a_file_is_not_a_job() -> None:
    """No file, no Plex item to match: a Failure that names the scene."""
    assert map_scene({**SCENE, "files": []}, SyncOptions()) == Failure(
        "scene 7 has no file, so nothing in Plex to match"
    )


def test_empty_text_is_left_alone_and_empty_lists_empty_plex() -> None:
    """Stash's "" is no value (Plex keeps its own); no tags means no genres in Plex."""
    bare = {"id": 1, "title": "", "details": "", "code": "", "files": [{"path": "/a.mp4"}],
            "studio": None, "performers": [], "tags": [], "groups": [],
            "rating100": None}  # fmt: skip
    assert mapped(bare).metadata == {
        "path": "/a.mp4", "performers": [], "genres": [], "collections": [],
    }  # fmt: skip


def test_movies_from_an_older_stash_are_collections_too() -> None:
    """Stash before v0.27 answers movies instead of groups."""
    old = {k: v for k, v in SCENE.items() if k != "groups"}
    old["movies"] = [{"movie": {"name": "Old Movie"}, "scene_index": None}]
    assert mapped(old).metadata["collections"] == ["Old Movie", "Network"]


def test_over_long_text_is_cut_to_what_plexsync_accepts() -> None:
    """A title or tag longer than plexsync's limits is cut, so the job is still valid."""
    job = mapped({**SCENE, "title": "t" * 5000, "tags": [{"name": "g" * 999}]})
    assert (len(job.metadata["title"]), len(job.metadata["genres"][0])) == (1024, 255)
    assert isinstance(parse_metadata(job.metadata), Success)
