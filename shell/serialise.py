"""Values as JSON-ready data, through the one cattrs converter plexsync prints and writes with.

attrs values become dicts of their fields in field order, enums their values, tuples and other
sequences lists, mappings dicts; numbers, strings and ``None`` stay as they are (a float is not
rounded, an int not made a float). A module with a form of its own for some type (``shell.settings``
writes a path mapping as ``host=plex``) starts from ``converter.copy()`` rather than changing this
one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import cattrs

converter: Final = cattrs.Converter(unstruct_collection_overrides={Sequence: list})
"""Enums by value (cattrs' default), every sequence as a list, everything else as it is."""


def jsonable(value: object) -> Any:  # noqa: ANN401 - JSON-ready data has no narrower type
    """*value* as data ``json.dumps`` takes: see the module's rules."""
    return converter.unstructure(value)
