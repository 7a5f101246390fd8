"""Reviewing and re-driving the dead letter queue (NOTES, principle 7).

Re-drive rules:

1. It acts on a snapshot: the ids chosen when the command starts. A job that fails again while the
   command runs lands in a new entry, which the same command never picks up.
2. It is idempotent: a re-driven entry leaves the DLQ in the transaction that queues its job, so
   re-driving it again finds nothing and says so.
3. Newest edit wins: an entry whose key got a newer edit after it (``superseded_at``, set by
   ``Store.enqueue`` and when the entry is written) is skipped, so an old payload never
   overwrites a newer one in Plex.
4. The re-driven job starts with a fresh budget (attempt counts reset) and keeps the entry's
   attempt history, marked with the re-drive.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from attrs import frozen

from shell.store import Store, parse_history


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

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready view: the payload and history decoded when they can be."""
        try:
            payload: Any = json.loads(self.payload)
        except (json.JSONDecodeError, RecursionError):
            payload = self.payload
        return {
            "id": self.id,
            "job_id": self.job_id,
            "key": self.key,
            "reason": self.reason,
            "error_class": self.error_class,
            "last_error": self.last_error,
            "attempts": self.attempts,
            "enqueued_at": self.enqueued_at,
            "dead_lettered_at": self.dead_lettered_at,
            "superseded_at": self.superseded_at,
            "payload": payload,
            "history": list(self.history),
        }


@frozen(kw_only=True)
class Skipped:
    """An entry a re-drive left alone, and why."""

    entry_id: int
    why: str


@frozen(kw_only=True)
class RedriveReport:
    """What a re-drive did (or, dry, would do)."""

    redriven: tuple[int, ...]
    skipped: tuple[Skipped, ...]
    dry_run: bool


def list_entries(
    store: Store,
    *,
    reason: str | None = None,
    since_at: float | None = None,
    key: str | None = None,
    limit: int | None = None,
) -> list[DeadLetterEntry]:
    """Entries matching every filter given, newest first."""
    where, parameters = _filters(reason=reason, since_at=since_at, key=key)
    sql = f"SELECT * FROM dead_letters {where} ORDER BY dead_lettered_at DESC, id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        parameters.append(limit)
    return [_entry(row) for row in store.query(sql, parameters)]


def get_entry(store: Store, entry_id: int) -> DeadLetterEntry | None:
    """The entry with *entry_id*, if it is (still) in the DLQ."""
    rows = store.query("SELECT * FROM dead_letters WHERE id = ?", (entry_id,))
    return _entry(rows[0]) if rows else None


def snapshot(
    store: Store,
    *,
    ids: Sequence[int] = (),
    reason: str | None = None,
    since_at: float | None = None,
) -> list[int]:
    """The ids a re-drive will act on: *ids* if given (even ones no longer there, so the report can
    say so), else every entry matching the filters, oldest first.
    """
    if ids:
        return list(dict.fromkeys(ids))
    where, parameters = _filters(reason=reason, since_at=since_at, key=None)
    rows = store.query(f"SELECT id FROM dead_letters {where} ORDER BY id", parameters)
    return [int(row[0]) for row in rows]


def redrive(
    store: Store,
    entry_ids: Sequence[int],
    *,
    now: float,
    dry_run: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> RedriveReport:
    """Queue each entry of the snapshot *entry_ids* again, one transaction per entry."""
    redriven: list[int] = []
    skipped: list[Skipped] = []
    for done, entry_id in enumerate(entry_ids, start=1):
        why = _redrive_one(store, entry_id, now=now, dry_run=dry_run)
        if why is None:
            redriven.append(entry_id)
        else:
            skipped.append(Skipped(entry_id=entry_id, why=why))
        if on_progress is not None:
            on_progress(done, len(entry_ids))
    return RedriveReport(redriven=tuple(redriven), skipped=tuple(skipped), dry_run=dry_run)


def purge(store: Store, *, older_than_at: float | None = None, dry_run: bool = False) -> int:
    """Delete entries dead-lettered before *older_than_at* (every entry if ``None``)."""
    where, parameters = ("", [])
    if older_than_at is not None:
        where, parameters = ("WHERE dead_lettered_at < ?", [older_than_at])
    if dry_run:
        return int(store.query(f"SELECT count(*) FROM dead_letters {where}", parameters)[0][0])
    with store.transaction() as db:
        return db.execute(f"DELETE FROM dead_letters {where}", parameters).rowcount


def _redrive_one(store: Store, entry_id: int, *, now: float, dry_run: bool) -> str | None:
    """Re-drive one entry; ``None`` if it was (or would be) queued, else why it was skipped."""
    with store.transaction() as db:
        row = db.execute("SELECT * FROM dead_letters WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            return "not in the DLQ (already re-driven or purged)"
        if row["superseded_at"] is not None:
            return "a newer edit of this key was queued after it"
        queued = db.execute("SELECT 1 FROM jobs WHERE key = ?", (row["key"],)).fetchone()
        if queued is not None:
            return "a newer edit of this key is queued"
        if dry_run:
            return None
        history = [
            *parse_history(row["history"]),
            {"at": now, "decision": "re-driven", "from": entry_id},
        ]
        db.execute(
            "INSERT INTO jobs (key, payload, state, due_at, enqueued_at, updated_at, history)"
            " VALUES (?, ?, 'waiting', ?, ?, ?, ?)",
            (row["key"], row["payload"], now, now, now, json.dumps(history)),
        )
        db.execute("DELETE FROM dead_letters WHERE id = ?", (entry_id,))
    return None


def _filters(
    *, reason: str | None, since_at: float | None, key: str | None
) -> tuple[str, list[object]]:
    clauses: list[str] = []
    parameters: list[object] = []
    for clause, value in (
        ("reason = ?", reason),
        ("dead_lettered_at >= ?", since_at),
        ("key = ?", key),
    ):
        if value is not None:
            clauses.append(clause)
            parameters.append(value)
    return ("WHERE " + " AND ".join(clauses) if clauses else "", parameters)


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
