"""Job metadata: checked when a host enqueues it, and decoded again when a worker reads it back.

This is the seam where outside data comes in, twice: from the host application (``enqueue``
raises ``ValueError`` naming the bad key, and nothing is stored) and from the database (a row that
no longer decodes becomes a ``Failure`` that the worker dead-letters as an invalid payload, and
the worker goes on).

A list in the metadata sets that Plex field exactly; a key that is absent leaves the field alone.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any, Final

from attrs import frozen
from returns.result import Failure, Result, Success

SCALAR_KEYS: Final = ("title", "summary", "studio", "tagline", "originally_available_at")
LIST_KEYS: Final = ("performers", "genres", "collections", "labels")
KNOWN_KEYS: Final = ("path", *SCALAR_KEYS, *LIST_KEYS)

MAX_PATH: Final = 4096
MAX_TEXT: Final = 1024
MAX_SUMMARY: Final = 65536
MAX_TAGS: Final = 1000
MAX_TAG: Final = 255

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Control characters break Plex's XML and are never real metadata. Summaries may keep newlines
# and tabs; nothing else may hold any.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_PROSE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WINDOWS_ABSOLUTE = re.compile(r"([A-Za-z]:[\\/]|\\\\)")
_SURROGATE = re.compile("[\ud800-\udfff]")


@frozen(kw_only=True)
class Metadata:
    """What one job sets on one Plex item. ``None`` means "leave this field alone"."""

    path: str
    title: str | None = None
    summary: str | None = None
    studio: str | None = None
    tagline: str | None = None
    originally_available_at: str | None = None
    performers: tuple[str, ...] | None = None
    genres: tuple[str, ...] | None = None
    collections: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None

    def to_json(self) -> str:
        """The stored form: only the keys that are set, lists as JSON arrays."""
        data: dict[str, Any] = {"path": self.path}
        for key in (*SCALAR_KEYS, *LIST_KEYS):
            value = getattr(self, key)
            if value is not None:
                data[key] = list(value) if isinstance(value, tuple) else value
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def parse_metadata(data: object) -> Result[Metadata, str]:
    """Check *data* (a mapping, as a host passes it) and build ``Metadata``, or say what is wrong.

    The message names the offending key: unknown keys, wrong types, a missing or relative path,
    control characters, over-long values and impossible dates are all refused.
    """
    if not isinstance(data, Mapping):
        return Failure(f"metadata must be a mapping of keys to values, got {type(data).__name__}")
    unknown = sorted(str(key) for key in data if key not in KNOWN_KEYS)
    if unknown:
        return Failure(f"unknown metadata key {unknown[0]!r} (known keys: {', '.join(KNOWN_KEYS)})")
    if "path" not in data:
        return Failure("metadata is missing 'path' (the media file's full path)")
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if value is None and key != "path":
            continue  # an explicit None leaves the field alone, like an absent key
        checked = _check(key, value)
        if isinstance(checked, str):
            return Failure(checked)
        fields[key] = checked[0]
    return Success(Metadata(**fields))


def decode_payload(stored: object) -> Result[Metadata, str]:
    """Decode a stored payload; a row that no longer decodes is a ``Failure`` with the reason.

    Anything may be found in a column written behind our back (SQLite keeps any type in any
    column): only JSON text holding valid metadata decodes.
    """
    if not isinstance(stored, str):
        return Failure(f"stored payload is not text but {type(stored).__name__}")
    try:
        data = json.loads(stored)
    except (json.JSONDecodeError, RecursionError) as exc:
        return Failure(f"stored payload is not valid JSON: {exc}")
    return parse_metadata(data)


def _check(key: str, value: object) -> tuple[object] | str:  # noqa: PLR0911 - one rule per kind
    """The checked value (in a 1-tuple), or the message naming *key*."""
    where = f"metadata[{key!r}]"
    if key in LIST_KEYS:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            return f"{where} must be a list of strings, got {type(value).__name__}"
        if len(value) > MAX_TAGS:
            return f"{where} has {len(value)} entries; at most {MAX_TAGS} are allowed"
        for index, tag in enumerate(value):
            problem = _text_problem(tag, MAX_TAG, _CONTROL)
            if problem:
                return f"{where}[{index}] {problem}"
        return (tuple(value),)
    if key == "path":
        problem = _text_problem(value, MAX_PATH, _CONTROL)
        if problem:
            return f"{where} {problem}"
        assert isinstance(value, str)  # noqa: S101 - _text_problem checked it
        if not (value.startswith("/") or _WINDOWS_ABSOLUTE.match(value)):
            return f"{where} must be an absolute path, got {value!r}"
        return (value,)
    if key == "originally_available_at":
        return _date(where, value)
    limit, control = (MAX_SUMMARY, _CONTROL_IN_PROSE) if key == "summary" else (MAX_TEXT, _CONTROL)
    problem = _text_problem(value, limit, control)
    return f"{where} {problem}" if problem else (value,)


def _text_problem(value: object, limit: int, control: re.Pattern[str]) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value.strip():
        return "must not be empty"
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit} are allowed"
    found = control.search(value)
    if found:
        return f"contains a control character ({found.group()!r}) at position {found.start()}"
    if _SURROGATE.search(value):
        return "contains an unpaired surrogate (not valid Unicode text)"
    return None


def _date(where: str, value: object) -> tuple[object] | str:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return f"{where} must be a date written YYYY-MM-DD, got {value!r}"
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return f"{where} is not a real date: {value!r}"
    return (value,)
