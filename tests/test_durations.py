"""Durations as operators type them, and as summaries print them."""

from __future__ import annotations

import pytest

from core import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("90m", 5400),
        ("6h", 21600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1.5h", 5400),
        ("120", 120),
        (" 7S ", 7),
        ("0", 0),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    """Units d, h, m, s combine; a bare number is seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "5x", "-5", "5 m", "1h-3m", "inf", "nan", "m5"])
def test_parse_rejects(text: str) -> None:
    """Anything else is a ValueError that shows the accepted forms."""
    with pytest.raises(ValueError, match="45s, 90m, 6h"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.4, "0s"),
        (0.5, "1s"),
        (1, "1s"),
        (10.5, "11s"),
        (90, "1m30s"),
        (43200, "12h"),
        (90061, "1d1h1m1s"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    """Largest units first, zero parts left out, rounded half up to whole seconds."""
    assert format_duration(seconds) == text
