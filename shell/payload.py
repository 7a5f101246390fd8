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
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from attrs import field, frozen
from returns.result import Failure, Result, Success

from shell.fields import BY_KEY, FIELDS, KNOWN_KEYS, PATH_KEY, Kind

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


Value = str | float | tuple[str, ...]
"""A field's value: text (an image's file path too), a rating (``Kind.RATING``), or a list of
names (``Kind.TAGS``)."""


@frozen(init=False)
class Metadata:
    """What one job sets on one Plex item: the file's ``path`` and the ``values`` of the fields
    it sets (``shell.fields``). A field without a value is left alone in Plex.

    >>> Metadata(path="/media/a.mkv", title="A", genres=("Drama",)).get("genres")
    ('Drama',)
    """

    path: str
    values: Mapping[str, Value] = field(hash=False)

    def __init__(self, path: str, **values: Value | None) -> None:
        unknown = sorted(set(values) - set(BY_KEY))
        if unknown:
            raise TypeError(f"unknown metadata field {unknown[0]!r}")
        ordered: dict[str, Value] = {}
        for f in FIELDS:
            value = values.get(f.key)
            if value is not None:
                ordered[f.key] = value
        self.__attrs_init__(path=path, values=ordered)

    def get(self, key: str) -> Value | None:
        """The value of field *key*, or ``None`` when the job leaves it alone."""
        return self.values.get(key)

    def to_json(self) -> str:
        """The stored form: the path and the fields that are set, lists as JSON arrays."""
        data: dict[str, Any] = {PATH_KEY: self.path}
        for key, value in self.values.items():
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
    if PATH_KEY not in data:
        return Failure(f"metadata is missing {PATH_KEY!r} (the media file's full path)")
    path = _path(data[PATH_KEY])
    if not isinstance(path, tuple):
        return Failure(path)
    values: dict[str, Value] = {}
    for key, value in data.items():
        if key == PATH_KEY or value is None:
            continue  # an explicit None leaves the field alone, like an absent key
        checked = _check(key, value)
        if isinstance(checked, str):
            return Failure(checked)
        values[key] = checked[0]
    return Success(Metadata(path[0], **values))


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


def _path(value: object, where: str = f"metadata[{PATH_KEY!r}]") -> tuple[str] | str:
    """The checked path (in a 1-tuple), or the message naming it (*where*)."""
    problem = _text_problem(value, MAX_PATH, _CONTROL)
    if problem:
        return f"{where} {problem}"
    assert isinstance(value, str)  # noqa: S101 - _text_problem checked it
    if not (value.startswith("/") or _WINDOWS_ABSOLUTE.match(value)):
        return f"{where} must be an absolute path, got {value!r}"
    return (value,)


def _check(key: str, value: object) -> tuple[Value] | str:
    """The checked value (in a 1-tuple), or the message naming *key*."""
    where = f"metadata[{key!r}]"
    kind = BY_KEY[key].kind
    if kind is Kind.TAGS:
        return _tags(where, value)
    if kind is Kind.DATE:
        return _date(where, value)
    if kind is Kind.RATING:
        return _rating(where, value)
    if kind is Kind.IMAGE:
        return _path(value, where)
    prose = kind is Kind.PROSE
    problem = _text_problem(
        value, MAX_SUMMARY if prose else MAX_TEXT, _CONTROL_IN_PROSE if prose else _CONTROL
    )
    if problem:
        return f"{where} {problem}"
    assert isinstance(value, str)  # noqa: S101 - _text_problem checked it
    return (value,)


def _tags(where: str, value: object) -> tuple[Value] | str:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        return f"{where} must be a list of strings, got {type(value).__name__}"
    if len(value) > MAX_TAGS:
        return f"{where} has {len(value)} entries; at most {MAX_TAGS} are allowed"
    for index, tag in enumerate(value):
        problem = _text_problem(tag, MAX_TAG, _CONTROL)
        if problem:
            return f"{where}[{index}] {problem}"
    return (tuple(value),)


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


def _rating(where: str, value: object) -> tuple[Value] | str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{where} must be a number from 0 to 10, got {value!r}"
    if not (math.isfinite(value) and 0 <= value <= 10):
        return f"{where} must be a number from 0 to 10, got {value!r}"
    return (float(value),)


def _date(where: str, value: object) -> tuple[Value] | str:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return f"{where} must be a date written YYYY-MM-DD, got {value!r}"
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return f"{where} is not a real date: {value!r}"
    return (value,)
