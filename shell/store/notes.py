"""The ``host_notes`` table: a host application's own small notes, kept with its queue.

A host integration remembers a few values between runs in the same database as the work
(where a "changed since" sync got to, which dead letters it has already reported). Names are the
host's to choose; prefix them with the host's name (``stash.``). Values are text. Writes expect
to run inside ``Store.transaction()``.
"""

from __future__ import annotations

import sqlite3


class HostNotes:
    """Statements on the host's notes, over one connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, name: str) -> str | None:
        """The note called *name*, if there is one."""
        row = self._db.execute("SELECT value FROM host_notes WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, name: str, value: str, *, now: float) -> None:
        """Write the note called *name*."""
        self._db.execute(
            "INSERT INTO host_notes (name, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at",
            (name, value, now),
        )
