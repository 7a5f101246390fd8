"""What an outage is: why work is held, and the record of one outage from start to end.

Kept apart from the breaker so that the events (``core.events``) can name an outage without the
breaker and the events importing each other.
"""

from __future__ import annotations

import enum

from attrs import field, frozen

from core import validation as check


class PauseCause(enum.Enum):
    """Why work is held."""

    OUTAGE = "outage"
    """Plex does not answer, or answers as a server that is down (502, 503, 504)."""
    AUTH = "auth"
    """Plex answers, but rejects the token."""
    MISCONFIGURED = "misconfigured"
    """The settings cannot work: plex_url is not a Plex server, or a library section is wrong."""
    FAILING_EDITS = "failing_edits"
    """Plex answers its health call but fails the edits of many different items (its database
    is busy with a scan, an optimisation or a backup)."""


@frozen(kw_only=True)
class Outage:
    """One outage, from the breaker opening to it closing, however many probes it took."""

    cause: PauseCause
    started_at: float = field(validator=check.number)
    probes: int = field(default=0, validator=check.count)
    ended_at: float | None = field(default=None, validator=check.instant)
    detail: str = ""
    """The latest cause in plain words ("connection refused", "token rejected (401)")."""
