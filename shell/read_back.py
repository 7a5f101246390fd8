"""Reading an edit back: which jobs are checked, and how the item Plex shows differs from the job.

Plex may answer an edit with success and keep the old values (the plugin plexsync replaces lost
edits that way: "46 succeeded, ~7 updated"). With ``read_back_fraction`` above 0 the gateway
reads the edited item once more and compares every field the job set: its value, and its lock.
A difference is a transient failure: the job is retried (applying it again is harmless) and, if
Plex keeps refusing, it ends in the DLQ with the differences as its last error.

Which jobs are read back is a pure function of the job's metadata, not a random draw: the same
job is always chosen or never, so a job that failed its read-back is read back when retried.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Final

from shell.fields import FIELDS, Field, Kind
from shell.payload import Metadata

MISMATCH: Final = "Plex accepted the edit but reads back otherwise"
"""How every read-back failure begins (its own error text, in logs and in the DLQ)."""

_SHOWN: Final = 40
"""Characters of a value quoted in a message."""


def chosen(metadata: Metadata, fraction: float) -> bool:
    """Whether the job carrying *metadata* is read back: none at 0, every one at 1, and in
    between that share of jobs, picked by a hash of the metadata.
    """
    if fraction <= 0:
        return False
    if fraction >= 1:
        return True
    digest = hashlib.sha256(metadata.to_json().encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def differences(metadata: Metadata, item: ET.Element) -> list[str]:
    """How *item* (a full ``<Video>`` from ``/library/metadata/<ratingKey>``) differs from what
    *metadata* set, one phrase per difference; empty when Plex holds the job.

    Text is compared with line endings and surrounding blanks evened out; tags as sets of names
    without regard to case (Plex reuses a tag it has under another case). Every field the job
    set must also be locked.
    """
    locked = {f.get("name") for f in item.findall("Field") if f.get("locked") == "1"}
    found: list[str] = []
    for field in FIELDS:
        value = metadata.get(field.key)
        if value is None:
            continue
        match field.kind, value:
            case Kind.RATING, float():
                found.extend(_rating_difference(field, value, item.get(field.plex)))
                continue  # a user rating is not a field Plex locks
            case Kind.IMAGE, _:
                pass  # the bytes were uploaded (and remembered); only the lock can be read
            case _, str():
                found.extend(_text_difference(field, value, item.get(field.plex)))
            case _, tuple():
                found.extend(_tag_differences(field, value, item))
        if field.plex not in locked:
            found.append(f"{field.key} not locked")
    return found


def describe(found: list[str]) -> str:
    """The failure message for the *found* differences."""
    return f"{MISMATCH}: {'; '.join(found)}"


def _text_difference(field: Field, sent: str, shown: str | None) -> list[str]:
    if _even(sent) == _even(shown or ""):
        return []
    now = "empty" if not shown else _quoted(shown)
    return [f"{field.key} is {now}, not {_quoted(sent)}"]


def _rating_difference(field: Field, sent: float, shown: str | None) -> list[str]:
    try:
        held = float(shown) if shown is not None else None
    except ValueError:
        held = None
    if held is not None and abs(held - sent) < 0.05:
        return []
    return [f"{field.key} is {'unset' if held is None else f'{held:g}'}, not {sent:g}"]


def _tag_differences(field: Field, sent: tuple[str, ...], item: ET.Element) -> list[str]:
    assert field.element is not None  # noqa: S101 - every tag field names its element
    shown = [tag.get("tag", "") for tag in item.findall(field.element)]
    have = {name.casefold() for name in shown}
    wanted = {name.casefold() for name in sent}
    found = []
    if missing := [name for name in dict.fromkeys(sent) if name.casefold() not in have]:
        found.append(f"{field.key} lack {', '.join(_quoted(name) for name in missing)}")
    if extra := [name for name in shown if name.casefold() not in wanted]:
        found.append(f"{field.key} still have {', '.join(_quoted(name) for name in extra)}")
    return found


def _even(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def _quoted(text: str) -> str:
    shown = text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
    return repr(shown)
