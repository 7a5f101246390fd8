"""The gateway's pure helpers: path mapping, folders, edit parameters, identity, Retry-After."""

from __future__ import annotations

import logging
import uuid

import pytest

from core import PathMapping
from shell.classify import parse_retry_after, status_of
from shell.payload import Metadata
from shell.plex import edit_params
from shell.plex_http import client_identity
from shell.plex_library import folder_of, map_path
from shell.redact import MASK, get_logger, redact, remember_secret
from tests.builders import T0, TOKEN, make_config

MAPPINGS = (
    PathMapping("/data", "/media"),
    PathMapping("/data/films", "/movies"),
    PathMapping("D:\\Stash", "/nas/stash"),
    PathMapping("/win", "Z:\\share"),
)


@pytest.mark.parametrize(
    ("host", "plex"),
    [
        ("/data/a.mkv", "/media/a.mkv"),
        ("/data/films/b.mkv", "/movies/b.mkv"),  # the longest prefix wins
        ("/database/c.mkv", "/database/c.mkv"),  # prefixes match whole components
        ("/data", "/media"),
        ("D:\\Stash\\x\\y.mp4", "/nas/stash/x/y.mp4"),  # separators follow the Plex side
        ("/win/a/b.mkv", "Z:\\share\\a\\b.mkv"),
        ("/elsewhere/z.mkv", "/elsewhere/z.mkv"),
    ],
)
def test_map_path(host: str, plex: str) -> None:
    """Host paths become Plex paths through the longest matching prefix."""
    assert map_path(host, MAPPINGS) == plex


@pytest.mark.parametrize(
    ("path", "folder"),
    [("/media/a/b.mkv", "/media/a"), ("Z:\\share\\a\\b.mkv", "Z:\\share\\a"), ("/b.mkv", "/")],
)
def test_folder_of(path: str, folder: str) -> None:
    """The folder to scan, for POSIX and Windows paths."""
    assert folder_of(path) == folder


def test_edit_params_lock_every_field_the_job_sets() -> None:
    """Scalars and tag lists become one PUT's parameters, each locked; absent keys stay out."""
    metadata = Metadata(
        path="/a.mkv",
        title="T",
        originally_available_at="2020-01-02",
        genres=("Drama", "Crime", "Drama"),
        performers=("Ann",),
    )
    assert edit_params(metadata, {}) == {
        "title.value": "T",
        "title.locked": 1,
        "originallyAvailableAt.value": "2020-01-02",
        "originallyAvailableAt.locked": 1,
        "genre[0].tag.tag": "Drama",
        "genre[1].tag.tag": "Crime",
        "genre.locked": 1,
        "actor[0].tag.tag": "Ann",
        "actor.locked": 1,
    }


def test_an_empty_list_removes_the_current_tags_by_name() -> None:
    """Plex removes tags by name, so emptying a field needs the item's current tags."""
    metadata = Metadata(path="/a.mkv", labels=(), collections=())
    params = edit_params(metadata, {"label": ["old", "older"], "collection": []})
    assert params == {
        "collection.locked": 1,
        "label[].tag.tag-": "old,older",
        "label.locked": 1,
    }


def test_a_path_only_job_edits_nothing() -> None:
    """With nothing to set there is nothing to send."""
    assert edit_params(Metadata(path="/a.mkv"), {}) == {}


def test_client_identity_is_stable_and_names_plexsync() -> None:
    """The same install presents the same identifier on every start; another queue another."""
    first = client_identity(make_config(db_path="/var/lib/plexsync/a.db"))
    assert first == client_identity(make_config(db_path="/var/lib/plexsync/a.db"))
    assert first != client_identity(make_config(db_path="/var/lib/plexsync/b.db"))
    assert uuid.UUID(first["X-Plex-Client-Identifier"]).version == 5
    assert first["X-Plex-Product"] == "plexsync"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", T0 + 120),
        (" 0 ", T0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0),
        ("Wed, 21 Oct 2015 07:28:00", 1445412480.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    """Seconds or an HTTP date become an instant; anything else is no hint at all."""
    assert parse_retry_after(header, now=T0) == expected


def test_status_is_read_from_plexapis_prefix_only() -> None:
    """The "(NNN)" plexapi puts first is a status; a number elsewhere is not."""
    assert status_of(Exception("(503) service_unavailable; http://x/")) == 503
    assert status_of(Exception("upstream said (503)")) is None


def test_redact_removes_known_secrets_and_token_parameters() -> None:
    """A token is masked wherever it appears, in URLs or prose, and long text is shortened."""
    remember_secret(TOKEN)
    text = f"GET http://plex/library?X-Plex-Token={TOKEN}&a=1 failed; token {TOKEN}"
    cleaned = redact(text)
    assert TOKEN not in cleaned
    assert f"X-Plex-Token={MASK}&a=1" in cleaned
    assert redact("X-Plex-Token: abcdef") == f"X-Plex-Token: {MASK}"
    assert len(redact("x" * 1000)) == 300


def test_plexsync_loggers_redact_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    """Whatever reaches a plexsync logger, arguments and exception text included, is redacted."""
    remember_secret(TOKEN)
    log = get_logger("plexsync.test")
    with caplog.at_level(logging.DEBUG, logger="plexsync.test"):
        log.info("calling %s", f"http://plex/?X-Plex-Token={TOKEN}")
        try:
            raise RuntimeError(f"boom with {TOKEN}")
        except RuntimeError:
            log.exception("failed")
    assert TOKEN not in caplog.text
    assert "boom with ***" in caplog.text
