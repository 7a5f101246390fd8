"""The queue file as the worker sees it: a full disk waited out.

**On a full disk** (design.md, rule 13) the transaction that met it wrote nothing (SQLite rolls it
back), so the worker acts as if the step had not happened: no event of it is reported or counted,
and the jobs in hand are given back uncharged (their results, if Plex took them, are redone:
edits are idempotent). It holds all work (a claim is a write, so no job goes to Plex), logs one
warning, then one every ``FULL_LOG_INTERVAL``, and tries again every ``FULL_RETRY_SECONDS`` for
as long as it takes; a stop request ends the wait. The first write that goes through ends it,
with a line.
"""

from __future__ import annotations

from typing import Final

from core import format_duration
from shell.clock import Clock
from shell.redact import get_logger
from shell.store import DiskFullError, Store
from shell.worker import decisions

log = get_logger("plexsync.worker")

FULL_RETRY_SECONDS: Final = 30.0
"""Seconds between tries to write while the disk is full."""
FULL_LOG_INTERVAL: Final = 300.0
"""Seconds between warnings while the disk stays full."""


class FullDisk:
    """One worker's wait for disk space: since when, what it has said, what it has written."""

    def __init__(self, store: Store, clock: Clock, owner: str) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self.since: float | None = None
        """When the disk was found full (``None``: it is not, as far as the worker knows)."""
        self._warned_at = 0.0
        self._writes = 0

    def met(self, error: DiskFullError) -> None:
        """A write failed for want of space: say so (at once, then every few minutes) and wait
        before trying again.
        """
        now = self.clock.now()
        if self.since is None:
            self.since = self._warned_at = now
            log.warning(
                "%s; holding all work (no job goes to Plex) and trying again every %s",
                error,
                format_duration(FULL_RETRY_SECONDS),
            )
        elif not 0 <= now - self._warned_at < FULL_LOG_INTERVAL:
            self._warned_at = now
            log.warning(
                "%s: the disk is still full after %s; trying again every %s",
                self.store.path,
                format_duration(now - self.since),
                format_duration(FULL_RETRY_SECONDS),
            )
        self._writes = self.store.writes
        self.clock.sleep(FULL_RETRY_SECONDS)

    def before_step(self) -> None:
        """While the disk was full, first give back the jobs in hand: their results were not
        written, so they are worked again. Raises ``DiskFullError`` if it still is.
        """
        if self.since is None:
            return
        released = decisions.release_held(self.store, owner=self.owner)
        if released:
            log.info(
                "gave back %d job%s in hand, uncharged (%s not written)",
                released,
                "" if released == 1 else "s",
                "its result was" if released == 1 else "their results were",
            )

    def went_through(self) -> None:
        """A step ended without meeting a full disk: if it wrote, the wait is over."""
        if self.since is not None and self.store.writes > self._writes:
            log.info(
                "%s can be written again after %s: resuming work",
                self.store.path,
                format_duration(self.clock.now() - self.since),
            )
            self.since = None

    def release(self) -> int | None:
        """Give back every job this worker holds, uncharged (it is stopping); returns how many,
        or ``None`` if the disk refused the write (they stay claimed).
        """
        try:
            return decisions.release_held(self.store, owner=self.owner)
        except DiskFullError:
            if self.since is None:
                self.since = self.clock.now()
            return None

    def stopping(self) -> None:
        """The worker stops: if the disk was full, give back what it holds, or say what stays."""
        if self.since is None or self.release() is not None:
            return
        held = len(self.store.jobs.held_by(self.owner))
        if held:
            log.warning(
                "stopping while %s cannot be written (the disk is full): %d job%s in hand stay "
                "claimed until the lease runs out (a worker started on this host takes them "
                "back at once)",
                self.store.path,
                held,
                "" if held == 1 else "s",
            )
