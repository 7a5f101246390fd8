"""The attrs validators shared by every value in ``core``: each names the field it rejects."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs


def number(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A finite int or float (``bool`` is refused: ``True`` is not a duration)."""
    del instance
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be a finite number, got {value!r}")


def positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """A finite number greater than 0."""
    number(instance, attribute, value)
    if value <= 0:
        raise ValueError(f"{attribute.name} must be greater than 0, got {value!r}")


def instant(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An instant (epoch seconds), or ``None`` where the field allows it."""
    if value is not None:
        number(instance, attribute, value)


def count(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A whole number >= 0."""
    del instance
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be a whole number >= 0, got {value!r}")


def at_least_one(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    """A whole number >= 1."""
    count(instance, attribute, value)
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value!r}")


def at_least_two(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    """A whole number >= 2."""
    count(instance, attribute, value)
    if value < 2:
        raise ValueError(f"{attribute.name} must be at least 2, got {value!r}")


def fraction(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """A number in [0, 1]."""
    number(instance, attribute, value)
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value!r}")


def growth(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """A growth factor: at least 1, so delays never shrink."""
    number(instance, attribute, value)
    if value < 1:
        raise ValueError(
            f"{attribute.name} must be at least 1 (delays never shrink), got {value!r}"
        )


def text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A string with something other than whitespace in it."""
    del instance
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string")


def url(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An http:// or https:// URL with a host."""
    text(instance, attribute, value)
    parts = urlsplit(str(value))
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(
            f"{attribute.name} must be an http:// or https:// URL with a host, got {value!r}"
        )


def secret(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A non-empty string without whitespace; the message never quotes the value."""
    text(instance, attribute, value)
    if any(ch.isspace() for ch in str(value)):
        raise ValueError(f"{attribute.name} must not contain whitespace")


def names(instance: object, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
    """A tuple of non-empty strings."""
    del instance
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{attribute.name} must hold non-empty strings, got {item!r}")


def one_of(*choices: str) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """One of *choices* (compared without regard to case)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        del instance
        if not isinstance(value, str) or value.lower() not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(choices)}, got {value!r}")

    return check


def each(kind: type) -> Callable[[object, attrs.Attribute[Any], tuple[object, ...]], None]:
    """Every item of a tuple is a *kind*."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
        del instance
        for item in value:
            if not isinstance(item, kind):
                raise ValueError(f"{attribute.name} must hold {kind.__name__} values, got {item!r}")

    return check
