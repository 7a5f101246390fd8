r"""JSON exactly as Go's `encoding/json.Marshal` writes it, which is how Stash feeds a plugin.

What differs from Python's `json.dumps`:
- compact: no spaces, no trailing newline;
- a Go map's keys are sorted (byte order), a Go struct's keys keep their declaration order:
  here a plain `dict` is a map and a `GoStruct` is a struct;
- `<`, `>`, `&`, U+2028 and U+2029 inside strings are escaped as `\\u003c` and so on; other
  non-ASCII text is written as UTF-8;
- a float is written without a fraction when it has none (`5`, not `5.0`), in exponent form
  only below 1e-6 or from 1e21 on, with a one-digit exponent where possible (`1e-7`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class GoStruct(dict[str, Any]):
    """A Go struct: marshalled with its keys in insertion order, not sorted."""


def go_json(value: Any) -> bytes:
    """*value* marshalled as Go's `json.Marshal` would, as UTF-8 bytes."""
    return _encode(value).encode()


def _encode(value: Any) -> str:  # noqa: PLR0911 - one return per JSON kind
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, GoStruct):
        return "{" + ",".join(f"{_string(k)}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: str(k).encode())
        return "{" + ",".join(f"{_string(str(k))}:{_encode(value[k])}" for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot marshal {type(value).__name__}")


def _string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    for char, escape in _HTML_ESCAPES.items():
        encoded = encoded.replace(char, escape)
    return encoded


def _float(number: float) -> str:
    if not math.isfinite(number):
        raise ValueError(f"json: unsupported value: {number}")
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        # Python's repr and Go's 'e' format agree but for Go's "e-07" -> "e-7" clean-up.
        return re.sub(r"e-0(\d)$", r"e-\1", repr(number))
    text = format(Decimal(repr(number)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
