"""``Store``: one connection to the queue file, its tables, and the unit of work over them.

Every state change is one transaction: ``with store.transaction() as tx:`` and then the typed
statements of ``tx.jobs``, ``tx.dead_letters``, ``tx.breaker`` and ``tx.scans``, which commit
together or not at all. Decisions are not made here: the worker asks ``core`` and writes the
answer through these methods. Reads for people (status, the DLQ) use the same objects outside
a transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Final

from core import Job, JobSignal, JobState
from shell.store import consistency
from shell.store.breaker import BreakerRow
from shell.store.database import connect, named_failures, transaction
from shell.store.dead_letters import DeadLetters
from shell.store.images import UploadedImages
from shell.store.jobs import Jobs
from shell.store.late_edits import LateEdits
from shell.store.notes import HostNotes
from shell.store.records import StoredJob, makes
from shell.store.scans import ScanRequests
from shell.store.schema import migrate

RETENTION_SWEEP_SECONDS: Final = 3600.0
"""All workers together sweep old dead letters at most this often."""


class Store:
    """One connection to the queue database. Not shared between threads or processes."""

    def __init__(self, path: str, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self.jobs = Jobs(connection)
        self.dead_letters = DeadLetters(connection)
        self.breaker = BreakerRow(connection)
        self.late_edits = LateEdits(connection)
        self.images = UploadedImages(connection)
        self.notes = HostNotes(connection)
        self.scans = ScanRequests(connection)

    @classmethod
    def open(cls, path: str, *, synchronous: str = "NORMAL") -> Store:
        """Open (creating, private, if missing) and migrate the database at *path*."""
        connection = connect(path, synchronous=synchronous)
        try:
            with named_failures(f"cannot use the queue database {path}"):
                migrate(connection, path)
        except BaseException:
            connection.close()
            raise
        return cls(path, connection)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """One unit of work: everything done through the yielded store commits together."""
        with transaction(self._db, self.path):
            yield self

    @contextlib.contextmanager
    def reading(self) -> Iterator[Store]:
        """Reads outside a transaction; a failure of the database names the file."""
        with named_failures(self.path):
            yield self

    # ------------------------------------------------------------------ across tables
    def enqueue(self, key: str, payload: str, *, now: float) -> int:
        """``enqueue_many`` for one job; returns its id."""
        return self.enqueue_many([(key, payload)], now=now)[0]

    def enqueue_many(self, jobs: Sequence[tuple[str, str]], *, now: float) -> list[int]:
        """Queue each (key, payload) in order, in one transaction; returns the job ids.

        A new edit of a key also marks the key's dead letters superseded, so that a re-drive
        never sends an old payload over it.
        """
        ids = []
        with self.transaction():
            for key, payload in jobs:
                job_id, changed = self.jobs.enqueue(key, payload, now=now)
                if changed:
                    self.dead_letters.supersede(key, now=now)
                ids.append(job_id)
        return ids

    def finish(self, stored: StoredJob) -> bool:
        """A job Plex now holds leaves the queue, and is counted as done; ``False`` if the lease
        was no longer *stored*'s (nothing changed).
        """
        if not self.jobs.finish(stored):
            return False
        self._db.execute("UPDATE counters SET value = value + 1 WHERE name = 'done'")
        return True

    @makes((JobState.RUNNING, JobSignal.DEAD_LETTERED))
    def bury(
        self,
        stored: StoredJob,
        job: Job,
        *,
        reason: str,
        error_class: str,
        message: str,
        history: str,
        now: float,
    ) -> bool:
        """Move a claimed job to the dead letter queue; ``False`` if the lease was no longer
        *stored*'s (nothing changed).
        """
        if not self.jobs.remove(stored):
            return False
        self.dead_letters.add(
            job_id=job.id,
            key=job.key,
            payload=stored.payload,
            reason=reason,
            error_class=error_class,
            last_error=message,
            attempts=stored.attempts + 1,
            history=history,
            enqueued_at=stored.enqueued_at,
            now=now,
        )
        return True

    def problems(self) -> list[str]:
        """The cross-table rules the database breaks now (normally none), read consistently."""
        with self.reading():
            return consistency.problems(self._db)

    def damage(self) -> list[str]:
        """What SQLite's ``integrity_check`` finds wrong with the file (nothing, normally)."""
        with self.reading():
            rows = self._db.execute("PRAGMA integrity_check").fetchall()
        found = [str(row[0]) for row in rows]
        return [] if found == ["ok"] else found

    def done_count(self) -> int:
        """Jobs finished since the database was created."""
        row = self._db.execute("SELECT value FROM counters WHERE name = 'done'").fetchone()
        return int(row[0])

    def claim_retention_sweep(self, *, now: float) -> bool:
        """Whether this caller should sweep old dead letters now: at most one sweep an hour
        across all workers (a clock that stepped back counts as due). Records the sweep.
        """
        last = self._db.execute(
            "SELECT value FROM counters WHERE name = 'retention_swept_at'"
        ).fetchone()[0]
        if 0 <= now - last < RETENTION_SWEEP_SECONDS:
            return False
        self._db.execute("UPDATE counters SET value = ? WHERE name = 'retention_swept_at'", (now,))
        return True
