"""Durations as people write them: ``45s``, ``90m``, ``6h``, ``1h30m``, ``2d``, or plain seconds."""

from __future__ import annotations

import math
import re
from typing import Final

_UNITS: Final = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART: Final = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


def parse_duration(text: str) -> float:
    """Seconds in *text*: ``"90m"`` -> 5400.0; a bare number is seconds. Raises ``ValueError``."""
    cleaned = text.strip().lower()
    try:
        seconds = float(cleaned)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        raise ValueError(f"not a duration: {text!r} (use e.g. 45s, 90m, 6h, 1h30m, 2d)")
    parts = _PART.findall(cleaned)
    if not parts or "".join(number + unit for number, unit in parts) != cleaned:
        raise ValueError(f"not a duration: {text!r} (use e.g. 45s, 90m, 6h, 1h30m, 2d)")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """``90`` -> ``1m30s``; ``43200`` -> ``12h``; fractions below a second are rounded away."""
    whole = int(seconds + 0.5)  # half up: 10.5 s reads as 11s, as people expect
    if whole <= 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        if whole >= size:
            count, whole = divmod(whole, int(size))
            parts.append(f"{count}{unit}")
    return "".join(parts)
