"""What the worker needs from Plex: apply one job's metadata, and a cheap health check.

The real gateway (``shell.plex.PlexServerGateway``) talks to Plex through ``plexapi``; the
simulated one (``shell.simulated_plex.SimulatedPlex``) follows a scenario on a fake clock. A host
may pass its own to ``run_worker(plex=...)``.
"""

from __future__ import annotations

from typing import Protocol

from core import Health, Outcome
from shell.payload import Metadata


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
