"""The queue file as the worker sees it: a full disk waited out, the file checked at start.

**On a full disk** (design.md, rule 14) the transaction that met it wrote nothing (SQLite rolls it
back), so the worker acts as if the step had not happened: no event of it is reported or counted,
and the jobs in hand are given back uncharged (their results, if Plex took them, are redone:
edits are idempotent). It holds all work (a claim is a write, so no job goes to Plex), logs one
warning, then one every ``FULL_LOG_INTERVAL``, and tries again every ``FULL_RETRY_SECONDS`` for
as long as it takes; a stop request ends the wait. The first write that goes through ends it,
with a line.

**At start** (rule 15) a worker runs ``PRAGMA quick_check`` when the last worker on the queue did
not stop cleanly (its mark is still in the file and no worker runs), or when the file has not
passed a check for ``CHECK_EVERY_SECONDS``. A damaged file stops the worker before it calls
Plex, with one line saying what to do. ``quick_check`` reads every page, so its cost grows with
the file (0.1 s for 100,000 queued jobs in the disk cache, 1 to 2.5 s from disk): a clean
restart within the day skips it.
"""

from __future__ import annotations

import contextlib
import os
from typing import Final

from core import format_duration
from shell.clock import Clock
from shell.redact import get_logger
from shell.store import DamagedError, DiskFullError, Store, maintenance
from shell.store.database import RECOVER_ADVICE
from shell.worker import decisions

log = get_logger("plexsync.worker")

CHECK_EVERY_SECONDS: Final = 86_400.0
"""A worker that starts more than this long after the file's last check checks it again."""
FULL_RETRY_SECONDS: Final = 30.0
"""Seconds between tries to write while the disk is full."""
FULL_LOG_INTERVAL: Final = 300.0
"""Seconds between warnings while the disk stays full."""


def check_at_start(path: str, *, now: float, alone: bool) -> float | None:
    """Check the file at *path* if the last worker died or the last check is old, before the
    worker opens it for writing: the check only reads, so a damaged file is left as it is for
    ``plexsync db recover``. Returns *now* if the file passed a check, ``None`` if none was due.

    *alone*: no other worker runs on the queue (so a worker's mark left in the file is a dead
    one's). Raises ``DamagedError`` if ``quick_check`` finds anything.
    """
    marks = None if path == ":memory:" or not os.path.exists(path) else maintenance.marks(path)
    if marks is None:
        return None  # a new queue: nothing to check
    unclean = alone and marks.workers_running > 0
    stale = marks.checked_at is None or not 0 <= now - marks.checked_at < CHECK_EVERY_SECONDS
    if not (unclean or stale):
        return None
    report = maintenance.check(path, quick=True, rules=False)
    if report.damage:
        more = f" and {len(report.damage) - 1} more" if len(report.damage) > 1 else ""
        raise DamagedError(
            f"{path}: the file is damaged (quick_check: {report.damage[0]}{more}); {RECOVER_ADVICE}"
        )
    log.info(
        "%s passed quick_check in %.2fs (%s)",
        path,
        report.seconds,
        "the last worker did not stop cleanly" if unclean else "not checked in the last day",
    )
    return now


def record_start(store: Store, *, alone: bool, checked_at: float | None) -> None:
    """Mark the file: one more worker runs (the only one, if *alone*); it passed a check at
    *checked_at*. On a full disk the mark is not written (the loop meets the disk at its first
    write, and waits).
    """
    with contextlib.suppress(DiskFullError), store.transaction() as tx:
        tx.runs.started(alone=alone, checked_at=checked_at)


def record_stop(store: Store) -> None:
    """Record a clean stop (if the disk is full, the next start merely checks the file)."""
    with contextlib.suppress(DiskFullError), store.transaction() as tx:
        tx.runs.stopped()


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
