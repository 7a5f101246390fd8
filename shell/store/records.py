"""The values the store hands out and takes back, and how they map to and from rows.

Rows become values here and nowhere else: a stored job becomes the core's ``Job`` plus what only
the shell needs (``StoredJob``); a row that breaks the core's invariants is kept with its problem
named, so the worker can dead-letter it instead of failing on it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, Final, ParamSpec, TypeVar, assert_never

import attrs
from attrs import frozen
from returns.result import Failure, Result, Success

from core import (
    COUNTERS,
    Action,
    DeadLetter,
    Done,
    Failed,
    Job,
    JobSignal,
    JobState,
    Outcome,
    RetryAt,
    Succeeded,
)

HISTORY_LIMIT: Final = 50
"""Attempts kept per job (the most recent); older ones are summarised by the attempt count."""

WAITING: Final = JobState.WAITING.value
RUNNING: Final = JobState.RUNNING.value
"""The two states a row of ``jobs`` can be in (a job done or dead has left the table)."""

JOB_MOVES: dict[tuple[JobState | None, JobSignal], str] = {}
"""Which store method makes each move of ``core.JOB_TRANSITIONS`` (a test ties the two)."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def makes(
    *moves: tuple[JobState | None, JobSignal],
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Mark a store method as the one that makes *moves* of a job's life."""

    def mark(method: Callable[_P, _R]) -> Callable[_P, _R]:
        for move in moves:
            JOB_MOVES[move] = method.__qualname__
        return method

    return mark


@frozen(kw_only=True)
class StoredJob:
    """A claimed job as stored: the core's view (``job``) plus what only the shell needs."""

    job: Job
    payload: str | bytes | int | float
    """Normally the JSON text ``enqueue`` wrote; anything, if the row was tampered with."""
    attempts: int
    history_text: str
    """The stored attempt history, as JSON: only read when a retry or dead letter extends it."""
    enqueued_at: float
    lease_owner: str
    lease_generation: int
    """Grows with every claim of the job: a write that names an older one changes nothing, so a
    worker that lost its lease (it stalled, and another worker took the job) cannot act on it."""
    lease_expires_at: float
    row_problem: str | None = None
    """Set when the row itself is inconsistent; the worker dead-letters it as invalid."""


@frozen(kw_only=True)
class JobRow:
    """A row of ``jobs`` as it is stored, for people and tests to look at (never to decide on:
    decisions read a ``StoredJob``).
    """

    id: int
    key: str
    payload: object
    state: str
    due_at: float
    enqueued_at: float
    updated_at: float
    lease_owner: str | None
    lease_expires_at: float | None
    lease_generation: int
    suspect: int
    attempts: int
    transient_failures: int
    not_found_failures: int
    not_found_since_at: float | None
    crashes: int
    rate_limited_deferrals: int
    outage_deferrals: int
    last_error_class: str | None
    last_error: str | None
    history: tuple[dict[str, Any], ...]


def job_row(row: sqlite3.Row) -> JobRow:
    """A stored row, column by column (the history decoded)."""
    columns = {name: row[name] for name in attrs.fields_dict(JobRow) if name != "history"}
    return JobRow(**columns, history=parse_history(row["history"]))


def stored_job(row: sqlite3.Row, *, late_edit_until_at: float | None = None) -> StoredJob:
    """A claimed row as a ``StoredJob``; an inconsistent row keeps its identity and problem.

    *late_edit_until_at* is what the store keeps for the job's key (``core.PER_KEY``).
    """
    match job_of(row, late_edit_until_at=late_edit_until_at):
        case Success(job):
            problem = None
        case Failure(problem):
            job = Job(id=row["id"], key=row["key"] or "?", first_enqueued_at=0.0)
    return StoredJob(
        job=job,
        payload=row["payload"],
        attempts=row["attempts"],
        history_text=row["history"] if isinstance(row["history"], str) else "[]",
        enqueued_at=row["enqueued_at"],
        lease_owner=row["lease_owner"],
        lease_generation=row["lease_generation"],
        lease_expires_at=row["lease_expires_at"],
        row_problem=problem,
    )


def job_of(row: sqlite3.Row, *, late_edit_until_at: float | None = None) -> Result[Job, str]:
    """The core's view of a stored row; a row that breaks the core's invariants is an error.

    The counters are columns of the same names (``core.COUNTERS``); the first enqueue is
    ``enqueued_at``.
    """
    try:
        counters = {name: row[name] for name in COUNTERS}
        return Success(
            Job(
                id=row["id"],
                key=row["key"],
                first_enqueued_at=row["enqueued_at"],
                late_edit_until_at=late_edit_until_at,
                **counters,
            )
        )
    except (ValueError, TypeError) as exc:
        return Failure(f"stored job row is inconsistent: {exc}")


def counter_values(job: Job) -> Mapping[str, object]:
    """The job's counters by column name, to store."""
    return {name: getattr(job, name) for name in COUNTERS}


def parse_history(text: object) -> tuple[dict[str, Any], ...]:
    """A stored attempt history; a damaged one reads as empty rather than failing the job."""
    try:
        entries = json.loads(text) if isinstance(text, str) else []
    except json.JSONDecodeError:
        entries = []
    return tuple(e for e in entries if isinstance(e, dict)) if isinstance(entries, list) else ()


def extended_history(stored: StoredJob, outcome: Outcome, action: Action, *, now: float) -> str:
    """The job's history with this attempt added, the oldest entries dropped past the limit."""
    entry = _history_entry(outcome, action, now=now)
    return json.dumps([*parse_history(stored.history_text), entry][-HISTORY_LIMIT:])


def _history_entry(outcome: Outcome, action: Action, *, now: float) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": now}
    match outcome:
        case Succeeded():
            entry["outcome"] = "success"
        case Failed(error_class=error_class, message=message):
            entry["outcome"] = error_class.value
            if message:
                entry["message"] = message
    match action:
        case Done():
            entry["decision"] = "done"
        case RetryAt(at=at, charged=charged):
            entry.update(decision="retry", retry_at=at, charged=charged)
        case DeadLetter(reason=reason):
            entry.update(decision="dead-letter", reason=reason.value)
        case _:
            assert_never(action)
    return entry
