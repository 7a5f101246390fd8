"""The SQLite file: the job queue, the dead letter queue, the breaker and its outage records.

Rules this module keeps (NOTES, principles 1, 5, 6, 10):

1. Every state change is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): enqueue, claim,
   the decision after an attempt (job and breaker together), a probe report, a re-drive.
2. The due time is an indexed column. Claiming is one ``UPDATE ... RETURNING`` over a partial
   index of waiting jobs in due order, so its cost does not grow with the backlog, and finished
   jobs are deleted in the transaction that finishes them, so it does not grow with history.
3. Newest edit wins: enqueueing a key that has a waiting job replaces that job's payload; a key
   whose job is in flight gets one waiting job that runs after it. Partial unique indexes make
   two waiting (or two running) jobs of one key impossible.
4. A claim is a lease. A worker that dies leaves it to expire; the next claim takes the job back
   and counts a crash, which ``core.decide`` turns into a retry or, past ``max_crashes``, the DLQ.
5. The breaker is one row, changed in the same transactions as the jobs; an outage is one row in
   ``outages`` from open to close.
6. Only parameterised SQL. The file is created private (mode 0600), in WAL mode with a busy
   timeout; a locked database is waited for, never reported to the caller.

Decisions are not made here: the store asks ``core`` and writes down the answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, assert_never

from attrs import frozen
from returns.result import Failure, Result, Success

from core import (
    Admission,
    Breaker,
    BreakerClosed,
    BreakerEvent,
    BreakerKind,
    BreakerState,
    Closed,
    DeadLetter,
    Decision,
    Done,
    ErrorClass,
    Event,
    Failed,
    HalfOpen,
    Health,
    Job,
    Open,
    Outage,
    Outcome,
    PauseCause,
    PlexSyncConfig,
    Proceed,
    RetryAt,
    Succeeded,
    admit,
    decide,
    jitter_sample,
    on_probe,
)

HISTORY_LIMIT: Final = 50
"""Attempts kept per job (the most recent); older ones are summarised by the attempt count."""

REAP_BATCH: Final = 20
"""Expired leases taken back per transaction, so it stays short however many workers died."""

BUSY_TIMEOUT_MS: Final = 10_000
LOCKED_RETRIES: Final = 30


class StoreError(Exception):
    """The database cannot be used: not SQLite, not writable, or from a newer plexsync."""


_MIGRATIONS: Final[Sequence[str]] = (
    # 1: jobs, dead letters, the breaker and its outages, counters.
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('waiting', 'running')),
        due_at REAL NOT NULL,
        enqueued_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        lease_owner TEXT,
        lease_expires_at REAL,
        suspect INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        transient_failures INTEGER NOT NULL DEFAULT 0,
        not_found_failures INTEGER NOT NULL DEFAULT 0,
        not_found_since_at REAL,
        crashes INTEGER NOT NULL DEFAULT 0,
        rate_limited_deferrals INTEGER NOT NULL DEFAULT 0,
        outage_deferrals INTEGER NOT NULL DEFAULT 0,
        last_error_class TEXT,
        last_error TEXT,
        history TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX jobs_due ON jobs (due_at, id) WHERE state = 'waiting';
    CREATE UNIQUE INDEX jobs_one_waiting_per_key ON jobs (key) WHERE state = 'waiting';
    CREATE UNIQUE INDEX jobs_one_running_per_key ON jobs (key) WHERE state = 'running';

    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        payload TEXT NOT NULL,
        reason TEXT NOT NULL,
        error_class TEXT NOT NULL,
        last_error TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        history TEXT NOT NULL,
        enqueued_at REAL NOT NULL,
        dead_lettered_at REAL NOT NULL,
        superseded_at REAL
    );
    CREATE INDEX dead_letters_by_time ON dead_letters (dead_lettered_at);
    CREATE INDEX dead_letters_by_reason ON dead_letters (reason, dead_lettered_at);
    CREATE INDEX dead_letters_by_key ON dead_letters (key);

    CREATE TABLE outages (
        id INTEGER PRIMARY KEY,
        cause TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        probes INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE breaker (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        kind TEXT NOT NULL,
        consecutive_failures INTEGER NOT NULL,
        cooldown_seconds REAL NOT NULL,
        probe_at REAL,
        throttled_until_at REAL,
        outage_id INTEGER REFERENCES outages (id)
    );
    INSERT INTO breaker (id, kind, consecutive_failures, cooldown_seconds)
        VALUES (1, 'closed', 0, 0);

    CREATE TABLE counters (name TEXT PRIMARY KEY, value REAL NOT NULL);
    INSERT INTO counters (name, value) VALUES ('done', 0), ('retention_swept_at', 0);
    """,
)

SCHEMA_VERSION: Final = len(_MIGRATIONS)

_JOB_COUNTERS: Final = (
    "transient_failures",
    "not_found_failures",
    "not_found_since_at",
    "crashes",
    "rate_limited_deferrals",
    "outage_deferrals",
)


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
    row_problem: str | None = None
    """Set when the row itself is inconsistent; the worker dead-letters it as invalid."""


@frozen(kw_only=True)
class Attempted:
    """One attempt to record: the job, what came of it, and when it ended."""

    stored: StoredJob
    outcome: Outcome
    at: float


@frozen(kw_only=True)
class Recorded:
    """What ``record`` did: the decisions written, the jobs claimed in the same breath, and
    whether the breaker now holds work (the worker's remaining jobs were then given back).
    """

    decisions: tuple[Decision, ...]
    next_jobs: tuple[StoredJob, ...] = ()
    held: bool = False


class Store:
    """One connection to the queue database. Not shared between threads or processes."""

    def __init__(self, path: str, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        # The breaker row rarely changes: the value built from it is kept while it reads the same.
        self._breaker_cache: tuple[tuple[object, ...], Breaker] | None = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str, *, synchronous: str = "NORMAL") -> Store:
        """Open (creating, private, if missing) and migrate the database at *path*."""
        try:
            _create_private(path)
            connection = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the queue database {path}: {exc}") from None
        try:
            _configure(connection, path, synchronous)
            store = cls(path, connection)
            store._migrate()
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise StoreError(f"cannot use the queue database {path}: {_explain(exc)}") from None
        except StoreError:
            connection.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this plexsync "
                f"understands ({SCHEMA_VERSION}); upgrade plexsync"
            )
        while version < SCHEMA_VERSION:
            with self.transaction() as db:
                # Read again under the write lock: another process may have migrated meanwhile.
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    break
                # executescript would commit on its own; run the statements one by one instead.
                for statement in _statements(_MIGRATIONS[version]):
                    db.execute(statement)
                version += 1
                db.execute(f"PRAGMA user_version = {version}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. Waits out other writers; never reports "database is locked".

        A failure of the database itself (read-only, disk full, corrupt) is a ``StoreError``
        naming the file; the transaction is rolled back.
        """
        with self._named_failures():
            for attempt in range(LOCKED_RETRIES):
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or attempt == LOCKED_RETRIES - 1:
                        raise
                    time.sleep(min(0.05 * (attempt + 1), 1.0))  # real time: I/O contention
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _named_failures(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {_explain(exc)}") from None

    # ------------------------------------------------------------------ host side
    def enqueue(self, key: str, payload: str, *, now: float) -> int:
        """Queue *payload* for *key*; newest edit wins. Returns the id of the job holding it.

        A waiting job of the same key takes the new payload; if the payload really changed it
        also gets a fresh budget and becomes due at once (it is a new edit). An identical payload
        changes nothing. A key whose job is in flight gets one new waiting job behind it.
        """
        return self.enqueue_many([(key, payload)], now=now)[0]

    def enqueue_many(self, jobs: Sequence[tuple[str, str]], *, now: float) -> list[int]:
        """``enqueue`` each (key, payload) in order, all in one transaction."""
        with self.transaction() as db:
            return [self._enqueue(db, key, payload, now=now) for key, payload in jobs]

    def _enqueue(self, db: sqlite3.Connection, key: str, payload: str, *, now: float) -> int:
        # One statement inserts, or replaces the payload of the key's waiting job (the partial
        # unique index is the conflict target); an identical payload updates nothing.
        written = db.execute(
            "INSERT INTO jobs (key, payload, state, due_at, enqueued_at, updated_at)"
            " VALUES (?, ?, 'waiting', ?, ?, ?)"
            " ON CONFLICT (key) WHERE state = 'waiting' DO UPDATE SET"
            "   payload = excluded.payload, updated_at = excluded.updated_at,"
            "   due_at = min(due_at, excluded.due_at),"
            "   transient_failures = 0, not_found_failures = 0, not_found_since_at = NULL,"
            "   crashes = 0, rate_limited_deferrals = 0, outage_deferrals = 0"
            " WHERE payload != excluded.payload"
            " RETURNING id",
            (key, payload, now, now, now),
        ).fetchone()
        if written is None:  # the same edit again: nothing changed
            same = db.execute(
                "SELECT id FROM jobs WHERE key = ? AND state = 'waiting'", (key,)
            ).fetchone()
            return int(same[0])
        # A newer edit of the key exists from now on: its dead letters must never be re-driven
        # over it (``shell.dlq``). The key index makes this a lookup that usually finds nothing.
        db.execute(
            "UPDATE dead_letters SET superseded_at = ? WHERE key = ? AND superseded_at IS NULL",
            (now, key),
        )
        return int(written[0])

    # ------------------------------------------------------------------ worker side
    def admit(self, *, now: float, config: PlexSyncConfig) -> Admission:
        """Ask the breaker whether work may proceed; store its move if it makes one."""
        breaker, _ = self._load_breaker(self._db)
        admission = admit(breaker, now=now, config=config)
        if admission.breaker == breaker:
            return admission
        with self.transaction() as db:  # the breaker moves (a probe is due): decide again, locked
            breaker, outage_id = self._load_breaker(db)
            admission = admit(breaker, now=now, config=config)
            self._save_breaker(db, breaker, outage_id, admission.breaker, admission.events)
        return admission

    def report_probe(
        self, health: Health, *, now: float, config: PlexSyncConfig
    ) -> tuple[BreakerEvent, ...]:
        """Record the result of the breaker's probe."""
        with self.transaction() as db:
            breaker, outage_id = self._load_breaker(db)
            after, events = on_probe(breaker, health, now=now, config=config)
            self._save_breaker(db, breaker, outage_id, after, events)
        return events

    def claim(
        self, *, now: float, owner: str, config: PlexSyncConfig, limit: int = 1
    ) -> list[StoredJob]:
        """Take up to *limit* due jobs, in due order, under a lease for *owner*.

        A job suspected of killing its worker (it was held when a worker holding several jobs
        died) is only ever claimed alone, so that a crash can be pinned on it.
        """
        with self.transaction() as db:
            return self._claim(db, now=now, owner=owner, config=config, limit=limit)

    def record(
        self,
        attempts: Sequence[Attempted],
        *,
        config: PlexSyncConfig,
        remaining: Sequence[StoredJob] = (),
        claim_more: int = 0,
    ) -> Recorded:
        """Write ``core.decide``'s answer to each attempt, in order, in one transaction.

        Each decision sees the breaker as the previous one left it. Then, if the breaker still
        lets work through, the worker's *remaining* claimed jobs get their leases renewed and, if
        *claim_more*, up to that many more due jobs are claimed; if it does not, the remaining
        jobs are given back untouched.
        """
        with self.transaction() as db:
            breaker, outage_id = self._load_breaker(db)
            decisions = []
            for attempt in attempts:
                stored = attempt.stored
                jitter = jitter_sample(stored.job.id, stored.job.deliveries)
                decision = decide(
                    stored.job,
                    attempt.outcome,
                    now=attempt.at,
                    jitter=jitter,
                    config=config,
                    breaker=breaker,
                )
                self._carry_out(db, stored, attempt.outcome, decision, now=attempt.at)
                outage_id = self._save_breaker(
                    db, breaker, outage_id, decision.breaker, decision.events
                )
                breaker = decision.breaker
                decisions.append(decision)
            now, owner = attempts[-1].at, attempts[-1].stored.lease_owner
            if not isinstance(admit(breaker, now=now, config=config).permission, Proceed):
                self._release(db, remaining)
                return Recorded(decisions=tuple(decisions), held=True)
            if remaining:
                marks = ",".join("?" * len(remaining))
                db.execute(
                    f"UPDATE jobs SET lease_expires_at = ? WHERE id IN ({marks})"
                    " AND lease_owner = ?",
                    (now + config.job_lease_seconds, *(s.job.id for s in remaining), owner),
                )
            more = self._claim(db, now=now, owner=owner, config=config, limit=claim_more)
        return Recorded(decisions=tuple(decisions), next_jobs=tuple(more))

    def release(self, jobs: Sequence[StoredJob]) -> None:
        """Give back claimed jobs that were not attempted (the worker is stopping): they wait
        again, due as before, with no attempt or crash counted.
        """
        if not jobs:
            return
        with self.transaction() as db:
            self._release(db, jobs)

    def reap(self, *, now: float, config: PlexSyncConfig) -> tuple[Decision, ...]:
        """Take back jobs whose lease expired (their worker died).

        A worker that died holding one job died on it: ``core.decide`` counts the crash and
        retries it at once or, past ``max_crashes``, dead-letters it. A worker that died holding
        several cannot say which one it was working on: they all wait again uncharged, marked
        suspect, and each is then claimed alone until it is decided.
        """
        expired = self._db.execute(
            "SELECT 1 FROM jobs WHERE state = 'running' AND lease_expires_at <= ? LIMIT 1", (now,)
        ).fetchone()
        if expired is None:  # the usual case costs one indexed read, no write transaction
            return ()
        with self.transaction() as db:
            return self._reap(db, now=now, config=config)

    def expire_lease(self, owner: str, *, now: float) -> int:
        """End every lease *owner* holds (its process is known to be gone); returns how many."""
        with self.transaction() as db:
            return db.execute(
                "UPDATE jobs SET lease_expires_at = ? WHERE state = 'running' AND lease_owner = ?",
                (now, owner),
            ).rowcount

    def next_due_at(self) -> float | None:
        """When the earliest claimable job is due (keys in flight excluded), or ``None``."""
        row = self._db.execute(
            "SELECT due_at FROM jobs AS w WHERE w.state = 'waiting'"
            " AND NOT EXISTS (SELECT 1 FROM jobs AS r WHERE r.state = 'running' AND r.key = w.key)"
            " ORDER BY w.due_at, w.id LIMIT 1"
        ).fetchone()
        return None if row is None else float(row[0])

    def is_empty(self) -> bool:
        """Whether no job is waiting or running."""
        return self._db.execute("SELECT 1 FROM jobs LIMIT 1").fetchone() is None

    def breaker(self) -> Breaker:
        """The breaker as stored."""
        return self._load_breaker(self._db)[0]

    # ------------------------------------------------------------------ retention
    def sweep_dead_letters(self, *, now: float, config: PlexSyncConfig) -> int | None:
        """Delete dead letters older than ``dlq_retention_days``, at most once an hour across all
        workers. Returns how many went, or ``None`` if a sweep ran less than an hour ago.
        """
        with self.transaction() as db:
            last = db.execute(
                "SELECT value FROM counters WHERE name = 'retention_swept_at'"
            ).fetchone()[0]
            if 0 <= now - last < 3600:
                return None
            db.execute("UPDATE counters SET value = ? WHERE name = 'retention_swept_at'", (now,))
            cutoff = now - config.dlq_retention_days * 86400
            cursor = db.execute("DELETE FROM dead_letters WHERE dead_lettered_at < ?", (cutoff,))
            return cursor.rowcount

    # ------------------------------------------------------------------ reading for people
    def query(
        self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()
    ) -> list[sqlite3.Row]:
        """Run a read-only query (for status and DLQ views)."""
        with self._named_failures():
            return self._db.execute(sql, parameters).fetchall()

    # ------------------------------------------------------------------ internals
    def _claim(
        self,
        db: sqlite3.Connection,
        *,
        now: float,
        owner: str,
        config: PlexSyncConfig,
        limit: int,
    ) -> list[StoredJob]:
        if limit < 1:
            return []
        candidates = db.execute(
            "SELECT id, suspect FROM jobs AS w"
            " WHERE w.state = 'waiting' AND w.due_at <= ?"
            "   AND NOT EXISTS (SELECT 1 FROM jobs AS r"
            "                   WHERE r.state = 'running' AND r.key = w.key)"
            " ORDER BY w.due_at, w.id LIMIT ?",
            (now, limit),
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
        rows = db.execute(
            f"UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?"
            f" WHERE id IN ({marks}) RETURNING *",
            (owner, now + config.job_lease_seconds, *ids),
        ).fetchall()
        return sorted((_stored_job(row) for row in rows), key=lambda s: ids.index(s.job.id))

    def _release(self, db: sqlite3.Connection, jobs: Sequence[StoredJob]) -> None:
        for stored in jobs:
            if not self._dropped_if_superseded(db, stored):
                db.execute(
                    "UPDATE jobs SET state = 'waiting', lease_owner = NULL,"
                    " lease_expires_at = NULL WHERE id = ? AND lease_owner = ?",
                    (stored.job.id, stored.lease_owner),
                )

    @staticmethod
    def _dropped_if_superseded(db: sqlite3.Connection, stored: StoredJob) -> bool:
        """Newest edit wins: a claimed job going back to waiting is deleted instead if a newer
        edit of its key already waits (one waiting job per key). Says whether it was.
        """
        newer = db.execute(
            "SELECT 1 FROM jobs WHERE key = ? AND state = 'waiting'", (stored.job.key,)
        ).fetchone()
        if newer is None:
            return False
        db.execute(
            "DELETE FROM jobs WHERE id = ? AND lease_owner = ?",
            (stored.job.id, stored.lease_owner),
        )
        return True

    def _reap(
        self, db: sqlite3.Connection, *, now: float, config: PlexSyncConfig
    ) -> tuple[Decision, ...]:
        owners = db.execute(
            "SELECT DISTINCT lease_owner FROM jobs"
            " WHERE state = 'running' AND lease_expires_at <= ? LIMIT ?",
            (now, REAP_BATCH),
        ).fetchall()
        decisions = []
        breaker, _ = self._load_breaker(db)  # a crash is the worker's, not Plex's: read only
        for (owner,) in owners:
            held = [
                _stored_job(row)
                for row in db.execute(
                    "SELECT * FROM jobs WHERE state = 'running' AND lease_owner = ?", (owner,)
                )
            ]
            if len(held) > 1:
                db.execute(
                    "UPDATE jobs SET suspect = 1 WHERE state = 'running' AND lease_owner = ?",
                    (owner,),
                )
                self._release(db, held)
                continue
            [stored] = held
            crash = Failed(ErrorClass.CRASHED, f"worker {owner} died holding the job")
            decision = decide(
                stored.job,
                crash,
                now=now,
                jitter=jitter_sample(stored.job.id, stored.job.deliveries),
                config=config,
                breaker=breaker,
            )
            self._carry_out(db, stored, crash, decision, now=now)
            decisions.append(decision)
        return tuple(decisions)

    def _carry_out(
        self,
        db: sqlite3.Connection,
        stored: StoredJob,
        outcome: Outcome,
        decision: Decision,
        *,
        now: float,
    ) -> None:
        job, key, owner = decision.job, stored.job.key, stored.lease_owner
        error_class, message = (
            (None, None)
            if isinstance(outcome, Succeeded)
            else (outcome.error_class.value, outcome.message)
        )
        match decision.action:
            case Done():
                gone = db.execute(
                    "DELETE FROM jobs WHERE id = ? AND lease_owner = ?", (job.id, owner)
                ).rowcount
                if gone:
                    db.execute("UPDATE counters SET value = value + 1 WHERE name = 'done'")
            case RetryAt(at=at):
                if self._dropped_if_superseded(db, stored):
                    return
                history = _extended_history(stored, outcome, decision, now=now)
                db.execute(
                    "UPDATE jobs SET state = 'waiting', due_at = ?, lease_owner = NULL,"
                    " lease_expires_at = NULL, attempts = attempts + 1, suspect = 0,"
                    " transient_failures = ?, not_found_failures = ?, not_found_since_at = ?,"
                    " crashes = ?, rate_limited_deferrals = ?, outage_deferrals = ?,"
                    " last_error_class = ?, last_error = ?, history = ?"
                    " WHERE id = ? AND lease_owner = ?",
                    (at, *_counters(job), error_class, message, history, job.id, owner),
                )
            case DeadLetter(reason=reason):
                history = _extended_history(stored, outcome, decision, now=now)
                gone = db.execute(
                    "DELETE FROM jobs WHERE id = ? AND lease_owner = ?", (job.id, owner)
                ).rowcount
                if gone:
                    # If a newer edit already waits behind this one, this entry is superseded
                    # from the start.
                    db.execute(
                        "INSERT INTO dead_letters (job_id, key, payload, reason, error_class,"
                        " last_error, attempts, history, enqueued_at, dead_lettered_at,"
                        " superseded_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                        "  (SELECT ? FROM jobs WHERE key = ? AND state = 'waiting'))",
                        (
                            job.id,
                            key,
                            stored.payload,
                            reason.value,
                            error_class,
                            message,
                            stored.attempts + 1,
                            history,
                            stored.enqueued_at,
                            now,
                            now,
                            key,
                        ),
                    )
            case _:
                assert_never(decision.action)

    def _load_breaker(self, db: sqlite3.Connection) -> tuple[Breaker, int | None]:
        row = db.execute(
            "SELECT b.*, o.cause, o.started_at, o.probes FROM breaker AS b"
            " LEFT JOIN outages AS o ON o.id = b.outage_id WHERE b.id = 1"
        ).fetchone()
        cached = self._breaker_cache
        if cached is not None and cached[0] == tuple(row):
            return cached[1], row["outage_id"]
        breaker = Breaker(state=_breaker_state(row), throttled_until_at=row["throttled_until_at"])
        self._breaker_cache = (tuple(row), breaker)
        return breaker, row["outage_id"]

    def _save_breaker(
        self,
        db: sqlite3.Connection,
        before: Breaker,
        outage_id: int | None,
        after: Breaker,
        events: Sequence[Event],
    ) -> int | None:
        """Store *after* in place of *before*; returns the id of the outage record under way."""
        if after == before:
            return outage_id
        for event in events:
            if isinstance(event, BreakerClosed) and outage_id is not None:
                db.execute(
                    "UPDATE outages SET ended_at = ?, probes = ?, cause = ? WHERE id = ?",
                    (
                        event.outage.ended_at,
                        event.outage.probes,
                        event.outage.cause.value,
                        outage_id,
                    ),
                )
        if after.outage is None:
            outage_id = None
        elif before.outage is not None and before.outage.started_at == after.outage.started_at:
            db.execute(
                "UPDATE outages SET probes = ?, cause = ? WHERE id = ?",
                (after.outage.probes, after.outage.cause.value, outage_id),
            )
        else:
            outage_id = db.execute(
                "INSERT INTO outages (cause, started_at, probes) VALUES (?, ?, ?)",
                (after.outage.cause.value, after.outage.started_at, after.outage.probes),
            ).lastrowid
        db.execute(
            "UPDATE breaker SET kind = ?, consecutive_failures = ?, cooldown_seconds = ?,"
            " probe_at = ?, throttled_until_at = ?, outage_id = ? WHERE id = 1",
            (after.kind.value, *_state_columns(after.state), after.throttled_until_at, outage_id),
        )
        return outage_id


def _breaker_state(row: sqlite3.Row) -> BreakerState:
    kind = BreakerKind(row["kind"])
    if kind is BreakerKind.CLOSED:
        return Closed(consecutive_failures=row["consecutive_failures"])
    outage = Outage(
        cause=PauseCause(row["cause"]), started_at=row["started_at"], probes=row["probes"]
    )
    if kind is BreakerKind.OPEN:
        return Open(
            outage=outage, cooldown_seconds=row["cooldown_seconds"], probe_at=row["probe_at"]
        )
    return HalfOpen(
        outage=outage,
        cooldown_seconds=row["cooldown_seconds"],
        probe_lease_until_at=row["probe_at"],
    )


def _state_columns(state: BreakerState) -> tuple[int, float, float | None]:
    """consecutive_failures, cooldown_seconds and probe_at, as the breaker row stores them."""
    match state:
        case Closed(consecutive_failures=failures):
            return (failures, 0.0, None)
        case Open(cooldown_seconds=cooldown, probe_at=at):
            return (0, cooldown, at)
        case HalfOpen(cooldown_seconds=cooldown, probe_lease_until_at=at):
            return (0, cooldown, at)
        case _:
            assert_never(state)


def _stored_job(row: sqlite3.Row) -> StoredJob:
    match _job(row):
        case Success(job):
            problem = None
        case Failure(problem):
            # Keep the job's identity so it can be dead-lettered with the reason.
            job = Job(id=row["id"], key=row["key"] or "?", first_enqueued_at=0.0)
    return StoredJob(
        job=job,
        payload=row["payload"],
        attempts=row["attempts"],
        history_text=row["history"] if isinstance(row["history"], str) else "[]",
        enqueued_at=row["enqueued_at"],
        lease_owner=row["lease_owner"],
        row_problem=problem,
    )


def _job(row: sqlite3.Row) -> Result[Job, str]:
    """The core's view of a stored row; a row that breaks the core's invariants is an error."""
    try:
        return Success(
            Job(
                id=row["id"],
                key=row["key"],
                first_enqueued_at=row["enqueued_at"],
                transient_failures=row["transient_failures"],
                not_found_failures=row["not_found_failures"],
                not_found_since_at=row["not_found_since_at"],
                crashes=row["crashes"],
                rate_limited_deferrals=row["rate_limited_deferrals"],
                outage_deferrals=row["outage_deferrals"],
            )
        )
    except (ValueError, TypeError) as exc:
        return Failure(f"stored job row is inconsistent: {exc}")


def parse_history(text: object) -> tuple[dict[str, Any], ...]:
    """A stored attempt history; a damaged one reads as empty rather than failing the job."""
    try:
        entries = json.loads(text) if isinstance(text, str) else []
    except json.JSONDecodeError:
        entries = []
    return tuple(e for e in entries if isinstance(e, dict)) if isinstance(entries, list) else ()


def _counters(job: Job) -> tuple[object, ...]:
    return tuple(getattr(job, name) for name in _JOB_COUNTERS)


def _extended_history(
    stored: StoredJob, outcome: Outcome, decision: Decision, *, now: float
) -> str:
    """The job's history with this attempt added, the oldest entries dropped past the limit."""
    entry = _history_entry(outcome, decision, now=now)
    return json.dumps([*parse_history(stored.history_text), entry][-HISTORY_LIMIT:])


def _history_entry(outcome: Outcome, decision: Decision, *, now: float) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": now}
    match outcome:
        case Succeeded():
            entry["outcome"] = "success"
        case Failed(error_class=error_class, message=message):
            entry["outcome"] = error_class.value
            if message:
                entry["message"] = message
    match decision.action:
        case Done():
            entry["decision"] = "done"
        case RetryAt(at=at, charged=charged):
            entry.update(decision="retry", retry_at=at, charged=charged)
        case DeadLetter(reason=reason):
            entry.update(decision="dead-letter", reason=reason.value)
        case _:
            assert_never(decision.action)
    return entry


def _create_private(path: str) -> None:
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
    for attempt in range(LOCKED_RETRIES):
        try:
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or attempt == LOCKED_RETRIES - 1:
                raise
            time.sleep(min(0.05 * (attempt + 1), 1.0))
    if path != ":memory:" and str(mode).lower() != "wal":
        raise StoreError(f"cannot switch {path} to WAL mode (got {mode})")
    level = synchronous.upper()
    if level not in {"NORMAL", "FULL"}:
        raise StoreError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
    connection.execute(f"PRAGMA synchronous = {level}")
    connection.execute("PRAGMA foreign_keys = ON")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _primary_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (extended codes carry it in their low byte)."""
    return int(getattr(exc, "sqlite_errorcode", -1)) & 0xFF


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return _primary_code(exc) in {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def _explain(exc: sqlite3.DatabaseError) -> str:
    match _primary_code(exc):
        case sqlite3.SQLITE_NOTADB:
            return "the file is not a SQLite database"
        case sqlite3.SQLITE_READONLY | sqlite3.SQLITE_CANTOPEN:
            return "the file (or its folder) is not writable"
        case _:
            return str(exc)
