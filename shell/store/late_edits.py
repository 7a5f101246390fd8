"""The ``late_edits`` table: keys whose last edit may still land in Plex, and until when.

An edit whose answer never came (it timed out) may still be carried out by Plex later. Until
then, ``core.decide`` does not count a newer edit of the same key as final (rule 8 of
``core/decide.py``). The instant belongs to the key, not to one job: a newer edit of the key,
queued as a new job, inherits it.
"""

from __future__ import annotations

import sqlite3


class LateEdits:
    """Statements on the ``late_edits`` table, over one connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def extend(self, key: str, *, until_at: float) -> None:
        """An edit of *key* may land until *until_at* (an earlier, later instant is kept)."""
        self._db.execute(
            "INSERT INTO late_edits (key, until_at) VALUES (?, ?) ON CONFLICT (key)"
            " DO UPDATE SET until_at = max(until_at, excluded.until_at)",
            (key, until_at),
        )

    def cut(self, key: str, *, until_at: float) -> None:
        """An edit of *key* may land until *until_at* at the latest (a window set before the
        clock stepped back reached further than a window ever does from now).
        """
        self._db.execute(
            "UPDATE late_edits SET until_at = min(until_at, ?) WHERE key = ?", (until_at, key)
        )

    def forget_before(self, at: float) -> int:
        """Forget the windows that ended before *at*; returns how many."""
        return self._db.execute("DELETE FROM late_edits WHERE until_at < ?", (at,)).rowcount
