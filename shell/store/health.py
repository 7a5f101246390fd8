"""The queue file's health: the marks workers leave in it, and SQLite's checks of it.

* ``Runs``: how many workers run (a worker that dies leaves its mark) and when the file last
  passed a check; a worker reads them to decide whether to check the file as it starts;
* ``damage``: what ``PRAGMA quick_check`` or ``integrity_check`` finds, one problem a line.
"""

from __future__ import annotations

import sqlite3

from attrs import frozen

_WORKERS_RUNNING = "workers_running"
_CHECKED_AT = "checked_at"


@frozen(kw_only=True)
class RunMarks:
    """What the workers left in the file."""

    workers_running: int
    """Workers started and not stopped cleanly since: more than zero with none running means
    the last one died (or the machine did)."""
    checked_at: float | None
    """When the file last passed ``quick_check`` at a worker's start (``None``: never)."""


class Runs:
    """The marks in ``counters`` that say how the last workers ended, over one connection.

    Every method that writes expects to run inside ``Store.transaction()``.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def marks(self) -> RunMarks:
        """The marks as they stand."""
        found = {
            str(row[0]): float(row[1])
            for row in self._db.execute(
                "SELECT name, value FROM counters WHERE name IN (?, ?)",
                (_WORKERS_RUNNING, _CHECKED_AT),
            )
        }
        return RunMarks(
            workers_running=int(found.get(_WORKERS_RUNNING, 0)),
            checked_at=found.get(_CHECKED_AT),
        )

    def started(self, *, alone: bool, checked_at: float | None) -> None:
        """A worker starts: one more runs (the only one, if it is *alone*: any mark left before
        was a dead worker's); with *checked_at*, the file has just passed a check.
        """
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE"
            " SET value = CASE WHEN ? THEN 1 ELSE value + 1 END",
            (_WORKERS_RUNNING, alone),
        )
        if checked_at is not None:
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE"
                " SET value = excluded.value",
                (_CHECKED_AT, checked_at),
            )

    def stopped(self) -> None:
        """A worker stops cleanly: one fewer runs."""
        self._db.execute(
            "UPDATE counters SET value = max(value - 1, 0) WHERE name = ?", (_WORKERS_RUNNING,)
        )


def damage(db: sqlite3.Connection, *, quick: bool) -> list[str]:
    """What ``PRAGMA quick_check`` (with *quick*) or ``integrity_check`` finds: one problem a
    line, none for a sound file. ``quick_check`` reads every page but does not match indexes
    against their tables. A check that SQLite itself gives up on (the damage is in a page it
    needs to go on) is one problem: SQLite's message.
    """
    pragma = "quick_check" if quick else "integrity_check"
    found: list[str] = []
    try:
        for row in db.execute(f"PRAGMA {pragma}"):
            found.extend(
                line
                for line in str(row[0]).splitlines()
                if line.strip() and not line.startswith("*** in database")
            )
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if found == ["ok"] else found
