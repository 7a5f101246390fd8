"""Instants as people read them: with a zone, never as raw epoch seconds."""

from __future__ import annotations

import datetime as dt


def iso(at: float) -> str:
    """*at* (epoch seconds) in UTC to the second: ``2026-11-29T14:03:07Z``."""
    return dt.datetime.fromtimestamp(at, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def moment(at: float) -> str:
    """*at* for a log line: the UTC instant, to the second."""
    return f"at {iso(at)}"
