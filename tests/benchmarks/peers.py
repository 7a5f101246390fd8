"""The peers plexsync is measured against, each doing the same work: queue N jobs, then take
each one off the queue and acknowledge it.

* persist-queue's ``SQLiteAckQueue``: the queue the Stash-to-Plex plugin uses, with its defaults
  (as the plugin runs it).
* huey's ``SqliteStorage``: enqueue, then dequeue (which deletes).
* raw SQLite: the floor for a durable queue in one file, one transaction per operation, with
  the same journal mode (WAL) and ``synchronous`` setting as plexsync.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from typing import Any

JOB: dict[str, Any] = {"path": "/media/films/0000001.mkv", "title": "Title", "genres": ["Drama"]}


def persist_queue(jobs: int) -> float:
    """Jobs per second for put x N, then (get, ack) x N."""
    from persistqueue import SQLiteAckQueue  # noqa: PLC0415 - a benchmark-only dependency

    with tempfile.TemporaryDirectory() as directory:
        queue = SQLiteAckQueue(directory, auto_commit=True)
        started = time.perf_counter()
        for n in range(jobs):
            queue.put({**JOB, "n": n})
        for _ in range(jobs):
            item = queue.get(block=False)
            queue.ack(item)
        elapsed = time.perf_counter() - started
        queue._getter.close()
        return jobs / elapsed


def huey(jobs: int, synchronous: str) -> float:
    """Jobs per second for enqueue x N, then dequeue x N, at *synchronous*."""
    from huey.storage import SqliteStorage  # noqa: PLC0415 - a benchmark-only dependency

    class Storage(SqliteStorage):  # type: ignore[misc]
        def _create_connection(self) -> sqlite3.Connection:
            connection: sqlite3.Connection = super()._create_connection()
            connection.execute(f"PRAGMA synchronous = {synchronous}")
            return connection

    with tempfile.TemporaryDirectory() as directory:
        storage = Storage("bench", filename=os.path.join(directory, "huey.db"))
        data = json.dumps(JOB).encode()
        started = time.perf_counter()
        for _ in range(jobs):
            storage.enqueue(data)
        for _ in range(jobs):
            if storage.dequeue() is None:
                raise AssertionError("huey lost a job")
        elapsed = time.perf_counter() - started
        storage.close()
        return jobs / elapsed


def raw_sqlite(jobs: int, synchronous: str) -> dict[str, float]:
    """Jobs per second for the put phase alone and for put x N then (get, ack) x N, one
    transaction per operation, WAL, at *synchronous*.
    """
    with tempfile.TemporaryDirectory() as directory:
        db = sqlite3.connect(os.path.join(directory, "raw.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        db.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, due REAL)")
        db.execute("CREATE INDEX q_due ON q (due)")
        payload = json.dumps(JOB)
        started = time.perf_counter()
        for n in range(jobs):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO q (payload, due) VALUES (?, ?)", (payload, n))
            db.execute("COMMIT")
        put = time.perf_counter() - started
        for _ in range(jobs):
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id, payload FROM q ORDER BY due LIMIT 1").fetchone()
            json.loads(row[1])
            db.execute("DELETE FROM q WHERE id = ?", (row[0],))
            db.execute("COMMIT")
        whole = time.perf_counter() - started
        db.close()
        return {"put": jobs / put, "whole": jobs / whole}
