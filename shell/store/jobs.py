"""The ``jobs`` table: waiting and running jobs, their due times and their leases.

Rules kept here:

1. The due time is an indexed column. Claiming reads a partial index of waiting jobs in due
   order, so its cost does not grow with the backlog; a job leaves the table in the transaction
   that finishes it, so the cost does not grow with history either.
2. Newest edit wins: a key has at most one waiting and one running job (partial unique indexes).
   Enqueueing a key whose job waits replaces its payload; a key whose job runs gets one waiting
   job behind it; a running job going back to waiting gives way to a newer waiting one.
3. A claim is a lease for one owner, numbered: the job's ``lease_generation`` grows with every
   claim. Every later write to the job names the owner and the generation it claimed, and says
   whether it still matched; so a worker that lost its lease (it stalled past the lease, and
   another worker took the job over) changes nothing, and learns that it has lost it.

Every method that writes expects to run inside ``Store.transaction()``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Final

import attrs
from attrs import frozen

from core import COUNTERS, JobSignal, JobState
from shell.store.records import RUNNING, WAITING, JobRow, StoredJob, job_row, makes, stored_job

_RESET_COUNTERS: Final = ", ".join(
    f"{name} = NULL" if name.endswith("_at") else f"{name} = 0" for name in COUNTERS
)
"""A new edit's fresh budget: every counter back to its start."""

_CLAIMABLE: Final = (
    f"w.state = '{WAITING}'"
    f" AND NOT EXISTS (SELECT 1 FROM jobs AS r WHERE r.state = '{RUNNING}' AND r.key = w.key)"
)
"""A waiting job whose key is not in flight (a key's jobs run one after another)."""

_HELD: Final = "id = ? AND lease_owner = ? AND lease_generation = ?"
"""The job is still held under the lease it was claimed with (parameters: ``_lease``)."""

_DUE_FIRST: Final = (
    f"SELECT id, suspect FROM jobs AS w WHERE {_CLAIMABLE} AND w.due_at <= ?"
    " ORDER BY w.due_at, w.id LIMIT ?"
)
"""The claimable jobs due by an instant, earliest first: what a claim reads."""

_FAR_AHEAD: Final = (
    f"SELECT id, suspect FROM jobs AS w WHERE {_CLAIMABLE} AND w.due_at > ?"
    " ORDER BY w.due_at, w.id LIMIT ?"
)
"""The claimable jobs due after an instant (a clock stepped back since they were scheduled)."""

_EXPIRED: Final = f"state = '{RUNNING}' AND (lease_expires_at <= ? OR lease_expires_at > ?)"
"""A lease that ran out, or that reaches further than a lease is ever given (parameters: now, and
now plus the length of a lease): what the reaper looks for."""


def _lease(stored: StoredJob) -> tuple[int, str, int]:
    """The parameters of ``_HELD`` for the lease *stored* was claimed with."""
    return (stored.job.id, stored.lease_owner, stored.lease_generation)


@frozen(kw_only=True)
class Counts:
    """How many jobs are in each state, and when the oldest one was first enqueued."""

    waiting: int
    scheduled: int
    running: int
    oldest_enqueued_at: float | None


class Jobs:
    """Statements on the ``jobs`` table, over one connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    # ------------------------------------------------------------------ the host's side
    @makes((None, JobSignal.ENQUEUED), (JobState.WAITING, JobSignal.COALESCED))
    def enqueue(self, key: str, payload: str, *, now: float) -> tuple[int, bool]:
        """Queue *payload* for *key*: returns the id of the job that holds it, and whether
        anything changed (an identical payload for a waiting job changes nothing).

        A changed payload for a waiting job is a new edit: it gets a fresh budget and is due at
        once. One statement does it: the partial unique index is the conflict target.
        """
        written = self._db.execute(
            "INSERT INTO jobs (key, payload, state, due_at, enqueued_at, updated_at)"
            f" VALUES (?, ?, '{WAITING}', ?, ?, ?)"
            f" ON CONFLICT (key) WHERE state = '{WAITING}' DO UPDATE SET"
            "   payload = excluded.payload, updated_at = excluded.updated_at,"
            f"  due_at = min(due_at, excluded.due_at), {_RESET_COUNTERS}"
            " WHERE payload != excluded.payload"
            " RETURNING id",
            (key, payload, now, now, now),
        ).fetchone()
        if written is not None:
            return int(written[0]), True
        same = self._db.execute(
            f"SELECT id FROM jobs WHERE key = ? AND state = '{WAITING}'", (key,)
        ).fetchone()
        return int(same[0]), False

    @makes((JobState.DEAD, JobSignal.REDRIVEN))
    def requeue(self, key: str, payload: str, history: str, *, now: float) -> None:
        """Queue a dead letter's job again, with a fresh budget and its history kept."""
        self._db.execute(
            "INSERT INTO jobs (key, payload, state, due_at, enqueued_at, updated_at, history)"
            f" VALUES (?, ?, '{WAITING}', ?, ?, ?, ?)",
            (key, payload, now, now, now, history),
        )

    def has_key(self, key: str) -> bool:
        """Whether a job of *key* is waiting or running."""
        return self._db.execute("SELECT 1 FROM jobs WHERE key = ?", (key,)).fetchone() is not None

    def has_waiting(self, key: str) -> bool:
        """Whether a job of *key* is waiting (a newer edit behind a running one, say)."""
        found = self._db.execute(
            f"SELECT 1 FROM jobs WHERE key = ? AND state = '{WAITING}'", (key,)
        ).fetchone()
        return found is not None

    # ------------------------------------------------------------------ the worker's side
    @makes((JobState.WAITING, JobSignal.CLAIMED))
    def claim(
        self,
        *,
        now: float,
        owner: str,
        lease_until_at: float,
        limit: int,
        stepped_back_after: float | None = None,
    ) -> list[StoredJob]:
        """Take up to *limit* due jobs, in due order, under a lease for *owner*.

        A job suspected of killing its worker (it was held when a worker holding several jobs
        died) is only ever claimed alone, so that a crash can be pinned on it. A job due after
        *stepped_back_after* (further ahead than any wait plexsync schedules) was scheduled by a
        clock that has since stepped back: it counts as due, after the jobs that are.
        """
        if limit < 1:
            return []
        candidates = self._db.execute(_DUE_FIRST, (now, limit)).fetchall()
        if len(candidates) < limit and stepped_back_after is not None:
            candidates += self._db.execute(
                _FAR_AHEAD, (stepped_back_after, limit - len(candidates))
            ).fetchall()
        if not candidates:
            return []
        if candidates[0]["suspect"]:
            ids = [candidates[0]["id"]]  # a suspect goes alone
        else:
            ids = []
            for row in candidates:
                if row["suspect"]:
                    break
                ids.append(row["id"])
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"UPDATE jobs SET state = '{RUNNING}', lease_owner = ?, lease_expires_at = ?,"
            f" lease_generation = lease_generation + 1 WHERE id IN ({marks}) RETURNING *",
            (owner, lease_until_at, *ids),
        ).fetchall()
        return self._with_late_edits(sorted(rows, key=lambda row: ids.index(row["id"])))

    def renew(self, jobs: Sequence[StoredJob], *, lease_until_at: float) -> list[StoredJob]:
        """Extend the leases of *jobs* to *lease_until_at*; returns the jobs whose lease held,
        renewed (a job missing from the answer was lost: another worker has it now).
        """
        renewed = []
        for stored in jobs:
            found = self._db.execute(
                f"UPDATE jobs SET lease_expires_at = ? WHERE {_HELD} RETURNING lease_expires_at",
                (lease_until_at, *_lease(stored)),
            ).fetchone()
            if found is not None:
                renewed.append(attrs.evolve(stored, lease_expires_at=lease_until_at))
        return renewed

    @makes((JobState.RUNNING, JobSignal.RELEASED))
    def release(self, jobs: Sequence[StoredJob]) -> None:
        """Give back claimed jobs unattempted and uncharged: they wait again, due as before.

        A job whose key already has a newer edit waiting gives way to it (newest edit wins).
        """
        for stored in jobs:
            if not self.drop_if_superseded(stored):
                self._db.execute(
                    f"UPDATE jobs SET state = '{WAITING}', lease_owner = NULL,"
                    f" lease_expires_at = NULL WHERE {_HELD}",
                    _lease(stored),
                )

    def bring_forward(self, *, due_at: float, to_at: float) -> int:
        """Make the waiting jobs due at exactly *due_at* (those the breaker held until its
        probe) due at *to_at* instead; returns how many.
        """
        return int(
            self._db.execute(
                f"UPDATE jobs SET due_at = ? WHERE state = '{WAITING}' AND due_at = ?",
                (to_at, due_at),
            ).rowcount
        )

    @makes((JobState.RUNNING, JobSignal.SUCCEEDED))
    def finish(self, stored: StoredJob) -> bool:
        """Remove a job Plex now holds; ``False`` if the lease was no longer *stored*'s."""
        return self.remove(stored)

    def remove(self, stored: StoredJob) -> bool:
        """Remove a claimed job from the table; ``False`` if the lease was no longer its."""
        return bool(self._db.execute(f"DELETE FROM jobs WHERE {_HELD}", _lease(stored)).rowcount)

    @makes((JobState.RUNNING, JobSignal.RETRY_SCHEDULED))
    def reschedule(
        self,
        stored: StoredJob,
        *,
        due_at: float,
        counters: Mapping[str, object],
        error_class: str,
        message: str,
        history: str,
    ) -> bool:
        """Wait again until *due_at*, with the job's new *counters* and the attempt recorded.

        If a newer edit of the key already waits, this job gives way to it instead. ``False`` if
        the lease was no longer *stored*'s (nothing changed).
        """
        if self.drop_if_superseded(stored):
            return True
        assignments = ", ".join(f"{name} = :{name}" for name in counters)
        job_id, owner, generation = _lease(stored)
        return bool(
            self._db.execute(
                f"UPDATE jobs SET state = '{WAITING}', due_at = :due_at, lease_owner = NULL,"
                " lease_expires_at = NULL, attempts = attempts + 1, suspect = 0,"
                f" {assignments}, last_error_class = :error_class, last_error = :message,"
                " history = :history WHERE id = :id AND lease_owner = :owner"
                " AND lease_generation = :generation",
                {
                    **counters,
                    "due_at": due_at,
                    "error_class": error_class,
                    "message": message,
                    "history": history,
                    "id": job_id,
                    "owner": owner,
                    "generation": generation,
                },
            ).rowcount
        )

    def drop_if_superseded(self, stored: StoredJob) -> bool:
        """Newest edit wins: a claimed job going back to waiting is deleted instead if a newer
        edit of its key already waits (one waiting job per key). Says whether it was.
        """
        if not self.has_waiting(stored.job.key):
            return False
        self.remove(stored)
        return True

    # ------------------------------------------------------------------ leases of dead workers
    def expired_owners(self, *, now: float, limit: int) -> list[str]:
        """Owners holding a lease that ran out by *now* (their workers died, or stalled), at
        most *limit*.
        """
        rows = self._db.execute(
            f"SELECT DISTINCT lease_owner FROM jobs WHERE state = '{RUNNING}'"
            " AND lease_expires_at <= ? LIMIT ?",
            (now, limit),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def cut_far_leases(self, *, now: float, lease_seconds: float) -> int:
        """Cut every lease reaching further than *lease_seconds* from *now* to that far; returns
        how many. Such a lease was given before the clock stepped back: its holder may well be
        alive (it keeps the job, and renews the lease as it goes on), and if it died, its job is
        taken back one lease from now, not the length of the jump later.
        """
        end = now + lease_seconds
        return self._db.execute(
            f"UPDATE jobs SET lease_expires_at = ? WHERE state = '{RUNNING}'"
            " AND lease_expires_at > ?",
            (end, end),
        ).rowcount

    def any_expired(self, *, now: float, lease_seconds: float) -> bool:
        """Whether any lease ran out by *now*, or reaches further than *lease_seconds* from it
        (one indexed read, no write transaction).
        """
        found = self._db.execute(
            f"SELECT 1 FROM jobs WHERE {_EXPIRED} LIMIT 1", (now, now + lease_seconds)
        ).fetchone()
        return found is not None

    def held_by(self, owner: str) -> list[StoredJob]:
        """Every job *owner* holds."""
        rows = self._db.execute(
            f"SELECT * FROM jobs WHERE state = '{RUNNING}' AND lease_owner = ?", (owner,)
        ).fetchall()
        return self._with_late_edits(rows)

    def _with_late_edits(self, rows: Sequence[sqlite3.Row]) -> list[StoredJob]:
        """The claimed *rows* as jobs, each with what its key keeps (``core.PER_KEY``)."""
        keys = sorted({str(row["key"]) for row in rows})
        late: dict[str, float] = {}
        if keys:
            marks = ",".join("?" * len(keys))
            late = {
                str(found[0]): float(found[1])
                for found in self._db.execute(
                    f"SELECT key, until_at FROM late_edits WHERE key IN ({marks})", keys
                )
            }
        return [stored_job(row, late_edit_until_at=late.get(row["key"])) for row in rows]

    def mark_suspect(self, owner: str) -> None:
        """Mark every job *owner* holds as suspect: each will be claimed alone from now on."""
        self._db.execute(
            f"UPDATE jobs SET suspect = 1 WHERE state = '{RUNNING}' AND lease_owner = ?", (owner,)
        )

    def expire_leases(self, owner: str, *, now: float) -> int:
        """End every lease *owner* holds (its process is known to be gone); returns how many."""
        return self._db.execute(
            f"UPDATE jobs SET lease_expires_at = ? WHERE state = '{RUNNING}' AND lease_owner = ?",
            (now, owner),
        ).rowcount

    def lease_owners(self) -> list[str]:
        """Every owner holding a lease now."""
        rows = self._db.execute(f"SELECT DISTINCT lease_owner FROM jobs WHERE state = '{RUNNING}'")
        return [str(row[0]) for row in rows]

    # ------------------------------------------------------------------ reading
    def next_due_at(self, *, now: float, stepped_back_after: float) -> float | None:
        """When the earliest claimable job is due (keys in flight excluded), or ``None``; *now*
        if one is due after *stepped_back_after* (see ``claim``).
        """
        row = self._db.execute(
            f"SELECT due_at FROM jobs AS w WHERE {_CLAIMABLE} ORDER BY w.due_at, w.id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        far = self._db.execute(_FAR_AHEAD, (stepped_back_after, 1)).fetchone()
        return now if far is not None else float(row[0])

    def is_empty(self) -> bool:
        """Whether no job is waiting or running."""
        return self._db.execute("SELECT 1 FROM jobs LIMIT 1").fetchone() is None

    def rows(self) -> list[JobRow]:
        """Every job as stored, oldest first (for people and tests)."""
        return [job_row(row) for row in self._db.execute("SELECT * FROM jobs ORDER BY id")]

    def newest_payloads(self, limit: int) -> list[object]:
        """The payloads of the *limit* jobs queued last, newest first, as stored."""
        rows = self._db.execute("SELECT payload FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
        return [row["payload"] for row in rows]

    def claim_plan(self) -> str:
        """How SQLite runs the claim's read (``EXPLAIN QUERY PLAN``), one step per ``|``."""
        plan = self._db.execute(f"EXPLAIN QUERY PLAN {_DUE_FIRST}", (0.0, 1)).fetchall()
        return " | ".join(str(row["detail"]) for row in plan)

    def count(self) -> int:
        """Jobs waiting or running."""
        return int(self._db.execute("SELECT count(*) FROM jobs").fetchone()[0])

    def counts(self, *, now: float) -> Counts:
        """Jobs due now, due later and running, and the oldest one's first enqueue.

        Each count walks one partial index; the oldest job is the lowest id (ids grow with time).
        """
        waiting, scheduled, running, oldest = self._db.execute(
            "SELECT"
            f" (SELECT count(*) FROM jobs WHERE state = '{WAITING}' AND due_at <= :now),"
            f" (SELECT count(*) FROM jobs WHERE state = '{WAITING}' AND due_at > :now),"
            f" (SELECT count(*) FROM jobs WHERE state = '{RUNNING}'),"
            " (SELECT enqueued_at FROM jobs ORDER BY id LIMIT 1)",
            {"now": now},
        ).fetchone()
        return Counts(
            waiting=waiting, scheduled=scheduled, running=running, oldest_enqueued_at=oldest
        )
