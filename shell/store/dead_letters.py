"""The ``dead_letters`` table: jobs that will not be retried, each with its reason and history.

An entry keeps the payload, the typed reason, the last error and the attempt history. It is
"superseded" once a newer edit of its key is queued (``superseded_at``): re-driving it then would
send an old payload over a newer one, so ``shell.dlq`` skips it.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from attrs import frozen

from core import JobSignal, JobState
from shell.store.records import WAITING, makes, parse_history


@frozen(kw_only=True)
class DeadLetterEntry:
    """One dead letter, as stored."""

    id: int
    job_id: int
    key: str
    reason: str
    error_class: str
    last_error: str
    attempts: int
    enqueued_at: float
    dead_lettered_at: float
    superseded_at: float | None
    payload: str
    history: tuple[dict[str, Any], ...]


@frozen(kw_only=True)
class Filters:
    """Which entries to act on: every one given must match (``None`` matches anything)."""

    reason: str | None = None
    since_at: float | None = None
    """Dead-lettered at or after this instant."""
    before_at: float | None = None
    """Dead-lettered before this instant."""
    key: str | None = None

    def where(self) -> tuple[str, list[object]]:
        """The ``WHERE`` clause (or nothing) and its parameters."""
        clauses: list[str] = []
        parameters: list[object] = []
        for clause, value in (
            ("reason = ?", self.reason),
            ("dead_lettered_at >= ?", self.since_at),
            ("dead_lettered_at < ?", self.before_at),
            ("key = ?", self.key),
        ):
            if value is not None:
                clauses.append(clause)
                parameters.append(value)
        return ("WHERE " + " AND ".join(clauses) if clauses else "", parameters)


class DeadLetters:
    """Statements on the ``dead_letters`` table, over one connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def add(
        self,
        *,
        job_id: int,
        key: str,
        payload: object,
        reason: str,
        error_class: str,
        last_error: str,
        attempts: int,
        history: str,
        enqueued_at: float,
        now: float,
    ) -> None:
        """Write an entry. If a newer edit of its key already waits, it is superseded from the
        start.
        """
        # Ids are never reused (an id names one entry for good, even after it was re-driven or
        # purged): each is one above the highest ever issued, which the counters keep.
        self._db.execute(
            "INSERT INTO dead_letters (id, job_id, key, payload, reason, error_class, last_error,"
            " attempts, history, enqueued_at, dead_lettered_at, superseded_at)"
            f" VALUES (({_HIGHEST_ISSUED}) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            f"  (SELECT ? FROM jobs WHERE key = ? AND state = '{WAITING}'))",
            (
                job_id,
                key,
                payload,
                reason,
                error_class,
                last_error,
                attempts,
                history,
                enqueued_at,
                now,
                now,
                key,
            ),
        )
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('dead_letter_ids', last_insert_rowid())"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )

    def ever_issued(self, entry_id: int) -> bool:
        """Whether *entry_id* was ever given to an entry (still here, re-driven or purged)."""
        row = self._db.execute(_HIGHEST_ISSUED).fetchone()
        return 0 < entry_id <= int(row[0])

    def supersede(self, key: str, *, now: float) -> None:
        """A newer edit of *key* was queued: its entries must never be re-driven over it.

        The key index makes this a lookup that usually finds nothing.
        """
        self._db.execute(
            "UPDATE dead_letters SET superseded_at = ? WHERE key = ? AND superseded_at IS NULL",
            (now, key),
        )

    def entries(self, filters: Filters, *, limit: int | None = None) -> list[DeadLetterEntry]:
        """Entries matching *filters*, newest first."""
        where, parameters = filters.where()
        sql = f"SELECT * FROM dead_letters {where} ORDER BY dead_lettered_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            parameters.append(limit)
        return [_entry(row) for row in self._db.execute(sql, parameters)]

    def get(self, entry_id: int) -> DeadLetterEntry | None:
        """The entry with *entry_id*, if it is (still) in the DLQ."""
        row = self._db.execute("SELECT * FROM dead_letters WHERE id = ?", (entry_id,)).fetchone()
        return None if row is None else _entry(row)

    def ids(self, filters: Filters) -> list[int]:
        """The ids of the entries matching *filters*, oldest first."""
        where, parameters = filters.where()
        rows = self._db.execute(f"SELECT id FROM dead_letters {where} ORDER BY id", parameters)
        return [int(row[0]) for row in rows]

    def count(self, filters: Filters) -> int:
        """How many entries match *filters*."""
        where, parameters = filters.where()
        row = self._db.execute(f"SELECT count(*) FROM dead_letters {where}", parameters)
        return int(row.fetchone()[0])

    def count_by_reason(self) -> dict[str, int]:
        """How many entries there are of each reason (reasons without any are absent)."""
        rows = self._db.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason")
        return {str(row[0]): int(row[1]) for row in rows}

    @makes((JobState.DEAD, JobSignal.PURGED))
    def delete(self, filters: Filters) -> int:
        """Delete the entries matching *filters*; returns how many went."""
        where, parameters = filters.where()
        return self._db.execute(f"DELETE FROM dead_letters {where}", parameters).rowcount

    def take(self, entry_id: int) -> DeadLetterEntry | None:
        """Remove the entry *entry_id* and return it (``None`` if it is not there)."""
        entry = self.get(entry_id)
        if entry is not None:
            self._db.execute("DELETE FROM dead_letters WHERE id = ?", (entry_id,))
        return entry


_HIGHEST_ISSUED: Final = (
    "SELECT max(coalesce((SELECT max(id) FROM dead_letters), 0),"
    " coalesce((SELECT value FROM counters WHERE name = 'dead_letter_ids'), 0))"
)
"""The highest entry id ever issued (a database older than the counter: the highest there now)."""


def _entry(row: sqlite3.Row) -> DeadLetterEntry:
    return DeadLetterEntry(
        id=row["id"],
        job_id=row["job_id"],
        key=row["key"],
        reason=row["reason"],
        error_class=row["error_class"],
        last_error=row["last_error"] or "",
        attempts=row["attempts"],
        enqueued_at=row["enqueued_at"],
        dead_lettered_at=row["dead_lettered_at"],
        superseded_at=row["superseded_at"],
        # A tampered row may hold anything; show it as text rather than fail on it.
        payload=row["payload"] if isinstance(row["payload"], str) else repr(row["payload"]),
        history=parse_history(row["history"]),
    )
