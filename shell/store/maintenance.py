"""``plexsync db check``: the queue file checked whole, read-only, and the marks workers left.

Each function opens the file itself, read-only (SQLite may refresh the ``-shm`` index beside it,
nothing else), and never migrates it.
"""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.parse

from attrs import frozen

from shell.store import consistency
from shell.store.database import (
    StoreError,
    failure,
    named_failures,
)
from shell.store.health import RunMarks, Runs, damage


@frozen(kw_only=True)
class CheckReport:
    """What ``check`` found."""

    path: str
    quick: bool
    """``quick_check`` (every page read, indexes not matched against tables) was run, rather
    than the full ``integrity_check``."""
    damage: tuple[str, ...]
    """What SQLite's check found, one problem a line (nothing for a sound file)."""
    problems: tuple[str, ...]
    """Cross-table rules the file breaks (only looked for in a sound file)."""
    jobs: int | None
    dead_letters: int | None
    seconds: float

    @property
    def ok(self) -> bool:
        """Nothing wrong."""
        return not self.damage and not self.problems


def check(path: str, *, quick: bool = False, rules: bool = True) -> CheckReport:
    """Check the file at *path* with ``integrity_check`` (``quick_check`` with *quick*) and, if
    SQLite finds it sound and with *rules*, against the rules across its tables. Read-only.
    """
    began = time.perf_counter()
    db = _read_only(path)
    try:
        found = damage(db, quick=quick)
        problems: list[str] = []
        jobs = dead_letters = None
        if not found and rules:
            with named_failures(path):
                problems = consistency.problems(db)
                jobs = _count(db, "jobs")
                dead_letters = _count(db, "dead_letters")
    finally:
        db.close()
    return CheckReport(
        path=path,
        quick=quick,
        damage=tuple(found),
        problems=tuple(problems),
        jobs=jobs,
        dead_letters=dead_letters,
        seconds=time.perf_counter() - began,
    )


def marks(path: str) -> RunMarks:
    """The marks the workers left in the file at *path* (read-only)."""
    db = _read_only(path)
    try:
        with named_failures(path):
            return Runs(db).marks()
    finally:
        db.close()


def _read_only(path: str) -> sqlite3.Connection:
    """A read-only connection to the queue file at *path* (which must exist and be SQLite)."""
    if not os.path.isfile(path):
        raise StoreError(f"no queue database at {path}")
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
        db.row_factory = sqlite3.Row
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the queue database {path}: {exc}") from None
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the schema reads
    except sqlite3.DatabaseError as exc:
        db.close()
        raise failure(path, exc) from None
    return db


def _count(db: sqlite3.Connection, table: str) -> int:
    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
