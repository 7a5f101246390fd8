"""Reviewing and re-driving the dead letter queue (docs/design.md, rule 7).

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
from collections.abc import Callable, Sequence
from typing import Any, Final

from attrs import frozen

from shell.store import DeadLetterEntry, Filters, Store

NEVER_EXISTED: Final = "no dead letter ever had this id"
"""Why a re-drive skipped an id that was never issued (a mistyped id, not an idempotent repeat)."""


def as_json(entry: DeadLetterEntry) -> dict[str, Any]:
    """A JSON-ready view of *entry*: the payload and history decoded when they can be."""
    try:
        payload: Any = json.loads(entry.payload)
    except (json.JSONDecodeError, RecursionError):
        payload = entry.payload
    return {
        "id": entry.id,
        "job_id": entry.job_id,
        "key": entry.key,
        "reason": entry.reason,
        "error_class": entry.error_class,
        "last_error": entry.last_error,
        "attempts": entry.attempts,
        "enqueued_at": entry.enqueued_at,
        "dead_lettered_at": entry.dead_lettered_at,
        "superseded_at": entry.superseded_at,
        "payload": payload,
        "history": list(entry.history),
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
    with store.reading():
        return store.dead_letters.entries(
            Filters(reason=reason, since_at=since_at, key=key), limit=limit
        )


def get_entry(store: Store, entry_id: int) -> DeadLetterEntry | None:
    """The entry with *entry_id*, if it is (still) in the DLQ."""
    with store.reading():
        return store.dead_letters.get(entry_id)


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
    with store.reading():
        return store.dead_letters.ids(Filters(reason=reason, since_at=since_at))


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
    filters = Filters(before_at=older_than_at)
    if dry_run:
        with store.reading():
            return store.dead_letters.count(filters)
    with store.transaction() as tx:
        return tx.dead_letters.delete(filters)


def _redrive_one(store: Store, entry_id: int, *, now: float, dry_run: bool) -> str | None:
    """Re-drive one entry; ``None`` if it was (or would be) queued, else why it was skipped."""
    with store.transaction() as tx:
        entry = tx.dead_letters.get(entry_id)
        if entry is None and not tx.dead_letters.ever_issued(entry_id):
            return NEVER_EXISTED
        if entry is None:
            return "not in the DLQ (already re-driven or purged)"
        if entry.superseded_at is not None:
            return "a newer edit of this key was queued after it"
        if tx.jobs.has_key(entry.key):
            return "a newer edit of this key is queued"
        if dry_run:
            return None
        history = [*entry.history, {"at": now, "decision": "re-driven", "from": entry_id}]
        tx.dead_letters.take(entry_id)
        tx.jobs.requeue(entry.key, entry.payload, json.dumps(history), now=now)
    return None
