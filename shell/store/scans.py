"""The ``scan_requests`` table: when each folder's partial scan was last asked of Plex.

A path Plex does not know yet makes the gateway ask Plex to scan its folder, at most once per
folder in a window. Kept here, the window holds across runs (``plexsync run --until-idle`` from
cron) and across workers, instead of restarting with every process.
"""

from __future__ import annotations

import sqlite3


class ScanRequests:
    """Statements on the scan requests, over one connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def claim(self, folder: str, *, now: float, window_seconds: float) -> bool:
        """Whether a scan of *folder* may be asked for now: none was in the last
        *window_seconds* (one stamped later than *now*, by a clock that stepped back, does not
        count). If so, records it as asked now. Requests too old to matter are forgotten.
        Run it inside a transaction, so that two workers cannot both claim one folder.
        """
        self._db.execute(
            "DELETE FROM scan_requests WHERE NOT (requested_at <= ? AND requested_at > ?)",
            (now, now - window_seconds),
        )
        recent = self._db.execute(
            "SELECT 1 FROM scan_requests WHERE folder = ?", (folder,)
        ).fetchone()
        if recent is not None:
            return False
        self._db.execute(
            "INSERT INTO scan_requests (folder, requested_at) VALUES (?, ?)", (folder, now)
        )
        return True

    def forget(self, folder: str) -> None:
        """Drop *folder*'s request (Plex never received it), so the next miss may ask again."""
        self._db.execute("DELETE FROM scan_requests WHERE folder = ?", (folder,))

    def requested_at(self, folder: str) -> float | None:
        """When a scan of *folder* was last asked for, if within the window of the last claim."""
        row = self._db.execute(
            "SELECT requested_at FROM scan_requests WHERE folder = ?", (folder,)
        ).fetchone()
        return None if row is None else float(row[0])
