"""``plexsync db check``, ``db recover`` and ``db backup``: the queue file looked after whole.

Each opens the file itself and never migrates it; ``check`` and the reading side of ``recover``
and ``backup`` open it read-only (SQLite may refresh the ``-shm`` index beside it, nothing else).

``recover`` salvages what SQLite can still read from a damaged file into a new file with the
current schema, table by table and row by row: a read that fails skips ahead to the next
readable row (by rowid, in ever larger steps, then back by halving), so one damaged page costs
the rows on it and no more. Rows the schema refuses (garbled values) are not copied. Ids stay
unique: the new file's id sequences start past every id the old one handed out. The damaged file
(with its ``-wal`` and ``-shm``) is kept beside the new one, renamed with the time.

``backup`` copies the file with SQLite's online backup API in one step: one read transaction, so
the copy is one consistent snapshot, taken while workers and hosts go on writing (in WAL mode a
reader holds up no writer). The copy is a single self-contained file (rollback journal mode),
private, and passes ``integrity_check`` before the command says it is done.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from attrs import frozen

from shell.store import consistency
from shell.store.database import (
    BUSY_TIMEOUT_MS,
    StoreError,
    connect,
    create_private,
    failure,
    named_failures,
    transaction,
)
from shell.store.health import RunMarks, Runs, damage
from shell.store.schema import migrate

_FIRST_ROWID: Final = -(2**63)
_LAST_ROWID: Final = 2**63 - 1
_FIRST_ID: Final = 1
"""The least rowid a row of ours can have: SQLite hands out rowids from 1 and we never choose
one, so an unreadable stretch that starts below it starts, for counting losses, at it."""
_COMPANIONS: Final = ("-wal", "-shm")
"""The files SQLite keeps beside a database in WAL mode."""


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


@frozen(kw_only=True)
class Stretch:
    """Rowids ``first`` to ``last`` of a table could not be read: rows stored there are lost.
    ``last`` is ``None`` when the stretch runs to the end of the table and nothing says where
    that was.
    """

    first: int
    last: int | None


@frozen(kw_only=True)
class TableSalvage:
    """What ``recover`` made of one table."""

    table: str
    salvaged: int
    refused: int
    """Rows read but not copied: the schema refused their values (garbled)."""
    unreadable: tuple[Stretch, ...]

    @property
    def lost_at_most(self) -> int | None:
        """Rows lost: the refused ones, and at most one per rowid in the unreadable stretches
        (ids of finished jobs among them held nothing); ``None`` if a stretch has no known end.
        """
        sizes = [None if s.last is None else s.last - s.first + 1 for s in self.unreadable]
        if None in sizes:
            return None
        return self.refused + sum(size for size in sizes if size is not None)


@frozen(kw_only=True)
class RecoverReport:
    """What ``recover`` did."""

    path: str
    """The new file, where the damaged one was."""
    kept_as: str
    """The damaged file, renamed (its ``-wal`` and ``-shm`` beside it, renamed alike)."""
    tables: tuple[TableSalvage, ...]
    damage: tuple[str, ...]
    """What ``integrity_check`` finds in the new file (nothing, normally)."""
    problems: tuple[str, ...]
    """Cross-table rules the new file breaks (a salvaged row may name one that was lost)."""
    seconds: float


@frozen(kw_only=True)
class BackupReport:
    """What ``backup`` wrote."""

    path: str
    target: str
    pages: int
    jobs: int
    dead_letters: int
    done: int
    """Jobs finished, as counted in the snapshot."""
    seconds: float


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


def marks(path: str) -> RunMarks | None:
    """The marks the workers left in the file at *path* (read-only), as a worker reads them
    before it opens the file (a failure reads as ``Store.open``'s would); ``None`` for a queue
    still being created (another process may be creating it right now).
    """
    where = f"cannot use the queue database {path}"
    db = _read_only(path, where=where)
    try:
        with named_failures(path, where=where):
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'counters'").fetchone():
                return None
            return Runs(db).marks()
    finally:
        db.close()


def recover(path: str, *, now: float) -> RecoverReport:
    """Salvage what can be read from the file at *path* into a new file put in its place; the
    old one is kept, renamed ``<path>.damaged-<UTC time of now>``. Nothing may use the file
    meanwhile (the caller makes sure no worker runs).
    """
    began = time.perf_counter()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    kept_as, fresh = f"{path}.damaged-{stamp}", f"{path}.recovering-{stamp}"
    for name in (kept_as, fresh):
        if any(os.path.exists(name + suffix) for suffix in ("", *_COMPANIONS)):
            raise StoreError(f"{name} exists already: move it away, or wait a second")
    try:
        old = _open_read_only(path)
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"cannot salvage anything from {path}: SQLite cannot read even its schema ({exc}); "
            "the sqlite3 shell's .recover command, where installed, may still get rows out"
        ) from None
    try:
        sequences = _sequences(old)
        new = connect(fresh, synchronous="FULL")
        try:
            with named_failures(fresh, where=f"cannot write the recovered file {fresh}"):
                migrate(new, fresh)
                with transaction(new, fresh):
                    tables = tuple(
                        _salvage(old, new, table, ceiling=sequences.get(table))
                        for table in _tables(new)
                    )
                    _keep_ids_unique(new, sequences, tables)
                found = damage(new, quick=False)
                problems = consistency.problems(new)
        finally:
            new.close()
    except BaseException:
        for suffix in ("", *_COMPANIONS):
            if os.path.exists(fresh + suffix):
                os.remove(fresh + suffix)
        raise
    finally:
        old.close()
    # The damaged file's -wal goes with it before the new file comes: left beside the new file,
    # SQLite would replay it into the new file. An empty -wal and the -shm (an index SQLite
    # rebuilds) are not worth keeping.
    os.replace(path, kept_as)
    for suffix in _COMPANIONS:
        if os.path.exists(path + suffix):
            if suffix == "-wal" and os.path.getsize(path + suffix):
                os.replace(path + suffix, kept_as + suffix)
            else:
                os.remove(path + suffix)
    os.replace(fresh, path)
    return RecoverReport(
        path=path,
        kept_as=kept_as,
        tables=tables,
        damage=tuple(found),
        problems=tuple(problems),
        seconds=time.perf_counter() - began,
    )


def backup(path: str, target: str) -> BackupReport:
    """Copy the file at *path* to *target* as one consistent snapshot, while it is in use.

    *target* is replaced if it is a SQLite file already (another file there is refused), and is
    checked with ``integrity_check`` once written.
    """
    began = time.perf_counter()
    if _same_file(path, target):
        raise StoreError(f"{target} is the queue database itself: name another file")
    if os.path.isfile(target) and os.path.getsize(target) and not _is_sqlite(target):
        raise StoreError(
            f"{target} exists and is not a SQLite file: name another file (a backup replaces "
            "only an earlier backup)"
        )
    source = _read_only(path)
    where = f"cannot write the backup {target}"
    created = not os.path.exists(target)
    try:
        try:
            create_private(target)
            copy = sqlite3.connect(target, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{where}: {exc}") from None
        try:
            with named_failures(target, where=where):
                source.backup(copy)  # one step: the snapshot of one read transaction
                copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
                found = damage(copy, quick=False)
                if found:
                    raise StoreError(f"{where}: the copy fails integrity_check: {found[0]}")
                pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
                jobs = _count(copy, "jobs")
                dead_letters = _count(copy, "dead_letters")
                done = copy.execute("SELECT value FROM counters WHERE name = 'done'").fetchone()
        finally:
            copy.close()
    except BaseException:
        if created:
            for suffix in ("", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(target + suffix)
        raise
    finally:
        source.close()
    return BackupReport(
        path=path,
        target=target,
        pages=pages,
        jobs=jobs,
        dead_letters=dead_letters,
        done=0 if done is None else int(done[0]),
        seconds=time.perf_counter() - began,
    )


def _read_only(path: str, *, where: str | None = None) -> sqlite3.Connection:
    """A read-only connection to the queue file at *path* (which must exist and be SQLite); a
    failure's message starts with *where* (by default the path).
    """
    try:
        return _open_read_only(path)
    except sqlite3.DatabaseError as exc:
        raise failure(path, exc, where=where) from None


def _open_read_only(path: str) -> sqlite3.Connection:
    """``_read_only``, raising SQLite's own error if the file cannot be read as a database."""
    if not os.path.isfile(path):
        raise StoreError(f"no queue database at {path}")
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        db.row_factory = sqlite3.Row
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the queue database {path}: {exc}") from None
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the schema reads
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


def _same_file(path: str, target: str) -> bool:
    """Whether *target* is the queue file at *path* or one of the files beside it."""
    ours = [os.path.abspath(path) + suffix for suffix in ("", *_COMPANIONS)]
    if os.path.abspath(target) in ours:
        return True
    return os.path.exists(target) and os.path.exists(path) and os.path.samefile(path, target)


def _is_sqlite(path: str) -> bool:
    with open(path, "rb") as file:
        return file.read(16) == b"SQLite format 3\0"


def _count(db: sqlite3.Connection, table: str) -> int:
    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _tables(db: sqlite3.Connection) -> list[str]:
    """The tables of the schema, those that no other refers to first."""
    names = [
        str(row[0])
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    refers = {name for name in names if db.execute(f"PRAGMA foreign_key_list({name})").fetchall()}
    return sorted(names, key=lambda name: name in refers)


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")]


def _salvage(
    old: sqlite3.Connection, new: sqlite3.Connection, table: str, *, ceiling: int | None
) -> TableSalvage:
    """Copy every row of *table* that *old* can read and *new*'s schema takes. *ceiling*: the
    highest rowid the table ever had, if known (its AUTOINCREMENT sequence).
    """
    try:
        had = set(_columns(old, table))
    except sqlite3.DatabaseError:
        had = set()
    columns = [name for name in _columns(new, table) if name in had]
    if not columns:
        return TableSalvage(table=table, salvaged=0, refused=0, unreadable=())
    # A table the schema fills (the breaker's row, the counters) takes the old rows instead.
    seeded = new.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
    insert = (
        f"INSERT {'OR REPLACE ' if seeded else ''}INTO {table} ({', '.join(columns)})"
        f" VALUES ({', '.join('?' * len(columns))})"
    )
    salvaged = refused = 0
    unreadable: list[Stretch] = []
    for row in _readable_rows(old, table, columns, unreadable, ceiling=ceiling):
        try:
            new.execute(insert, row[1:])
        except sqlite3.IntegrityError:  # NOT NULL, CHECK, UNIQUE, a foreign key: garbled values
            refused += 1  # SQLite undid this statement alone; the transaction goes on
        else:
            salvaged += 1
    return TableSalvage(
        table=table, salvaged=salvaged, refused=refused, unreadable=tuple(unreadable)
    )


def _readable_rows(
    db: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    unreadable: list[Stretch],
    *,
    ceiling: int | None,
) -> Iterator[tuple[object, ...]]:
    """Every row of *table* that can be read, in rowid order, as (rowid, *columns*); each
    stretch of rowids that cannot be read is added to *unreadable* (one that runs to the end
    ends at *ceiling*, if known).
    """
    select = f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid >= ? ORDER BY rowid"

    def reads_from(rowid: int) -> bool:
        try:
            db.execute(f"{select} LIMIT 1", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            return False
        return True

    after = _FIRST_ROWID - 1  # the last rowid read
    stuck = None
    while after < _LAST_ROWID:
        try:
            for row in db.execute(select, (after + 1,)):
                after = max(after, row[0])
                yield tuple(row)
        except sqlite3.DatabaseError:
            # Skip at least one rowid if the last skip read nothing: every turn moves on.
            resume = _next_readable(reads_from, after + 1 if stuck == after else after)
            stuck = after
            first = max(after + 1, _FIRST_ID)
            if resume <= _LAST_ROWID:
                if resume > first:
                    unreadable.append(Stretch(first=first, last=resume - 1))
            elif ceiling is None or ceiling >= first:
                unreadable.append(Stretch(first=first, last=ceiling))
            after = resume - 1
            continue
        return


def _next_readable(reads_from: Callable[[int], bool], after: int) -> int:
    """The least rowid past *after* from which a read works (one past ``_LAST_ROWID`` if none):
    steps forward in doubling strides to a rowid from which it works, then halves back.
    """
    stride = 1
    while not reads_from(after + stride):
        if after + stride >= _LAST_ROWID:
            return _LAST_ROWID + 1
        stride = min(stride * 2, _LAST_ROWID - after)
    low, high = after + stride // 2, after + stride  # from low a read fails, from high it works
    while high - low > 1:
        middle = (low + high) // 2
        if reads_from(middle):
            high = middle
        else:
            low = middle
    return high


def _sequences(db: sqlite3.Connection) -> dict[str, int]:
    """The highest id each AUTOINCREMENT table handed out, as far as *db* can still say."""
    try:
        return {str(name): int(seq) for name, seq in db.execute("SELECT * FROM sqlite_sequence")}
    except sqlite3.DatabaseError:
        return {}


def _keep_ids_unique(
    new: sqlite3.Connection, sequences: dict[str, int], tables: Sequence[TableSalvage]
) -> None:
    """Start the new file's id sequences past every id the old one handed out (as far as it can
    still say: its *sequences*, the unreadable stretches) and past every job id a dead letter
    names, so that no id is handed out twice.
    """
    floors = {
        str(row[0]): 0
        for row in new.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'"
        )
    }
    for name in floors:
        floors[name] = sequences.get(name, 0)
    for salvage in tables:
        if salvage.table in floors:
            ends = [s.last for s in salvage.unreadable if s.last is not None]
            floors[salvage.table] = max([floors[salvage.table], *ends])
    dead = new.execute("SELECT coalesce(max(job_id), 0) FROM dead_letters").fetchone()[0]
    floors["jobs"] = max(floors.get("jobs", 0), int(dead))
    for name, floor in floors.items():
        new.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT ?, 0"
            " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)",
            (name, name),
        )
        new.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (floor, name))
