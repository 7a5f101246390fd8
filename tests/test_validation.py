"""The validators every core value shares: each refuses what it rules out, naming the field."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from core import validation as check


@attrs.define
class _Holder:
    setting: object


FIELD = attrs.fields(_Holder).setting

Rule = Callable[[object, "attrs.Attribute[Any]", Any], None]


@pytest.mark.parametrize(
    ("rule", "bad"),
    [
        (check.number, "1"),
        (check.number, math.nan),
        (check.number, True),
        (check.positive, "1"),
        (check.positive, 0),
        (check.duration, 0.000999),
        (check.duration, 3_155_760_001),
        (check.duration, "1"),
        (check.days, 0),
        (check.days, 36_525.01),
        (check.instant, "1700000000"),
        (check.instant, math.inf),
        (check.count, -1),
        (check.count, 1.0),
        (check.at_least_one, -1),
        (check.at_least_one, True),
        (check.at_least_one, 0),
        (check.at_least_two, "2"),
        (check.at_least_two, 1),
        (check.fraction, math.nan),
        (check.fraction, "0.5"),
        (check.fraction, 1.01),
        (check.growth, "2"),
        (check.growth, math.inf),
        (check.growth, 0.99),
        (check.text, "  "),
        (check.text, None),
        (check.optional_text, " "),
        (check.boolean, "yes"),
        (check.boolean, 1),
        (check.url, "ftp://plex"),
        (check.url, 32400),
        (check.secret, "a b"),
        (check.secret, ""),
        (check.names, ("Movies", " ")),
        (check.one_of("normal", "full"), "off"),
        (check.each(int), (1, "2")),
    ],
)
def test_every_validator_refuses_with_a_value_error_naming_the_field(rule: Rule, bad: Any) -> None:
    """Whatever is wrong, the error is a ValueError whose message starts with the field's name."""
    with pytest.raises(ValueError, match=r"^setting "):
        rule(None, FIELD, bad)


@pytest.mark.parametrize(
    ("rule", "good"),
    [
        (check.instant, None),
        (check.instant, 1.7e9),
        (check.at_least_one, 1),
        (check.duration, 0.001),
        (check.duration, 3_155_760_000),
        (check.days, 1e-9),
        (check.days, 36_525),
        (check.fraction, 0),
        (check.fraction, 1),
        (check.growth, 1),
        (check.url, "http://127.0.0.1:32400"),
        (check.url, "https://plex.example.com"),
        (check.secret, "s3cret"),
        (check.names, ()),
        (check.each(int), ()),
        (check.each(int), (1, 2)),
    ],
)
def test_validators_accept_what_they_allow(rule: Rule, good: Any) -> None:
    """The edges of each allowed range, and both URL schemes, pass."""
    rule(None, FIELD, good)


def test_one_of_ignores_case_and_names_the_choices() -> None:
    """Any casing of a choice passes; anything else, a non-string too, is refused with the list."""
    rule = check.one_of("normal", "full")
    rule(None, FIELD, "FULL")
    rule(None, FIELD, "Normal")
    with pytest.raises(ValueError, match=r"^setting must be one of normal, full, got 'off'$"):
        rule(None, FIELD, "off")
    with pytest.raises(ValueError, match=r"^setting must be one of normal, full, got 1$"):
        rule(None, FIELD, 1)


def test_each_names_the_kind_and_the_stray_item() -> None:
    """An item of another kind is refused, and the message says what was wanted and what came."""
    with pytest.raises(ValueError, match=r"^setting must hold int values, got '2'$"):
        check.each(int)(None, FIELD, (1, "2"))
