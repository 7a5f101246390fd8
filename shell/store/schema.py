"""The schema, and the migrations that bring any older queue file up to it.

Each migration is the text of one schema step and is never edited once released: a file at
version N gets migrations N+1 ... in order, each in one transaction, and ``PRAGMA user_version``
records where it stands. A file from a newer plexsync is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final

from shell.store.database import StoreError, transaction

MIGRATIONS: Final[Sequence[str]] = (
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
    # 2: an outage's cause in plain words; when the breaker last closed.
    """
    ALTER TABLE outages ADD COLUMN detail TEXT NOT NULL DEFAULT '';
    ALTER TABLE breaker ADD COLUMN closed_at REAL;
    """,
    # 3: ids that are never reused (AUTOINCREMENT, seeded past every id a job or dead letter
    # ever had); a lease generation that grows with every claim (fencing); edits that may
    # still land after their request was given up.
    """
    CREATE TABLE jobs_v3 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('waiting', 'running')),
        due_at REAL NOT NULL,
        enqueued_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        lease_owner TEXT,
        lease_expires_at REAL,
        lease_generation INTEGER NOT NULL DEFAULT 0,
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
    INSERT INTO jobs_v3 (id, key, payload, state, due_at, enqueued_at, updated_at, lease_owner,
        lease_expires_at, suspect, attempts, transient_failures, not_found_failures,
        not_found_since_at, crashes, rate_limited_deferrals, outage_deferrals, last_error_class,
        last_error, history)
    SELECT id, key, payload, state, due_at, enqueued_at, updated_at, lease_owner,
        lease_expires_at, suspect, attempts, transient_failures, not_found_failures,
        not_found_since_at, crashes, rate_limited_deferrals, outage_deferrals, last_error_class,
        last_error, history FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v3 RENAME TO jobs;
    CREATE INDEX jobs_due ON jobs (due_at, id) WHERE state = 'waiting';
    CREATE UNIQUE INDEX jobs_one_waiting_per_key ON jobs (key) WHERE state = 'waiting';
    CREATE UNIQUE INDEX jobs_one_running_per_key ON jobs (key) WHERE state = 'running';

    CREATE TABLE dead_letters_v3 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    INSERT INTO dead_letters_v3 SELECT * FROM dead_letters;
    DROP TABLE dead_letters;
    ALTER TABLE dead_letters_v3 RENAME TO dead_letters;
    CREATE INDEX dead_letters_by_time ON dead_letters (dead_lettered_at);
    CREATE INDEX dead_letters_by_reason ON dead_letters (reason, dead_lettered_at);
    CREATE INDEX dead_letters_by_key ON dead_letters (key);

    DELETE FROM sqlite_sequence WHERE name IN ('jobs', 'dead_letters');
    INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs', coalesce(max(id), 0) FROM (
        SELECT max(id) AS id FROM jobs UNION ALL SELECT max(job_id) FROM dead_letters);
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'dead_letters', coalesce(max(id), 0) FROM dead_letters;

    CREATE TABLE late_edits (key TEXT PRIMARY KEY, until_at REAL NOT NULL);
    """,
    # 4: the images uploaded to each Plex item (by content hash); a host's own notes.
    """
    CREATE TABLE uploaded_images (
        server TEXT NOT NULL,
        rating_key INTEGER NOT NULL,
        field TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        uploaded_at REAL NOT NULL,
        PRIMARY KEY (server, rating_key, field)
    );
    CREATE TABLE host_notes (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 5: the different jobs whose edits failed in a row (Plex failing edits as a whole).
    """
    ALTER TABLE breaker ADD COLUMN failing_jobs TEXT NOT NULL DEFAULT '[]';
    """,
    # 6: when each folder's partial scan was last asked of Plex, across runs and workers.
    """
    CREATE TABLE scan_requests (
        folder TEXT PRIMARY KEY,
        requested_at REAL NOT NULL
    );
    """,
)

SCHEMA_VERSION: Final = len(MIGRATIONS)


def migrate(connection: sqlite3.Connection, path: str) -> None:
    """Bring the file up to ``SCHEMA_VERSION``; refuse one written by a newer plexsync."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version}, newer than this plexsync "
            f"understands ({SCHEMA_VERSION}); upgrade plexsync"
        )
    while version < SCHEMA_VERSION:
        with transaction(connection, path) as db:
            # Read again under the write lock: another process may have migrated meanwhile.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                break
            # executescript would commit on its own; run the statements one by one instead.
            for statement in _statements(MIGRATIONS[version]):
                db.execute(statement)
            version += 1
            db.execute(f"PRAGMA user_version = {version}")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
