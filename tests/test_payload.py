"""Metadata: checked at enqueue (clear errors naming the key) and decoded again from storage."""

from __future__ import annotations

from typing import Any

import pytest
from returns.result import Failure, Success

from shell.payload import Metadata, decode_payload, parse_metadata

FULL = {
    "path": "/media/films/A (2020).mkv",
    "title": "A",
    "summary": "Line one.\nLine two.\tTabbed.",
    "studio": "Studio",
    "tagline": "Tag line",
    "originally_available_at": "2020-02-29",
    "performers": ["Ann", "Bob"],
    "genres": ["Drama"],
    "collections": [],
    "labels": ["synced"],
    "original_title": "ABC-123",
    "user_rating": 7.5,
    "poster": "/var/lib/plexsync/images/ab12.jpg",
    "art": "C:\\images\\ab12.jpg",
}


def test_full_metadata_round_trips_through_storage() -> None:
    """Every known key survives to_json and decode_payload unchanged; lists become tuples."""
    parsed = parse_metadata(FULL).unwrap()
    assert parsed.get("performers") == ("Ann", "Bob")
    assert parsed.get("collections") == ()
    assert parsed.get("user_rating") == 7.5
    assert decode_payload(parsed.to_json()) == Success(parsed)


def test_absent_and_none_keys_leave_fields_alone() -> None:
    """Only the path is required; None means the same as absent."""
    parsed = parse_metadata({"path": "/a.mkv", "title": None}).unwrap()
    assert parsed == Metadata(path="/a.mkv")
    assert parsed.to_json() == '{"path":"/a.mkv"}'


def test_a_rating_is_any_number_from_0_to_10_kept_as_a_float() -> None:
    """Whole numbers and the edges are ratings; each is stored as a float."""
    for given in (0, 10, 7, 0.5):
        parsed = parse_metadata({"path": "/a.mkv", "user_rating": given}).unwrap()
        assert parsed.get("user_rating") == float(given)
        assert decode_payload(parsed.to_json()) == Success(parsed)


def test_windows_paths_are_absolute_too() -> None:
    """Drive-letter and UNC paths are accepted as absolute."""
    for path in ("C:\\media\\a.mkv", "D:/media/a.mkv", "\\\\nas\\share\\a.mkv"):
        assert isinstance(parse_metadata({"path": path}), Success)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([("path", "/a")], "metadata must be a mapping"),
        ({}, "metadata is missing 'path'"),
        ({"path": "/a", "rating": 5}, "unknown metadata key 'rating'"),
        ({"path": 42}, "metadata['path'] must be a string, got int"),
        ({"path": "relative/a.mkv"}, "metadata['path'] must be an absolute path"),
        ({"path": "   "}, "metadata['path'] must not be empty"),
        ({"path": None}, "metadata['path'] must be a string, got NoneType"),
        ({"path": "/a", "title": 3.5}, "metadata['title'] must be a string, got float"),
        ({"path": "/a", "title": "x" * 1025}, "metadata['title'] is 1025 characters long"),
        ({"path": "/a", "title": "bell\x07"}, "metadata['title'] contains a control character"),
        ({"path": "/a", "summary": "nul\x00"}, "metadata['summary'] contains a control character"),
        ({"path": "/a\x00b"}, "metadata['path'] contains a control character"),
        ({"path": "/a", "studio": "\ud800"}, "metadata['studio'] contains an unpaired surrogate"),
        (
            {"path": "/a", "genres": "Drama"},
            "metadata['genres'] must be a list of strings, got str",
        ),
        ({"path": "/a", "genres": ["ok", 7]}, "metadata['genres'][1] must be a string, got int"),
        ({"path": "/a", "labels": ["x"] * 1001}, "metadata['labels'] has 1001 entries"),
        ({"path": "/a", "performers": [""]}, "metadata['performers'][0] must not be empty"),
        (
            {"path": "/a", "originally_available_at": "2021-02-30"},
            "metadata['originally_available_at'] is not a real date",
        ),
        (
            {"path": "/a", "originally_available_at": "20210101"},
            "metadata['originally_available_at'] must be a date written YYYY-MM-DD",
        ),
        (
            {"path": "/a", "originally_available_at": 2021},
            "metadata['originally_available_at'] must be a date written YYYY-MM-DD",
        ),
        ({"path": "/a", "user_rating": 10.5}, "metadata['user_rating'] must be a number from 0"),
        ({"path": "/a", "user_rating": -1}, "metadata['user_rating'] must be a number from 0"),
        ({"path": "/a", "user_rating": "7"}, "metadata['user_rating'] must be a number from 0"),
        ({"path": "/a", "user_rating": True}, "metadata['user_rating'] must be a number from 0"),
        (
            {"path": "/a", "user_rating": float("nan")},
            "metadata['user_rating'] must be a number from 0",
        ),
        ({"path": "/a", "poster": "cover.jpg"}, "metadata['poster'] must be an absolute path"),
        ({"path": "/a", "art": 7}, "metadata['art'] must be a string, got int"),
    ],
)
def test_bad_metadata_is_refused_naming_the_key(data: Any, message: str) -> None:
    """Each malformed input gives a Failure whose message says which key is wrong and how."""
    result = parse_metadata(data)
    assert isinstance(result, Failure)
    assert message in result.failure()


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("{not json", "stored payload is not valid JSON"),
        ("[1, 2]", "metadata must be a mapping"),
        ('{"title": "no path"}', "metadata is missing 'path'"),
        ("[" * 100_000 + "]" * 100_000, "stored payload is not valid JSON"),
    ],
)
def test_rows_that_no_longer_decode_are_failures(stored: str, message: str) -> None:
    """A corrupted stored payload is a value to dead-letter, never an exception."""
    result = decode_payload(stored)
    assert isinstance(result, Failure)
    assert message in result.failure()
