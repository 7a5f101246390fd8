"""Counts in words: the noun takes the number of its count."""

from __future__ import annotations

import pytest

from core import counted


@pytest.mark.parametrize(
    ("count", "noun", "plural", "words"),
    [
        (0, "job", None, "0 jobs"),
        (1, "job", None, "1 job"),
        (2, "dead letter", None, "2 dead letters"),
        (1, "entry", "entries", "1 entry"),
        (3, "entry", "entries", "3 entries"),
    ],
)
def test_a_count_and_its_noun(count: int, noun: str, plural: str | None, words: str) -> None:
    """One takes the singular; any other count the plural (the noun with an s, or as given)."""
    assert counted(count, noun, plural) == words
