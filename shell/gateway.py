"""What the worker needs from Plex: apply one job's metadata, and a cheap health check.

The real gateway (``shell.plex.PlexServerGateway``) talks to Plex through ``plexapi``; the
simulated one (``shell.simulated_plex.SimulatedPlex``) follows a scenario on a fake clock. A host
may pass its own to ``run_worker(plex=...)``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from attrs import frozen

from core import Health, Outcome
from shell.payload import Metadata


@frozen
class HealthReport:
    """A health answer, and what the call found in plain words when the answer alone would not
    say it (which certificate failed to verify, and how).
    """

    health: Health
    detail: str = ""


class PlexGateway(Protocol):
    """Plex, as the worker sees it. Neither method may raise for a Plex failure: failures are
    outcomes (``core.Failed`` with an error class), classified where they happen.
    """

    def apply(self, metadata: Metadata) -> Outcome:
        """Find the item for ``metadata.path`` and set the fields the metadata carries."""
        ...

    def health(self) -> Health:
        """Make one cheap call with the token: is Plex up, down, or refusing the token."""
        ...


@runtime_checkable
class ReportsHealth(Protocol):
    """A gateway that can say more about its health call than ``Health`` does."""

    def health_report(self) -> HealthReport:
        """The health call, with what it found in plain words."""
        ...


@runtime_checkable
class Knocks(Protocol):
    """A gateway that can tell, without a request, whether Plex's port accepts connections."""

    def reachable(self) -> bool:
        """Whether a connection to Plex's address is accepted (then closed at once)."""
        ...


def check_health(plex: PlexGateway) -> HealthReport:
    """One health call to *plex*, with its words if the gateway gives any."""
    if isinstance(plex, ReportsHealth):
        return plex.health_report()
    return HealthReport(plex.health())
