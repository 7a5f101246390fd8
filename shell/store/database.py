"""Opening the queue's SQLite file, and the one way to change it: a transaction.

The file is created private (mode 0600: the dead letters hold payloads), in WAL mode with a busy
timeout. A locked database is waited for, never reported to the caller. A failure of the database
itself (not SQLite, read-only, disk full, damaged) becomes a ``StoreError`` that names the file:
``DiskFullError`` when the disk holding it is full (the transaction wrote nothing),
``DamagedError`` when SQLite finds the file malformed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Final, TypeVar

BUSY_TIMEOUT_MS: Final = 10_000
LOCKED_RETRIES: Final = 30
NEARLY_FULL_BYTES: Final = 1 << 20
"""Below this much free space, an I/O error of SQLite's is taken for a full disk."""

_T = TypeVar("_T")


RECOVER_ADVICE: Final = (
    "stop the worker and the host, then run `plexsync db recover` "
    "(it salvages what can be read into a new file and keeps this one)"
)
"""What to do about a damaged file, in every message that reports one."""


class StoreError(Exception):
    """The database cannot be used: not SQLite, not writable, full, damaged, or from a newer
    plexsync. The message is one line that names the file.
    """


class DiskFullError(StoreError):
    """The disk holding the database is full: the transaction that met it wrote nothing (SQLite
    rolled it back), and nothing stored before is lost.
    """


class DamagedError(StoreError):
    """SQLite found the file malformed (a torn page, a truncated WAL): the message says what to
    do (``plexsync db recover``).
    """


def failure(path: str, exc: sqlite3.DatabaseError, *, where: str | None = None) -> StoreError:
    """The ``StoreError`` that reports *exc*, met using the file at *path*, in one line that
    starts with *where* (by default the path).

    A full disk is reported as such also when SQLite calls it an I/O error (growing the ``-shm``
    file, which a process opening the queue must do, fails so) and the disk has no room left.
    """
    where = path if where is None else where
    code = _primary_code(exc)
    if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and _nearly_full(path)):
        return DiskFullError(
            f"{where}: disk full: nothing was written (free space on the disk that holds it)"
        )
    if code == sqlite3.SQLITE_CORRUPT:
        return DamagedError(f"{where}: the file is damaged ({exc}); {RECOVER_ADVICE}")
    return StoreError(f"{where}: {explain(exc)}")


def connect(path: str, *, synchronous: str) -> sqlite3.Connection:
    """A configured connection to the file at *path*, created (private) if it is missing."""
    try:
        create_private(path)
        # One thread at a time, but not always the same one: the Plex gateway's store is used
        # from the worker's call threads, under the gateway's lock.
        connection = sqlite3.connect(
            path,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the queue database {path}: {exc}") from None
    try:
        _configure(connection, path, synchronous)
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise failure(path, exc, where=f"cannot use the queue database {path}") from None
    except StoreError:
        connection.close()
        raise
    return connection


@contextlib.contextmanager
def transaction(connection: sqlite3.Connection, path: str) -> Iterator[sqlite3.Connection]:
    """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), rolled back on any error.

    Other writers are waited out; a failure of the database itself is a ``StoreError``. A COMMIT
    that fails (the disk is full) leaves nothing written: SQLite rolls the transaction back, or
    it is rolled back here.
    """
    with named_failures(path):
        when_not_busy(lambda: connection.execute("BEGIN IMMEDIATE"))
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # SQLite may have rolled back already (disk full)
                connection.execute("ROLLBACK")
            raise


@contextlib.contextmanager
def named_failures(path: str, *, where: str | None = None) -> Iterator[None]:
    """Turn a failure of the database at *path* into a ``StoreError`` naming the file (or
    starting with *where*).
    """
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise failure(path, exc, where=where) from None


def when_not_busy(operation: Callable[[], _T]) -> _T:
    """Run *operation*, trying again while another connection holds the lock SQLite wanted.

    SQLite waits out most locks itself (the busy timeout), but not the ones taken to begin an
    immediate transaction or to switch a new file to WAL: those are retried here, in real time,
    since it is another process's I/O that is being waited for.
    """
    for attempt in range(LOCKED_RETRIES):
        try:
            return operation()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or attempt == LOCKED_RETRIES - 1:
                raise
            time.sleep(min(0.05 * (attempt + 1), 1.0))
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


def explain(exc: sqlite3.DatabaseError) -> str:
    """What a database failure means, in words an operator can act on."""
    match _primary_code(exc):
        case sqlite3.SQLITE_NOTADB:
            return "the file is not a SQLite database"
        case sqlite3.SQLITE_READONLY | sqlite3.SQLITE_CANTOPEN:
            return "the file (or its folder) is not writable"
        case _:
            return str(exc)


def _nearly_full(path: str) -> bool:
    """Whether the disk holding the file at *path* has less than ``NEARLY_FULL_BYTES`` free."""
    try:
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
    except OSError:
        return False
    return free < NEARLY_FULL_BYTES


def create_private(path: str) -> None:
    """Create the database file readable by its owner only (the DLQ holds payloads)."""
    if path == ":memory:" or os.path.exists(path):
        return
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(descriptor)


def _configure(connection: sqlite3.Connection, path: str, synchronous: str) -> None:
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # Switching a new file to WAL needs it to itself, and SQLite does not wait for that with the
    # busy timeout: two processes opening a new queue at once must take turns here.
    mode = when_not_busy(lambda: connection.execute("PRAGMA journal_mode = WAL").fetchone()[0])
    if path != ":memory:" and str(mode).lower() != "wal":
        raise StoreError(f"cannot switch {path} to WAL mode (got {mode})")
    level = synchronous.upper()
    if level not in {"NORMAL", "FULL"}:
        raise StoreError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
    connection.execute(f"PRAGMA synchronous = {level}")
    connection.execute("PRAGMA foreign_keys = ON")


def _primary_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (extended codes carry it in their low byte)."""
    return int(getattr(exc, "sqlite_errorcode", -1)) & 0xFF


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return _primary_code(exc) in {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
